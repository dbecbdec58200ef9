package simulator

import (
	"math"
	"testing"
	"time"
)

// TestServerlessColdStarts: with Poisson arrivals at λ and an idle timeout
// T, a request finds its instance reclaimed when the gap before it exceeds
// T, which happens with probability e^(−λT): at λ = 0.05/s and T = 10 s,
// 0.61 of requests pay the 500 ms cold start. At 5 req/s, e^(−50): none but
// the few that find the one warm instance busy. Tolerance 0.05 on 1000
// requests (binomial σ ≈ 0.015).
func TestServerlessColdStarts(t *testing.T) {
	run := func(rate float64) (coldPerReq, mean float64) {
		cfg := browseConfig()
		cfg.ArrivalRate = rate
		cfg.Serverless = Serverless{Enabled: true, Concurrency: 1, ColdStartMs: 500, IdleTimeoutMs: 10_000, MaxInstances: 100}
		s, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Advance(time.Duration(1000/rate) * time.Second)
		n, sum := metric(t, s, "shop_request_duration_seconds", "service", "gateway")
		cold := sumOf(t, s, "shop_cold_starts_total")
		return cold / n, sum / n
	}
	sparseCold, sparseMean := run(0.05)
	busyCold, busyMean := run(5)
	t.Logf("one request per 20 s: %.2f cold starts per request, mean latency %.0f ms", sparseCold, sparseMean*1000)
	t.Logf("5 requests/s:         %.3f cold starts per request, mean latency %.0f ms", busyCold, busyMean*1000)
	if want := math.Exp(-0.05 * 10); math.Abs(sparseCold-want) > 0.05 {
		t.Errorf("sparse requests: %.3f cold starts per request, want e^(−λT) = %.3f", sparseCold, want)
	}
	if busyCold > 0.02 {
		t.Errorf("steady requests: %.3f cold starts per request, want almost none", busyCold)
	}
	// The sparse mean is the busy one plus (most of) a cold start.
	if d := sparseMean - busyMean; math.Abs(d-0.5*sparseCold) > 0.05 {
		t.Errorf("sparse requests took %.0f ms longer, want about the 500 ms cold start", d*1000)
	}
}

// TestServerlessScalesOutAndThrottles: at 150 req/s of ~45 ms requests about
// 7 run at once (Little's law), so with concurrency 1 at least that many
// instances live (more, counting the idle ones not yet reclaimed); capped
// at 3 instances (~66 req/s) the excess is throttled with 429.
func TestServerlessScalesOutAndThrottles(t *testing.T) {
	cfg := browseConfig()
	cfg.DBConnections = 50
	cfg.Serverless = Serverless{Enabled: true, Concurrency: 1, ColdStartMs: 200, IdleTimeoutMs: 5_000, MaxInstances: 100}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Advance(60 * time.Second)
	live, _ := metric(t, s, "shop_replicas", "service", "product")
	_, d := measure(t, func() Config { c := cfg; c.Serverless.MaxInstances = 3; return c }(), 30*time.Second, 60*time.Second)
	throttled := d("shop_requests_total", "service", "gateway", "code", "429") / d("shop_requests_total", "service", "gateway")
	t.Logf("unlimited: %.0f live instances; capped at 3: %.1f %% throttled", live, 100*throttled)
	if live < 6 || live > 40 {
		t.Errorf("%.0f live instances at 150 req/s × ~45 ms with concurrency 1, want roughly 7 to a few dozen", live)
	}
	if throttled < 0.3 {
		t.Errorf("capped at 3 instances (~66 req/s) only %.1f %% of 150 req/s were throttled", 100*throttled)
	}
}
