package collectors

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
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

// last returns the newest batch of the target with the given job.
func (r *recorder) last(job string) []storage.Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.batches) - 1; i >= 0; i-- {
		if b := r.batches[i]; len(b) > 0 && b[len(b)-1].Labels.Get("job") == job { // the scrape's own series come last
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

// runManager scrapes targets every 100 ms until the test ends. opts.Appender,
// when set, is a *recorder; it is returned.
func runManager(t *testing.T, opts Options, targets ...Target) (*Manager, *recorder) {
	t.Helper()
	rec, _ := opts.Appender.(*recorder)
	if rec == nil {
		rec = &recorder{}
		opts.Appender = rec
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewPedanticRegistry()
	}
	m := NewManager(opts)
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

// counterValue reads a counter with the given job label from reg, as
// archscope's /metrics would show it; 0 when absent.
func counterValue(t *testing.T, reg prometheus.Gatherer, name, job string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "job" && lp.GetValue() == job {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
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
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "in_flight", Help: "h"})
	g.Set(7)
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lat_seconds", Help: "h", Buckets: []float64{0.1, 1}})
	h.Observe(0.05)
	h.Observe(0.5)
	reg.MustRegister(c, g, h)
	var mu sync.Mutex
	var accept, contentType string
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.ServeHTTP(w, r)
		mu.Lock()
		accept, contentType = r.Header.Get("Accept"), w.Header().Get("Content-Type")
		mu.Unlock()
	}))
	defer srv.Close()

	// OnScrape must see the scrape already stored: the app queries storage in it.
	rec := &recorder{}
	stored := make(chan bool, 100)
	opts := Options{Appender: rec, OnScrape: func(h TargetHealth) {
		b := rec.last("shop")
		select {
		case stored <- b != nil && b[0].T == h.LastScrape.UnixMilli():
		default:
		}
	}}
	runManager(t, opts, Target{Job: "shop", URL: srv.URL + "/metrics", Labels: map[string]string{"env": "test"}})
	select {
	case ok := <-stored:
		if !ok {
			t.Error("OnScrape ran before the scrape's batch was appended, or with another timestamp")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no scrape within 5 s")
	}

	b := rec.last("shop")
	inst := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct {
		name string
		kv   []string
		want float64
	}{
		{"orders_total", []string{"status", "ok", "exported_job", "inner", "instance", inst, "env", "test"}, 42},
		{"in_flight", []string{"job", "shop", "instance", inst}, 7},
		{"lat_seconds_bucket", []string{"le", "0.1"}, 1},
		{"lat_seconds_bucket", []string{"le", "1.0"}, 2},
		{"lat_seconds_bucket", []string{"le", "+Inf"}, 2},
		{"lat_seconds_sum", nil, 0.55},
		{"lat_seconds_count", nil, 2},
		{"up", []string{"job", "shop", "instance", inst, "env", "test"}, 1},
	} {
		got, ok := value(b, tc.name, tc.kv...)
		if !ok || got != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.name, tc.kv, got, ok, tc.want)
		}
	}
	// 1 counter + 1 gauge + 3 buckets, sum and count = 7, then up, duration,
	// samples scraped, samples kept after metric relabelling and series added.
	if n, _ := value(b, "scrape_samples_scraped"); n != 7 || len(b) != 12 {
		t.Errorf("scrape_samples_scraped = %v in a batch of %d; want 7 scraped and 12 stored", n, len(b))
	}
	if n, _ := value(b, "scrape_samples_post_metric_relabeling"); n != 7 {
		t.Errorf("scrape_samples_post_metric_relabeling = %v with no relabelling, want 7", n)
	}
	if d, ok := value(b, "scrape_duration_seconds"); !ok || d <= 0 || d > 1 {
		t.Errorf("scrape_duration_seconds = %v (found %v), want a small positive number", d, ok)
	}
	for _, s := range b {
		if s.Labels.Get("job") != "shop" || s.T != b[0].T {
			t.Fatalf("sample %v: every sample carries job=shop and the scrape's timestamp %d", s.Labels, b[0].T)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if accept != acceptFor(DefaultProtocols) || !strings.HasPrefix(contentType, "application/openmetrics-text") {
		t.Errorf("sent Accept %q and got Content-Type %q; want Prometheus' Accept and OpenMetrics back", accept, contentType)
	}
}

// A gzipped OpenMetrics body (an exemplar only OpenMetrics allows) is decoded
// and parsed by the parser its Content-Type names.
func TestScrapeGzipOpenMetrics(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			http.Error(w, "gzip not offered", http.StatusNotAcceptable)
			return
		}
		w.Header().Set("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		zw.Write([]byte("# TYPE o counter\no_total 5 # {trace_id=\"a\"} 1\n# EOF\n"))
		zw.Close()
	}))
	defer srv.Close()
	m, rec := runManager(t, Options{}, Target{Job: "gz", URL: srv.URL})
	waitFor(t, "a scrape", func() bool { return rec.last("gz") != nil })
	if v, ok := value(rec.last("gz"), "o_total"); !ok || v != 5 {
		t.Errorf("o_total = %v (found %v), want 5; health %+v", v, ok, m.Targets())
	}
}

