package app

import (
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

// Metric metadata: the # TYPE, # HELP and # UNIT the targets exposed, kept
// by the scrape loops (collectors.Manager.Metadata) and served in
// Prometheus' shapes. Grafana reads /api/v1/metadata for the help and type
// it shows beside metric names.

// metadataJSON is one distinct metadata of a family, as Prometheus'
// metadata.Metadata marshals.
type metadataJSON struct {
	Type model.MetricType `json:"type"`
	Unit string           `json:"unit"`
	Help string           `json:"help"`
}

// numberParam reads an optional integer parameter that defaults to -1 (no
// limit), with Prometheus' message when it is not a number.
func numberParam(r *http.Request, name string) (int, error) {
	s := r.FormValue(name)
	if s == "" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, errors.New(name + " must be a number")
	}
	return n, nil
}

// handleMetadata is /api/v1/metadata: per metric family, the distinct
// metadata the targets expose, as Prometheus deduplicates it. metric picks
// one family; limit caps the families (the first, by name), limit_per_metric
// the entries of each (the first found, targets in job and URL order).
func (a *App) handleMetadata(w http.ResponseWriter, r *http.Request) {
	limit, err := numberParam(r, "limit")
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	perMetric, err := numberParam(r, "limit_per_metric")
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	byFamily := map[string][]metadataJSON{}
	for _, t := range a.scraper.Metadata(r.FormValue("metric")) {
		for _, md := range t.Metadata {
			m := metadataJSON{Type: md.Type, Unit: md.Unit, Help: md.Help}
			have := byFamily[md.Metric]
			if slices.Contains(have, m) || (perMetric > 0 && len(have) >= perMetric) {
				continue
			}
			byFamily[md.Metric] = append(have, m)
		}
	}
	if limit >= 0 && len(byFamily) > limit {
		names := make([]string, 0, len(byFamily))
		for name := range byFamily {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names[limit:] {
			delete(byFamily, name)
		}
	}
	writeJSONResponse(w, http.StatusOK, apiResponse{Status: "success", Data: byFamily})
}

// targetMetadataJSON is one entry of /api/v1/targets/metadata; metric is
// left out when the request named it.
type targetMetadataJSON struct {
	Target labels.Labels    `json:"target"`
	Metric string           `json:"metric,omitempty"`
	Type   model.MetricType `json:"type"`
	Help   string           `json:"help"`
	Unit   string           `json:"unit"`
}

// handleTargetsMetadata is /api/v1/targets/metadata: each target's metadata
// with its labels. match_target selects targets by their labels, metric one
// family; limit is checked before each target, as Prometheus does, so the
// last target's entries all come even past it.
func (a *App) handleTargetsMetadata(w http.ResponseWriter, r *http.Request) {
	limit, err := numberParam(r, "limit")
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	var matchers []*labels.Matcher
	if s := r.FormValue("match_target"); s != "" {
		if matchers, err = a.parser.ParseMetricSelector(s); err != nil {
			writeError(w, http.StatusBadRequest, "bad_data", `invalid parameter "match_target": `+err.Error())
			return
		}
	}
	metric := r.FormValue("metric")
	out := []targetMetadataJSON{}
	for _, t := range a.scraper.Metadata(metric) {
		if limit >= 0 && len(out) >= limit {
			break
		}
		if !matchLabels(t.Labels, matchers) {
			continue
		}
		for _, md := range t.Metadata {
			e := targetMetadataJSON{Target: t.Labels, Type: md.Type, Help: md.Help, Unit: md.Unit}
			if metric == "" {
				e.Metric = md.Metric
			}
			out = append(out, e)
		}
	}
	writeJSONResponse(w, http.StatusOK, apiResponse{Status: "success", Data: out})
}

func matchLabels(lset labels.Labels, ms []*labels.Matcher) bool {
	for _, m := range ms {
		if !m.Matches(lset.Get(m.Name)) {
			return false
		}
	}
	return true
}
