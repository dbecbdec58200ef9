package app

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/archscope/archscope/simulator"
	"github.com/archscope/archscope/storage"
)

// maxBody bounds every request body the API reads.
const maxBody = 1 << 20

func (a *App) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	mux.HandleFunc("GET /api/config", a.handleConfig)

	mux.HandleFunc("GET /api/v1/query", a.handleQuery)
	mux.HandleFunc("POST /api/v1/query", a.handleQuery)
	mux.HandleFunc("GET /api/v1/query_range", a.handleQueryRange)
	mux.HandleFunc("POST /api/v1/query_range", a.handleQueryRange)
	for _, m := range []string{"GET", "POST"} {
		mux.HandleFunc(m+" /api/v1/series", a.handleSeries)
		mux.HandleFunc(m+" /api/v1/labels", a.handleLabels)
		mux.HandleFunc(m+" /api/v1/query_exemplars", a.handleQueryExemplars)
		mux.HandleFunc(m+" /api/v1/format_query", a.handleFormatQuery)
	}
	mux.HandleFunc("GET /api/v1/label/{name}/values", a.handleLabelValues)
	mux.HandleFunc("GET /api/v1/metadata", a.handleMetadata)
	mux.HandleFunc("GET /api/v1/targets/metadata", a.handleTargetsMetadata)
	mux.HandleFunc("GET /api/v1/status/buildinfo", a.handleBuildInfo)
	mux.HandleFunc("GET /api/v1/rules", a.handleRules)
	mux.HandleFunc("GET /api/v1/alerts", a.handleAlerts)
	mux.HandleFunc("GET /api/v1/targets", a.handleTargets)
	mux.Handle("POST /api/v1/targets", a.authorized(http.HandlerFunc(a.handleAddTarget)))
	mux.Handle("DELETE /api/v1/targets", a.authorized(http.HandlerFunc(a.handleDeleteTarget)))
	mux.Handle("POST /-/reload", a.authorized(http.HandlerFunc(a.handleReload)))
	mux.Handle("PUT /-/reload", a.authorized(http.HandlerFunc(a.handleReload)))
	mux.HandleFunc("GET /api/v1/status/runtimeinfo", a.handleRuntimeInfo)
	mux.HandleFunc("GET /api/v1/annotations", a.handleAnnotations)
	mux.Handle("POST /api/v1/annotations", a.authorized(http.HandlerFunc(a.handleAddAnnotation)))

	if a.shop != nil {
		mux.Handle("GET /demo/metrics", a.shop.Handler())
		mux.HandleFunc("GET /api/v1/demo/config", a.handleDemoConfig)
		mux.HandleFunc("GET /api/v1/demo/defaults", a.handleDemoDefaults)
		mux.Handle("PUT /api/v1/demo/config", a.authorized(http.HandlerFunc(a.handlePutDemoConfig)))
	}
	h := a.hub
	h.upgrader.CheckOrigin = checkOrigin(a.logger, a.opts.ExtraOrigins)
	mux.HandleFunc("GET /ws", h.serve)

	if a.opts.Assets != nil {
		mux.Handle("GET /", http.FileServerFS(a.opts.Assets))
	}
	return mux
}

// authorized lets a request through when no token is set, or when it carries
// "Authorization: Bearer <token>"; otherwise it answers 401 with a JSON error
// that says how to get the token in.
func (a *App) authorized(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.hasToken(r) {
			msg := "this change needs archscope's token"
			if r.Header.Get("Authorization") != "" {
				msg = "the token sent is not archscope's"
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="archscope"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", msg+
				": open the page as /?token=<token>, or send the header Authorization: Bearer <token>"+
				" (archscope prints the token when it starts, or takes it from --token); viewers need none")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *App) hasToken(r *http.Request) bool {
	if a.opts.Token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(a.opts.Token)) == 1
}

type configJSON struct {
	Version  string `json:"version"`
	WSURL    string `json:"ws_url"`
	ReadOnly bool   `json:"read_only"`
	Demo     bool   `json:"demo"`
	// Panels is the PromQL behind each live series, so the page can chart
	// longer windows than the websocket's snapshot from /api/v1/query_range.
	Panels map[string]string `json:"panels"`
}

