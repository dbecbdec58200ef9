package collectors

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promvalue "github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	promparser "github.com/prometheus/prometheus/promql/parser"

	"github.com/archscope/archscope/storage"
)

func textServer(t *testing.T, body func() string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write([]byte(body()))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func loopOf(m *Manager, job, url string) *loop {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.loops[targetKey{job, url}]
}

func jobs(m *Manager) string {
	var s []string
	for _, h := range m.Targets() {
		s = append(s, h.Source+":"+h.Job)
	}
	return strings.Join(s, " ")
}

// Targets come and go while the Manager runs; an unchanged target keeps its
// loop (and so its phase and series), a changed one gets a new loop.
func TestSetTargetsAddsRemovesAndKeepsLoops(t *testing.T) {
	srv := textServer(t, func() string { return "x 1\n" })
	m, rec := runManager(t, Options{}, Target{Job: "static", URL: srv.URL + "/s"})
	b := Target{Job: "b", URL: srv.URL + "/b", Interval: 100 * time.Millisecond}
	c := Target{Job: "c", URL: srv.URL + "/c", Interval: 100 * time.Millisecond}
	if err := m.SetTargets("config", []Target{b, c}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b and c scraped", func() bool { return rec.last("b") != nil && rec.last("c") != nil })
	if got := jobs(m); got != "config:b config:c static:static" {
		t.Errorf("targets %q", got)
	}
	lb, lc := loopOf(m, "b", b.URL), loopOf(m, "c", c.URL)

	c.Interval = 200 * time.Millisecond
	if err := m.SetTargets("config", []Target{b, c}); err != nil {
		t.Fatal(err)
	}
	if loopOf(m, "b", b.URL) != lb {
		t.Error("an unchanged target got a new loop")
	}
	if nc := loopOf(m, "c", c.URL); nc == lc || nc.target.Interval != 200*time.Millisecond {
		t.Error("a changed target kept its old loop")
	}
	select {
	case <-lc.done:
	default:
		t.Error("the replaced loop is still running")
	}

	// Another source cannot take a target over, and a refused change changes nothing.
	if err := m.Add("api", b); !errors.Is(err, ErrDuplicateTarget) || !strings.Contains(err.Error(), "already added by config") {
		t.Errorf("Add of a config target = %v, want ErrDuplicateTarget naming config", err)
	}
	if err := m.SetTargets("config", []Target{b, {Job: "bad", URL: "ftp://x"}}); err == nil {
		t.Error("an invalid target was accepted")
	}
	if got := jobs(m); got != "config:b config:c static:static" {
		t.Errorf("after refused changes, targets %q", got)
	}

	if _, err := m.Remove("c", c.URL); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Remove("c", c.URL); !errors.Is(err, ErrTargetNotFound) {
		t.Errorf("second Remove = %v, want ErrTargetNotFound", err)
	}
	if err := m.Add("api", Target{Job: "d", URL: srv.URL + "/d"}); err != nil {
		t.Fatal(err)
	}
	if got := jobs(m); got != "config:b api:d static:static" {
		t.Errorf("after Remove and Add, targets %q", got)
	}
	waitFor(t, "d scraped", func() bool { return rec.last("d") != nil })
}

// SetTargets after Run has returned is refused rather than starting a loop
// nobody waits for.
func TestSetTargetsAfterRunIsRefused(t *testing.T) {
	m := NewManager(Options{Appender: &recorder{}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Run(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := m.SetTargets("x", []Target{{Job: "a", URL: "http://127.0.0.1:1/"}}); !errors.Is(err, ErrStopped) {
		t.Errorf("SetTargets after Run = %v, want ErrStopped", err)
	}
}

func isStale(v float64) bool { return promvalue.IsStaleNaN(v) }

// A series missing from a scrape, every series of a target that goes down,
// and every series of a removed target get Prometheus' staleness marker.
func TestStalenessMarkers(t *testing.T) {
	var phase atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch phase.Load() {
		case 0:
			w.Write([]byte("a 1\nb 2\n"))
		case 1:
			w.Write([]byte("a 1\nc 3\n"))
		default:
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	m, rec := runManager(t, Options{}, Target{Job: "j", URL: srv.URL})
	waitFor(t, "first scrape", func() bool { return rec.last("j") != nil })
	if v, _ := value(rec.last("j"), "scrape_series_added"); v != 2 {
		t.Errorf("first scrape: scrape_series_added = %v, want 2", v)
	}
	phase.Store(1)
	waitFor(t, "b marked stale", func() bool {
		v, ok := value(rec.last("j"), "b")
		return ok && isStale(v)
	})
	batch := rec.last("j")
	if v, _ := value(batch, "scrape_series_added"); v != 1 {
		t.Errorf("scrape with c new: scrape_series_added = %v, want 1", v)
	}
	if v, _ := value(batch, "c"); v != 3 {
		t.Errorf("c = %v, want 3", v)
	}
	waitFor(t, "a steady scrape", func() bool { _, ok := value(rec.last("j"), "b"); return !ok })
	if v, _ := value(rec.last("j"), "scrape_series_added"); v != 0 {
		t.Errorf("steady scrape: scrape_series_added = %v, want 0", v)
	}

	phase.Store(2)
	waitFor(t, "the target down", func() bool { v, _ := value(rec.last("j"), "up"); return v == 0 })
	batch = rec.last("j")
	for _, name := range []string{"a", "c"} {
		if v, ok := value(batch, name); !ok || !isStale(v) {
			t.Errorf("target down: %s = %v (found %v), want a staleness marker", name, v, ok)
		}
	}

	phase.Store(0)
	waitFor(t, "up again", func() bool { v, _ := value(rec.last("j"), "up"); return v == 1 })
	if _, err := m.Remove("j", srv.URL); err != nil {
		t.Fatal(err)
	}
	batch = rec.last("j")
	for _, name := range []string{"a", "b", "up", "scrape_duration_seconds", "scrape_series_added"} {
		if v, ok := value(batch, name); !ok || !isStale(v) {
			t.Errorf("target removed: %s = %v (found %v), want a staleness marker", name, v, ok)
		}
	}
}

// Repeated series in one body: the first is kept, the rest dropped and
// counted, the scrape is still up (as in Prometheus).
func TestDuplicateSeriesKeepTheFirst(t *testing.T) {
	srv := textServer(t, func() string { return "d{x=\"1\"} 1\nd{x=\"1\"} 2\nd{x=\"2\"} 3\n" })
	reg := newTestRegistry()
	_, rec := runManager(t, Options{Registerer: reg}, Target{Job: "dup", URL: srv.URL})
	waitFor(t, "a scrape", func() bool { return rec.last("dup") != nil })
	b := rec.last("dup")
	n := 0
	for _, s := range b {
		if s.Labels.Get("__name__") == "d" {
			n++
		}
	}
	if v, _ := value(b, "d", "x", "1"); v != 1 || n != 2 {
		t.Errorf("d{x=1} = %v with %d d series stored, want the first value 1 and 2 series", v, n)
	}
	if up, _ := value(b, "up"); up != 1 {
		t.Errorf("up = %v, want 1", up)
	}
	if v, _ := value(b, "scrape_samples_post_metric_relabeling"); v != 2 {
		t.Errorf("scrape_samples_post_metric_relabeling = %v, want 2", v)
	}
	if c := counterValue(t, reg, "archscope_scrape_duplicate_samples_total", "dup"); c < 1 {
		t.Errorf("archscope_scrape_duplicate_samples_total = %v, want >= 1", c)
	}
}

// The whole path: a series that disappears from its target stops showing in
// an instant query at once, through real storage and Prometheus' engine.
func TestStaleSeriesLeaveInstantQueries(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var gone atomic.Bool
	srv := textServer(t, func() string {
		if gone.Load() {
			return "kept 1\n"
		}
		return "kept 1\nleaving 2\n"
	})
	m := NewManager(Options{Appender: db})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx, []Target{{Job: "q", URL: srv.URL, Interval: 100 * time.Millisecond}}) }()
	defer func() { cancel(); <-done }()

	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: 10 * time.Second, LookbackDelta: 5 * time.Minute, Parser: promparser.NewParser(promparser.Options{})})
	count := func(q string) int {
		qry, err := engine.NewInstantQuery(context.Background(), db, nil, q, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		defer qry.Close()
		res := qry.Exec(context.Background())
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		v, _ := res.Vector()
		for _, s := range v {
			if math.IsNaN(s.F) {
				t.Errorf("%s returned NaN for %s: a staleness marker leaked as a value", q, s.Metric)
			}
		}
		return len(v)
	}
	waitFor(t, "leaving in storage", func() bool { return count("leaving") == 1 })
	gone.Store(true)
	waitFor(t, "leaving gone from instant queries", func() bool { return count("leaving") == 0 })
	if n := count("kept"); n != 1 {
		t.Errorf("kept: %d series, want 1", n)
	}
	// Within the five-minute lookback, only the marker can have hidden it;
	// range functions skip the marker (count checks for a NaN leaking).
	if n := count("max_over_time(leaving[1m])"); n != 1 {
		t.Errorf("leaving's history: %d series, want 1 (its samples are still stored)", n)
	}
}

func newTestRegistry() *prometheus.Registry { return prometheus.NewPedanticRegistry() }

// Reloading an unchanged config keeps every loop, even with relabel rules
// and HTTP settings, which are parsed afresh each time.
func TestReloadingTheSameConfigKeepsLoops(t *testing.T) {
	yml := []byte(`scrape_configs:
  - job_name: a
    basic_auth: {username: u, password: p}
    static_configs: [{targets: ['127.0.0.1:1', '127.0.0.1:2']}]
    relabel_configs: [{source_labels: [__address__], target_label: host}]
    metric_relabel_configs: [{source_labels: [__name__], regex: 'go_.*', action: drop}]
`)
	m := NewManager(Options{Appender: &recorder{}})
	first, _, err := ParseConfig(yml)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetTargets(SourceConfig, first); err != nil {
		t.Fatal(err)
	}
	l := loopOf(m, "a", "http://127.0.0.1:1/metrics")
	again, _, _ := ParseConfig(yml)
	if err := m.SetTargets(SourceConfig, again); err != nil {
		t.Fatal(err)
	}
	if loopOf(m, "a", "http://127.0.0.1:1/metrics") != l {
		t.Error("the same config, parsed again, replaced the loop")
	}
	changed, _, _ := ParseConfig([]byte(strings.Replace(string(yml), "password: p", "password: q", 1)))
	if err := m.SetTargets(SourceConfig, changed); err != nil {
		t.Fatal(err)
	}
	if loopOf(m, "a", "http://127.0.0.1:1/metrics") == l {
		t.Error("a changed password kept the old loop (and its old client)")
	}
}
