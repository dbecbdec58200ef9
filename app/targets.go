package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	scrape "github.com/archscope/archscope/collectors"
)

// Sources of targets, as /api/v1/targets reports them.
const (
	sourceDemo   = "demo"              // the built-in shop; deleting it needs force=true
	sourceConfig = scrape.SourceConfig // --config and its file_sd files; changed by editing them
	sourceAPI    = "api"               // POST /api/v1/targets
)

// targetRequest is POST /api/v1/targets' body.
type targetRequest struct {
	Job      string            `json:"job"`
	URL      string            `json:"url"`
	Labels   map[string]string `json:"labels"`
	Interval string            `json:"interval"` // Prometheus duration, e.g. "15s"; default 1s
	Timeout  string            `json:"timeout"`  // default 0.9 × interval
}

// target checks the request field by field, so the 400 names the field.
func (r targetRequest) target() (scrape.Target, error) {
	t := scrape.Target{Job: strings.TrimSpace(r.Job), URL: strings.TrimSpace(r.URL), Labels: r.Labels}
	if t.Job == "" {
		return t, errors.New("job: required, e.g. \"job\": \"api-server\"")
	}
	if t.URL == "" {
		return t, errors.New("url: required, the full scrape URL, e.g. \"http://10.0.0.5:9100/metrics\"")
	}
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return t, fmt.Errorf("url: %q is not an http(s) URL with a host:port", t.URL)
	}
	for name, d := range map[string]struct {
		in  string
		out *time.Duration
	}{"interval": {r.Interval, &t.Interval}, "timeout": {r.Timeout, &t.Timeout}} {
		if d.in == "" {
			continue
		}
		v, err := model.ParseDuration(d.in)
		if err != nil || v <= 0 {
			return t, fmt.Errorf("%s: %q is not a positive duration such as \"15s\"", name, d.in)
		}
		*d.out = time.Duration(v)
	}
	for name := range t.Labels {
		if name == model.JobLabel || name == model.InstanceLabel || strings.HasPrefix(name, "__") {
			return t, fmt.Errorf("labels: %q is set by the scraper; choose another name", name)
		}
		if !model.LabelName(name).IsValid() {
			return t, fmt.Errorf("labels: %q is not a valid label name", name)
		}
	}
	return t, nil
}

// handleAddTarget scrapes one more target from now on, until it is deleted
// or archscope restarts.
func (a *App) handleAddTarget(w http.ResponseWriter, r *http.Request) {
	var in targetRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", "target: "+err.Error())
		return
	}
	t, err := in.target()
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", "target: "+err.Error())
		return
	}
	if err := a.scraper.Add(sourceAPI, t); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, scrape.ErrDuplicateTarget) {
			code = http.StatusConflict
		}
		writeError(w, code, "bad_data", err.Error())
		return
	}
	a.logger.Info("target added", "job", t.Job, "url", t.URL)
	for _, h := range a.scraper.Targets() {
		if h.Job == t.Job && h.ScrapeURL == t.URL {
			writeJSONResponse(w, http.StatusOK, apiResponse{Status: "success", Data: targetJSONOf(h)})
			return
		}
	}
	writeJSONResponse(w, http.StatusOK, apiResponse{Status: "success"})
}

// handleDeleteTarget stops scraping one target, named by scrapeUrl (and job
// when the URL is scraped by several jobs) or by job and instance. Targets
// from the config file are changed there; the demo needs force=true.
func (a *App) handleDeleteTarget(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	job, inst, u := q.Get("job"), q.Get("instance"), q.Get("scrapeUrl")
	if u == "" && (job == "" || inst == "") {
		writeError(w, http.StatusBadRequest, "bad_data", "name the target with scrapeUrl=<url> (and job=<job> if several jobs scrape it) or with job=<job>&instance=<instance>")
		return
	}
	var found []scrape.TargetHealth
	for _, h := range a.scraper.Targets() {
		if (u == "" || h.ScrapeURL == u) && (job == "" || h.Job == job) && (inst == "" || h.Instance == inst) {
			found = append(found, h)
		}
	}
	switch {
	case len(found) == 0:
		writeError(w, http.StatusNotFound, "not_found", "no target matches "+r.URL.RawQuery)
		return
	case len(found) > 1:
		writeError(w, http.StatusBadRequest, "bad_data", fmt.Sprintf("%d targets match %s: add job= to say which", len(found), r.URL.RawQuery))
		return
	}
	h := found[0]
	switch h.Source {
	case sourceAPI:
	case sourceDemo:
		if q.Get("force") != "true" {
			writeError(w, http.StatusConflict, "bad_data", "this is the built-in demo shop's target: add force=true to stop scraping it (it comes back when archscope restarts)")
			return
		}
	default:
		writeError(w, http.StatusConflict, "bad_data", fmt.Sprintf("target %s %s comes from the config file: remove it there and reload (POST /-/reload or SIGHUP)", h.Job, h.ScrapeURL))
		return
	}
	if _, err := a.scraper.Remove(h.Job, h.ScrapeURL); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, scrape.ErrTargetNotFound) {
			code = http.StatusNotFound
		}
		writeError(w, code, "bad_data", err.Error())
		return
	}
	a.logger.Info("target deleted", "job", h.Job, "url", h.ScrapeURL, "source", h.Source)
	writeJSONResponse(w, http.StatusOK, apiResponse{Status: "success", Data: targetJSONOf(h)})
}