func (a *App) handleConfig(w http.ResponseWriter, r *http.Request) {
	c := configJSON{Version: Version, Demo: a.shop != nil, ReadOnly: !a.hasToken(r), Panels: make(map[string]string, len(livePanels))}
	for _, p := range livePanels {
		c.Panels[p.ID] = p.Query
	}
	if a.opts.AbsoluteWSURL {
		c.WSURL = "ws://" + a.listener.Addr().String() + "/ws"
	}
	writeJSONResponse(w, http.StatusOK, c)
}

func (a *App) handleDemoConfig(w http.ResponseWriter, r *http.Request) {
	writeJSONResponse(w, http.StatusOK, a.shop.Config())
}

// handleDemoDefaults is the shop's starting configuration, with the running
// shop's seed and speed: PUT it back to undo every change (presets start so).
func (a *App) handleDemoDefaults(w http.ResponseWriter, r *http.Request) {
	cur, def := a.shop.Config(), simulator.DefaultConfig()
	def.Seed, def.Speed = cur.Seed, cur.Speed
	writeJSONResponse(w, http.StatusOK, def)
}

// maxPresetName bounds ?preset=, which names the change in its annotation.
const maxPresetName = 80

// handlePutDemoConfig merges a partial JSON config into the current one,
// applies it, and records an annotation per changed knob.
func (a *App) handlePutDemoConfig(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", "read body: "+err.Error())
		return
	}
	preset := r.URL.Query().Get("preset")
	if len(preset) > maxPresetName || strings.ContainsFunc(preset, unicode.IsControl) {
		writeError(w, http.StatusBadRequest, "bad_data", fmt.Sprintf("preset: a name of at most %d printable characters", maxPresetName))
		return
	}
	a.knobMu.Lock()
	defer a.knobMu.Unlock()
	a.noteShopChanges() // the autoscaler's or a schedule's, before this request's
	old := a.shop.Config()
	next := old
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&next); err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", "demo config: "+err.Error())
		return
	}
	if err := a.shop.SetConfig(next); err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", "demo config: "+err.Error())
		return
	}
	now := time.Now()
	if preset != "" {
		a.annotate(storage.Annotation{Time: now.UnixMilli(), Text: "preset: " + preset, Tags: []string{"preset"}})
	}
	for _, text := range knobChanges(old, next) {
		a.annotate(storage.Annotation{Time: now.UnixMilli(), Text: text, Tags: []string{"knob"}})
	}
	a.lastShopCfg = a.shop.Config()
	writeJSONResponse(w, http.StatusOK, a.lastShopCfg)
}

// noteShopChanges annotates the knobs the shop changed by itself since last
// seen (the autoscaler's instance count, a schedule's faults), so they are
// on the charts like a user's. Caller holds knobMu.
func (a *App) noteShopChanges() {
	cur := a.shop.Config()
	now := time.Now()
	for _, text := range knobChanges(a.lastShopCfg, cur) {
		a.annotate(storage.Annotation{Time: now.UnixMilli(), Text: text + " (by the shop)", Tags: []string{"shop"}})
	}
	a.lastShopCfg = cur
}

// watchShop looks for the shop's own changes once a second until ctx is done.
func (a *App) watchShop(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			a.knobMu.Lock()
			a.noteShopChanges()
			a.knobMu.Unlock()
		}
	}
}

// knobChanges describes each knob that differs, one line each, in a stable
// order: "cache: off → on" for a switch (a field named enabled), otherwise
// "retries.max_attempts: 1 → 3" with the knob's JSON path. Every knob the
// shop gains is covered without listing it here.
func knobChanges(old, next simulator.Config) []string {
	before, after := flatten(old), flatten(next)
	// The schedule is a list, not a knob: say how long it is, not its bytes.
	if o, n := len(old.Schedule), len(next.Schedule); before["schedule"] != after["schedule"] {
		before["schedule"], after["schedule"] = fmt.Sprintf("%d changes", o), fmt.Sprintf("%d changes", n)
	}
	keys := make([]string, 0, len(after))
	for k := range after {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []string
	for _, k := range keys {
		from, to := before[k], after[k]
		if from == to {
			continue
		}
		if name, ok := strings.CutSuffix(k, ".enabled"); ok {
			from, to, k = onOffString(from), onOffString(to), name
		}
		out = append(out, fmt.Sprintf("%s: %s → %s", k, from, to))
	}
	return out
}

// flatten renders a config as dotted JSON paths → values.
func flatten(c simulator.Config) map[string]string {
	b, _ := json.Marshal(c) // a struct of numbers and bools always marshals
	var tree map[string]any
	_ = json.Unmarshal(b, &tree)
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if m, ok := v.(map[string]any); ok {
			for k, child := range m {
				if prefix != "" {
					k = prefix + "." + k
				}
				walk(k, child)
			}
			return
		}
		switch v.(type) {
		case nil:
			out[prefix] = "none"
		case []any:
			b, _ := json.Marshal(v) // a list of partitions or stages: show it as written
			out[prefix] = string(b)
		default:
			out[prefix] = fmt.Sprint(v)
		}
	}
	walk("", tree)
	return out
}