func TestBrokenTargetsAreDownAndIsolated(t *testing.T) {
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write([]byte("ok_metric 1\n"))
	}))
	defer healthy.Close()
	status500 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
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
		for i := 0; i < 70 && r.Context().Err() == nil; i++ { // 70 MiB > the 64 MiB cap
			w.Write(line)
		}
	}))
	defer huge.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String() + "/metrics"
	ln.Close()

	reg := prometheus.NewPedanticRegistry()
	m, rec := runManager(t, Options{Registerer: reg},
		Target{Job: "healthy", URL: healthy.URL},
		Target{Job: "500", URL: status500.URL},
		Target{Job: "malformed", URL: malformed.URL},
		Target{Job: "slow", URL: slow.URL},
		Target{Job: "huge", URL: huge.URL, Interval: 2 * time.Second, Timeout: 2 * time.Second},
		Target{Job: "closed", URL: closedURL},
	)
	want := map[string]string{
		"500":       "server returned HTTP status 500",
		"malformed": "parse",
		"slow":      "timeout after 80ms",
		"huge":      "body_size_limit exceeded: the body is larger than 67108864 bytes",
		"closed":    "connection refused",
	}
	waitFor(t, "every target scraped", func() bool {
		for _, h := range m.Targets() {
			if h.Health == HealthUnknown {
				return false
			}
		}
		return true
	})
	for _, h := range m.Targets() {
		if h.Job == "healthy" {
			if h.Health != HealthUp || h.LastError != "" {
				t.Errorf("healthy target: %s %q", h.Health, h.LastError)
			}
			continue
		}
		if h.Health != HealthDown || !strings.Contains(h.LastError, want[h.Job]) || !strings.Contains(h.LastError, h.ScrapeURL) {
			t.Errorf("%s: health %s, lastError %q; want down with %q and the URL", h.Job, h.Health, h.LastError, want[h.Job])
		}
		b := rec.last(h.Job)
		if up, ok := value(b, "up"); !ok || up != 0 || len(b) != 5 {
			t.Errorf("%s: stored up=%v (found %v) and %d samples, want up=0 and only the 5 synthetic ones", h.Job, up, ok, len(b))
		}
		if n, ok := value(b, "scrape_samples_scraped"); !ok || n != 0 {
			t.Errorf("%s: scrape_samples_scraped = %v (found %v), want 0", h.Job, n, ok)
		}
		if f := counterValue(t, reg, "archscope_scrape_failures_total", h.Job); f < 1 {
			t.Errorf("%s: archscope_scrape_failures_total = %v, want >= 1", h.Job, f)
		}
	}
	if f := counterValue(t, reg, "archscope_scrape_failures_total", "healthy"); f != 0 {
		t.Errorf("healthy: archscope_scrape_failures_total = %v, want 0", f)
	}
	// The healthy target keeps being scraped meanwhile.
	rec.mu.Lock()
	before := len(rec.batches)
	rec.mu.Unlock()
	waitFor(t, "more healthy scrapes", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		n := 0
		for _, b := range rec.batches[before:] {
			if v, _ := value(b, "up"); v == 1 && b[0].Labels.Get("job") == "healthy" {
				n++
			}
		}
		return n >= 3
	})
}

