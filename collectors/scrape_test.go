package collectors

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/archscope/archscope/storage"
)

// recorder is an Appender that keeps every batch.
type recorder struct {
	mu      sync.Mutex
	batches [][]storage.Sample
}

func (r *recorder) Append(s []storage.Sample) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.batches = append(r.batches, append([]storage.Sample(nil), s...))
	return nil
}

// last returns the newest batch whose samples carry the given job.
func (r *recorder) last(job string) []storage.Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.batches) - 1; i >= 0; i-- {
		if b := r.batches[i]; len(b) > 0 && b[0].Labels.Get("job") == job {
			return b
		}
	}
	return nil
}

func value(batch []storage.Sample, name string, kv ...string) (float64, bool) {
next:
	for _, s := range batch {
		if s.Labels.Get("__name__") != name {
			continue
		}
		for i := 0; i < len(kv); i += 2 {
			if s.Labels.Get(kv[i]) != kv[i+1] {
				continue next
			}
		}
		return s.V, true
	}
	return 0, false
}

// runManager scrapes targets every 100 ms until the test ends.
func runManager(t *testing.T, targets ...Target) (*Manager, *recorder) {
	t.Helper()
	rec := &recorder{}
	m := NewManager(Options{Appender: rec, Registerer: prometheus.NewRegistry()})
	for i := range targets {
		if targets[i].Interval == 0 {
			targets[i].Interval = 100 * time.Millisecond
		}
		if targets[i].Timeout == 0 {
			targets[i].Timeout = 80 * time.Millisecond
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx, targets) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return m, rec
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestScrapeClientGolangRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orders_total", Help: "h"}, []string{"status", "job"})
	c.WithLabelValues("ok", "inner").Add(42)
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lat_seconds", Help: "h", Buckets: []float64{0.1, 1}})
	h.Observe(0.05)
	h.Observe(0.5)
	reg.MustRegister(c, h)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	defer srv.Close()
	_, rec := runManager(t, Target{Job: "shop", URL: srv.URL + "/metrics", Labels: map[string]string{"env": "test"}})
	waitFor(t, "a scrape", func() bool { return rec.last("shop") != nil })

	b := rec.last("shop")
	inst := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct {
		name string
		kv   []string
		want float64
	}{
		{"orders_total", []string{"status", "ok", "exported_job", "inner", "instance", inst, "env", "test"}, 42},
		{"lat_seconds_bucket", []string{"le", "0.1"}, 1},
		{"lat_seconds_bucket", []string{"le", "1.0"}, 2},
		{"lat_seconds_bucket", []string{"le", "+Inf"}, 2},
		{"lat_seconds_count", nil, 2},
		{"up", []string{"instance", inst}, 1},
	} {
		got, ok := value(b, tc.name, tc.kv...)
		if !ok || got != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.name, tc.kv, got, ok, tc.want)
		}
	}
	n, _ := value(b, "scrape_samples_scraped")
	if int(n) != len(b)-3 {
		t.Errorf("scrape_samples_scraped = %v, but the batch has %d scraped samples", n, len(b)-3)
	}
	for _, s := range b {
		if s.Labels.Get("job") != "shop" || s.T != b[0].T {
			t.Fatalf("sample %v: every sample carries job=shop and the scrape's timestamp %d", s.Labels, b[0].T)
		}
	}
}

func TestBrokenTargetsAreDownAndIsolated(t *testing.T) {
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write([]byte("ok_metric 1\n"))
	}))
	defer healthy.Close()
	status500 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", 500)
	}))
	defer status500.Close()
	malformed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write([]byte("good 1\nthis is { not valid\n"))
	}))
	defer malformed.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		line := []byte("# " + strings.Repeat("x", 1<<20) + "\n")
		for i := 0; i < 70 && r.Context().Err() == nil; i++ {
			w.Write(line)
		}
	}))
	defer huge.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closedURL := "http://" + ln.Addr().String() + "/metrics"
	ln.Close()

	m, rec := runManager(t,
		Target{Job: "healthy", URL: healthy.URL},
		Target{Job: "500", URL: status500.URL},
		Target{Job: "malformed", URL: malformed.URL},
		Target{Job: "slow", URL: slow.URL},
		Target{Job: "huge", URL: huge.URL, Interval: 2 * time.Second, Timeout: 2 * time.Second},
		Target{Job: "closed", URL: closedURL},
	)
	want := map[string]string{
		"500":       "500",
		"malformed": "parse",
		"slow":      "timeout",
		"huge":      "exceeds the limit",
		"closed":    "connection refused",
	}
	waitFor(t, "every target scraped", func() bool {
		for _, h := range m.Targets() {
			if h.Health == "unknown" {
				return false
			}
		}
		return true
	})
	for _, h := range m.Targets() {
		if h.Job == "healthy" {
			if h.Health != "up" {
				t.Errorf("healthy target: %s %q", h.Health, h.LastError)
			}
			continue
		}
		if h.Health != "down" || !strings.Contains(h.LastError, want[h.Job]) {
			t.Errorf("%s: health %s, lastError %q; want down with %q", h.Job, h.Health, h.LastError, want[h.Job])
		}
		if b := rec.last(h.Job); b != nil {
			if up, _ := value(b, "up"); up != 0 || len(b) != 3 {
				t.Errorf("%s: stored up=%v and %d samples, want up=0 and only the 3 synthetic ones", h.Job, up, len(b))
			}
		}
	}
	// The healthy target keeps being scraped meanwhile.
	before := len(rec.batches)
	waitFor(t, "more healthy scrapes", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		n := 0
		for _, b := range rec.batches[before:] {
			if b[0].Labels.Get("job") == "healthy" {
				n++
			}
		}
		return n >= 3
	})
}

func TestTargetValidation(t *testing.T) {
	for _, tc := range []struct {
		t    Target
		want string
	}{
		{Target{Job: "a", URL: "ftp://x/metrics"}, "scheme"},
		{Target{URL: "http://x/metrics"}, "job"},
		{Target{Job: "a", URL: "http://x", Interval: 10 * time.Second, Timeout: 20 * time.Second}, "scrape_timeout 20s exceeds scrape_interval 10s"},
	} {
		if _, err := tc.t.withDefaults(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error with %q", tc.t, err, tc.want)
		}
	}
}