func onOffString(b string) string { return onOff(b == "true") }

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// annotate stores an annotation and pushes it to every browser. A storage
// failure is logged, not fatal: the knob change itself already happened.
func (a *App) annotate(an storage.Annotation) {
	if err := a.db.AddAnnotation(an); err != nil {
		a.logger.Error("store annotation", "err", err)
	}
	a.hub.broadcast(0, annotationMsg{Type: "annotation", Annotation: annotationJSON{
		Time: float64(an.Time) / 1000, Text: an.Text, Tags: an.Tags,
	}})
}

func (a *App) handleAnnotations(w http.ResponseWriter, r *http.Request) {
	end := time.Now()
	start := end.Add(-time.Hour)
	var err error
	if s := r.FormValue("start"); s != "" {
		if start, err = parseTime(s); err != nil {
			writeError(w, http.StatusBadRequest, "bad_data", "start: "+err.Error())
			return
		}
	}
	if s := r.FormValue("end"); s != "" {
		if end, err = parseTime(s); err != nil {
			writeError(w, http.StatusBadRequest, "bad_data", "end: "+err.Error())
			return
		}
	}
	anns, err := a.db.Annotations(start.UnixMilli(), end.UnixMilli())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	out := make([]annotationJSON, 0, len(anns))
	for _, an := range anns {
		out = append(out, annotationJSON{Time: float64(an.Time) / 1000, Text: an.Text, Tags: an.Tags})
	}
	writeJSONResponse(w, http.StatusOK, apiResponse{Status: "success", Data: out})
}

func (a *App) handleAddAnnotation(w http.ResponseWriter, r *http.Request) {
	// JSON only: a form post from another site (no preflight) is refused.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "bad_data", "annotation: send JSON with Content-Type: application/json")
		return
	}
	var in annotationJSON
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", "annotation: "+err.Error())
		return
	}
	if strings.TrimSpace(in.Text) == "" {
		writeError(w, http.StatusBadRequest, "bad_data", "annotation: text is empty")
		return
	}
	t := time.Now()
	if in.Time != 0 {
		t = time.UnixMilli(int64(in.Time * 1000))
	}
	an := storage.Annotation{Time: t.UnixMilli(), Text: in.Text, Tags: append([]string{"user"}, in.Tags...)}
	a.annotate(an)
	writeJSONResponse(w, http.StatusOK, apiResponse{Status: "success", Data: annotationJSON{
		Time: float64(an.Time) / 1000, Text: an.Text, Tags: an.Tags,
	}})
}

// apiResponse is Prometheus' HTTP API envelope.
type apiResponse struct {
	Status    string   `json:"status"`
	Data      any      `json:"data,omitempty"`
	ErrorType string   `json:"errorType,omitempty"`
	Error     string   `json:"error,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
	Infos     []string `json:"infos,omitempty"`
}

func writeError(w http.ResponseWriter, code int, typ, msg string) {
	writeJSONResponse(w, code, apiResponse{Status: "error", ErrorType: typ, Error: msg})
}

func writeJSONResponse(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil && !errors.Is(err, http.ErrHandlerTimeout) {
		return // the client went away; nothing left to tell it
	}
}

// assetsHaveIndex reports whether the embedded frontend was built.
func assetsHaveIndex(fsys fs.FS) bool {
	_, err := fs.Stat(fsys, "index.html")
	return err == nil
}