func TestTargetDefaultsAndValidation(t *testing.T) {
	for _, tc := range []struct {
		name        string
		t           Target
		iv, timeout time.Duration
		wantErr     string
	}{
		{name: "zero", t: Target{Job: "a", URL: "http://h:1/m"}, iv: time.Second, timeout: 900 * time.Millisecond},
		{name: "interval only", t: Target{Job: "a", URL: "http://h:1/m", Interval: 10 * time.Second}, iv: 10 * time.Second, timeout: 9 * time.Second},
		{name: "timeout equal to interval", t: Target{Job: "a", URL: "https://h/m", Interval: time.Second, Timeout: time.Second}, iv: time.Second, timeout: time.Second},
		{name: "scheme", t: Target{Job: "a", URL: "ftp://x/metrics"}, wantErr: "scheme must be http or https"},
		{name: "no host", t: Target{Job: "a", URL: "http:///metrics"}, wantErr: "has no host"},
		{name: "no job", t: Target{URL: "http://x/metrics"}, wantErr: "job is empty"},
		{name: "timeout over interval", t: Target{Job: "a", URL: "http://x", Interval: 10 * time.Second, Timeout: 20 * time.Second}, wantErr: "scrape_timeout 20s exceeds scrape_interval 10s"},
		{name: "default interval, long timeout", t: Target{Job: "a", URL: "http://x", Timeout: 2 * time.Second}, wantErr: "scrape_timeout 2s exceeds scrape_interval 1s"},
		{name: "negative", t: Target{Job: "a", URL: "http://x", Interval: -time.Second}, wantErr: "must not be negative"},
		{name: "reserved label", t: Target{Job: "a", URL: "http://x", Labels: map[string]string{"instance": "y"}}, wantErr: `extra label "instance"`},
		{name: "empty label name", t: Target{Job: "a", URL: "http://x", Labels: map[string]string{"": "y"}}, wantErr: "not a valid label name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.t.withDefaults()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got.Interval != tc.iv || got.Timeout != tc.timeout {
				t.Errorf("= interval %v timeout %v err %v, want %v %v", got.Interval, got.Timeout, err, tc.iv, tc.timeout)
			}
		})
	}
}

// Run refuses bad targets at once, before scraping anything.
func TestRunRejectsBadTargets(t *testing.T) {
	rec := &recorder{}
	m := NewManager(Options{Appender: rec})
	for _, tc := range []struct {
		targets []Target
		want    error
		msg     string
	}{
		{[]Target{{Job: "a", URL: "http://127.0.0.1:1/m"}, {Job: "a", URL: "http://127.0.0.1:1/m"}}, ErrDuplicateTarget, "duplicate target"},
		{[]Target{{Job: "a", URL: "http://127.0.0.1:1/m"}, {Job: "b", URL: "gopher://x"}}, nil, "scheme"},
	} {
		err := m.Run(context.Background(), tc.targets) // would block forever if accepted
		if err == nil || !strings.Contains(err.Error(), tc.msg) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("Run(%v) = %v, want an error with %q", tc.targets, err, tc.msg)
		}
	}
	if len(rec.batches) != 0 || len(m.Targets()) != 0 {
		t.Errorf("a refused Run stored %d batches and shows %d targets", len(rec.batches), len(m.Targets()))
	}
}

