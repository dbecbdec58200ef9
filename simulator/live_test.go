package simulator

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRunLiveWithConcurrentKnobsAndScrapes is the app's use of the shop:
// Run paces it in one goroutine while the control API changes knobs and the
// collector scrapes over HTTP in others (run it with -race). Virtual time
// must move, can never run ahead of the wall clock at speed 1 (Run only ever
// advances by wall time that has passed), and Run must return nil once its
// context is done. No lower bound on speed is asserted: on a loaded machine
// ticks may be late, and that is not a bug.
func TestRunLiveWithConcurrentKnobsAndScrapes(t *testing.T) {
	s, err := New(DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // the control API: flip the cache a few times
		defer wg.Done()
		for i := 0; i < 20 && ctx.Err() == nil; i++ {
			cfg := s.Config()
			cfg.Cache.Enabled = !cfg.Cache.Enabled
			if err := s.SetConfig(cfg); err != nil {
				t.Errorf("SetConfig during Run: %v", err)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	go func() { // the collector: scrape over loopback
		defer wg.Done()
		for i := 0; i < 10 && ctx.Err() == nil; i++ {
			resp, err := http.Get(srv.URL)
			if err != nil {
				t.Errorf("scrape during Run: %v", err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("scrape during Run: status %d", resp.StatusCode)
			}
		}
	}()

	// Wait (bounded) until half a virtual second has passed: ~75 requests.
	for deadline := time.Now().Add(10 * time.Second); s.Elapsed() < 500*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s of wall time the shop reached only %v of virtual time", s.Elapsed())
		}
		time.Sleep(10 * time.Millisecond)
	}
	wg.Wait()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v when its context was cancelled, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	wall := time.Since(start)
	if v := s.Elapsed(); v > wall {
		t.Errorf("virtual time %v ran ahead of the %v of wall time at speed 1", v, wall)
	}
	if n := sumOf(t, s, "shop_requests_total", "service", "gateway"); n == 0 {
		t.Errorf("after %v of virtual time the gateway had answered no requests", s.Elapsed())
	}
}

// TestLatencyHistogramIsClassicAndNative: the latency histogram carries the
// brief's classic buckets (what the text exposition shows) and is a native
// histogram too (schema set, sparse buckets filled; a protobuf scrape carries
// it). Factor 1.1 means schema 3: 2^(2^-3) ≈ 1.09 is the largest growth
// factor not above 1.1. The OpenMetrics exposition is what a scraper asking
// for it gets.
func TestLatencyHistogramIsClassicAndNative(t *testing.T) {
	s, err := New(DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Advance(5 * time.Second)
	mfs, err := s.m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, mf := range mfs {
		if mf.GetName() != "shop_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			var bounds []float64
			for _, b := range h.GetBucket() {
				bounds = append(bounds, b.GetUpperBound())
			}
			if !slices.Equal(bounds, latencyBuckets) {
				t.Errorf("%v: classic bucket bounds %v, want %v", m.GetLabel(), bounds, latencyBuckets)
			}
			if h.Schema == nil || h.GetSchema() != 3 {
				t.Errorf("%v: native schema %v, want 3 (factor 1.1)", m.GetLabel(), h.Schema)
			}
			if h.GetSampleCount() > 0 && len(h.GetPositiveSpan()) == 0 && h.GetZeroCount() == 0 {
				t.Errorf("%v: %d observations but no native buckets", m.GetLabel(), h.GetSampleCount())
			}
			found++
		}
	}
	if found < 3 {
		t.Fatalf("found %d latency histograms, want one each for gateway, product and db", found)
	}

	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/demo/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text;version=1.0.0")
	s.Handler().ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Errorf("asked for OpenMetrics, got Content-Type %q", ct)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`shop_request_duration_seconds_bucket{route="/api/products/:id",service="gateway",le="0.0025"}`,
		`shop_requests_in_flight{service="db"}`,
		"shop_cache_entries",
		"# EOF",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("OpenMetrics exposition lacks %s", want)
		}
	}
}