type targetJSON struct {
	DiscoveredLabels   map[string]string `json:"discoveredLabels"`
	Labels             map[string]string `json:"labels"`
	ScrapePool         string            `json:"scrapePool"`
	ScrapeURL          string            `json:"scrapeUrl"`
	GlobalURL          string            `json:"globalUrl"`
	LastError          string            `json:"lastError"`
	LastScrape         time.Time         `json:"lastScrape"`
	LastScrapeDuration float64           `json:"lastScrapeDuration"`
	Health             string            `json:"health"`
	ScrapeInterval     string            `json:"scrapeInterval"`
	ScrapeTimeout      string            `json:"scrapeTimeout"`
	// Source is archscope's: demo, config, api or static; only api targets
	// (and the demo, with force=true) can be deleted through the API.
	Source string `json:"source"`
}

// droppedTargetJSON is a target relabel_configs dropped, as Prometheus lists it.
type droppedTargetJSON struct {
	DiscoveredLabels map[string]string `json:"discoveredLabels"`
	ScrapePool       string            `json:"scrapePool"`
}

func targetJSONOf(t scrape.TargetHealth) targetJSON {
	return targetJSON{
		DiscoveredLabels:   map[string]string{},
		Labels:             t.Labels,
		ScrapePool:         t.Job,
		ScrapeURL:          t.ScrapeURL,
		GlobalURL:          t.ScrapeURL,
		LastError:          t.LastError,
		LastScrape:         t.LastScrape,
		LastScrapeDuration: t.LastScrapeDuration.Seconds(),
		Health:             t.Health,
		ScrapeInterval:     model.Duration(t.Interval).String(),
		ScrapeTimeout:      model.Duration(t.Timeout).String(),
		Source:             t.Source,
	}
}

func (a *App) handleTargets(w http.ResponseWriter, r *http.Request) {
	active := []targetJSON{}
	for _, t := range a.scraper.Targets() {
		active = append(active, targetJSONOf(t))
	}
	dropped := []droppedTargetJSON{}
	if a.reloader != nil {
		for _, d := range a.reloader.Dropped() {
			dropped = append(dropped, droppedTargetJSON{DiscoveredLabels: d.DiscoveredLabels, ScrapePool: d.Job})
		}
	}
	writeJSONResponse(w, http.StatusOK, apiResponse{Status: "success", Data: map[string]any{
		"activeTargets": active, "droppedTargets": dropped,
	}})
}

// handleReload re-reads the --config file, as Prometheus' POST /-/reload: a
// bad file keeps the previous config running and answers 500 with why.
func (a *App) handleReload(w http.ResponseWriter, r *http.Request) {
	if a.reloader == nil {
		writeError(w, http.StatusBadRequest, "bad_data", "archscope was started without --config: there is no config file to reload")
		return
	}
	if err := a.ReloadConfig(); err != nil {
		writeError(w, http.StatusInternalServerError, "bad_config", "failed to reload config, the previous one stays in force: "+err.Error())
		return
	}
	writeJSONResponse(w, http.StatusOK, apiResponse{Status: "success", Data: a.runtimeInfo()})
}

// runtimeInfoJSON is the part of Prometheus' /api/v1/status/runtimeinfo
// archscope has, plus the last reload's error and warnings.
type runtimeInfoJSON struct {
	ReloadConfigSuccess bool      `json:"reloadConfigSuccess"`
	LastConfigTime      time.Time `json:"lastConfigTime"`
	ConfigFile          string    `json:"configFile"`
	LastConfigError     string    `json:"lastConfigError"`
	ConfigWarnings      []string  `json:"configWarnings"`
	FileSDError         string    `json:"fileSDError"`
}

func (a *App) runtimeInfo() runtimeInfoJSON {
	if a.reloader == nil {
		return runtimeInfoJSON{ReloadConfigSuccess: true, ConfigWarnings: []string{}}
	}
	s := a.reloader.Status()
	return runtimeInfoJSON{
		ReloadConfigSuccess: s.Success, LastConfigTime: s.LastSuccess, ConfigFile: s.File,
		LastConfigError: s.LastError, ConfigWarnings: append([]string{}, s.Warnings...), FileSDError: s.FileSDError,
	}
}

func (a *App) handleRuntimeInfo(w http.ResponseWriter, r *http.Request) {
	writeJSONResponse(w, http.StatusOK, apiResponse{Status: "success", Data: a.runtimeInfo()})
}