// Run returns promptly when ctx is cancelled, even in the middle of a slow
// scrape, and leaves no goroutine behind (loops, HTTP connections).
func TestRunStopsOnCancel(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("x 1\n"))
	}))
	baseline := runtime.NumGoroutine()

	rec := &recorder{}
	m := NewManager(Options{Appender: rec, Registerer: prometheus.NewPedanticRegistry()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- m.Run(ctx, []Target{
			{Job: "slow", URL: slow.URL, Interval: 5 * time.Second},
			{Job: "fast", URL: fast.URL, Interval: 50 * time.Millisecond},
		})
	}()
	waitFor(t, "fast scrapes", func() bool { return rec.last("fast") != nil })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after a cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run still running 5 s after cancel")
	}
	rec.mu.Lock()
	n := len(rec.batches)
	rec.mu.Unlock()
	time.Sleep(150 * time.Millisecond)
	rec.mu.Lock()
	if len(rec.batches) != n {
		t.Errorf("%d batches appended after Run returned", len(rec.batches)-n)
	}
	rec.mu.Unlock()
	close(release)
	slow.Close()
	fast.Close()
	// Idle server-side goroutines wind down asynchronously; give them a moment.
	waitFor(t, "goroutines back to the baseline", func() bool { return runtime.NumGoroutine() <= baseline })
}

// blockingAppender holds its first Append until released.
type blockingAppender struct {
	once             sync.Once
	entered, release chan struct{}
}

func (b *blockingAppender) Append([]storage.Sample) error {
	b.once.Do(func() {
		close(b.entered)
		<-b.release
	})
	return nil
}

// Run does not return while a loop is still storing a scrape: its lifetime
// covers every loop's.
func TestRunWaitsForLoopsInFlight(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("x 1\n")) }))
	defer srv.Close()
	app := &blockingAppender{entered: make(chan struct{}), release: make(chan struct{})}
	m := NewManager(Options{Appender: app})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, []Target{{Job: "a", URL: srv.URL, Interval: 50 * time.Millisecond}}) }()
	select {
	case <-app.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("no Append within 5 s")
	}
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned while a loop was still inside Append")
	case <-time.After(100 * time.Millisecond):
	}
	close(app.release)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the Append finished")
	}
}

// With no targets Run still lives until ctx is done, like any Run(ctx).
func TestRunWithoutTargetsWaitsForCancel(t *testing.T) {
	m := NewManager(Options{Appender: &recorder{}})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := m.Run(ctx, nil); err != nil || ctx.Err() == nil {
		t.Errorf("Run = %v with ctx.Err() = %v; want nil once ctx is done", err, ctx.Err())
	}
}

func TestOffsetSpreadsTargetsWithinTheInterval(t *testing.T) {
	now := time.Unix(1_700_000_000, 123_456_789)
	slots := map[time.Duration]bool{}
	for i := range 20 {
		tg, err := Target{Job: "j", URL: fmt.Sprintf("http://h:%d/metrics", 9000+i)}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		l := newLoop(tg, nil, nil, slog.New(slog.DiscardHandler), newMetrics(nil), nil)
		off := l.offset(now)
		if off < 0 || off >= tg.Interval {
			t.Fatalf("%s: offset %v outside [0, %v)", tg.URL, off, tg.Interval)
		}
		// The slot is a point in the interval: the wall-clock phase of the
		// first scrape is the same whenever the loop starts.
		later := now.Add(3*time.Second + 250*time.Millisecond)
		if a, b := now.Add(off).UnixNano()%int64(tg.Interval), later.Add(l.offset(later)).UnixNano()%int64(tg.Interval); a != b {
			t.Errorf("%s: phase %v then %v; want the same slot", tg.URL, time.Duration(a), time.Duration(b))
		}
		slots[off/(100*time.Millisecond)] = true
	}
	if len(slots) < 5 {
		t.Errorf("20 targets fell into only %d of 10 tenths of the interval; want them spread", len(slots))
	}
}

func TestAlignTimestamp(t *testing.T) {
	for _, tc := range []struct{ now, last, interval, want int64 }{
		{1000, 0, 1000, 1000},    // the first scrape: as it started
		{2001, 1000, 1000, 2000}, // a millisecond late: the slot
		{1998, 1000, 1000, 2000}, // two early: the slot
		{2003, 1000, 1000, 2003}, // three late: as it started
		{2500, 1000, 1000, 2500}, // far off (a stall): as it started
	} {
		if got := alignTimestamp(tc.now, tc.last, tc.interval); got != tc.want {
			t.Errorf("alignTimestamp(%d, %d, %d) = %d, want %d", tc.now, tc.last, tc.interval, got, tc.want)
		}
	}
}
