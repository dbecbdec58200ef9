package simulator

import (
	"math"
	"testing"
	"time"
)

// measured are the counters the resilience tests read over a span.
var measured = [][]string{
	{"shop_requests_total", "service", "gateway"},
	{"shop_requests_total", "service", "gateway", "code", "200"},
	{"shop_requests_total", "service", "gateway", "code", "429"},
	{"shop_requests_total", "service", "gateway", "code", "500"},
	{"shop_requests_total", "service", "gateway", "code", "503"},
	{"shop_requests_total", "service", "product"},
	{"shop_requests_total", "service", "product", "code", "503"},
	{"shop_requests_total", "service", "product", "code", "200"},
	{"shop_requests_total", "service", "db"},
	{"shop_rate_limited_total"},
	{"shop_retries_total"},
	{"shop_timeouts_total"},
	{"shop_late_responses_total"},
	{"shop_requests_total", "service", "gateway", "code", "504"},
	{"shop_circuit_breaker_opens_total"},
	{"shop_cache_hits_total"},
	{"shop_cache_misses_total"},
	{"shop_cache_expirations_total"},
	{"shop_cache_coalesced_total"},
	{"shop_requests_total", "service", "gateway", "code", "429"},
	{"shop_circuit_breaker_rejections_total"},
}

// measure runs a shop with cfg through warm, then span, of virtual time and
// returns a reader of how much each measured counter grew during the span.
func measure(t *testing.T, cfg Config, warm, span time.Duration) (*Shop, func(name string, kv ...string) float64) {
	t.Helper()
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Advance(warm)
	before := map[string]float64{}
	for _, q := range measured {
		before[joinKV(q)] = sumOf(t, s, q[0], q[1:]...)
	}
	s.Advance(span)
	return s, func(name string, kv ...string) float64 {
		t.Helper()
		b, ok := before[joinKV(append([]string{name}, kv...))]
		if !ok {
			t.Fatalf("%s%v is not in the measured list", name, kv)
		}
		return sumOf(t, s, name, kv...) - b
	}
}

func joinKV(kv []string) string {
	out := ""
	for _, s := range kv {
		out += s + "\x00"
	}
	return out
}

// sumOf adds every series of a counter matching the label pairs.
func sumOf(t *testing.T, s *Shop, name string, kv ...string) float64 {
	t.Helper()
	total := 0.0
	for _, m := range matching(t, s, name, kv...) {
		total += m.GetCounter().GetValue()
	}
	return total
}

// TestRateLimiterSheds: 150 req/s offered against a 100 req/s token bucket
// refuses a third with 429, which keeps the rest under the database's
// 125 queries/s, so the 503s of the unprotected shop disappear.
// Tolerance ±2 points: 6000 arrivals make the Poisson noise ~0.6 points.
func TestRateLimiterSheds(t *testing.T) {
	cfg := browseConfig()
	cfg.RateLimit = RateLimit{Enabled: true, RPS: 100, Burst: 20}
	_, d := measure(t, cfg, 20*time.Second, 60*time.Second)
	total := d("shop_requests_total", "service", "gateway")
	limited := d("shop_requests_total", "service", "gateway", "code", "429")
	t.Logf("%.0f requests, %.1f %% refused with 429, %.0f 503s", total, 100*limited/total, d("shop_requests_total", "service", "gateway", "code", "503"))
	if math.Abs(limited/total-1.0/3) > 0.02 {
		t.Errorf("429 share %.3f, want 1/3 ± 0.02", limited/total)
	}
	if got := d("shop_rate_limited_total"); got != limited {
		t.Errorf("shop_rate_limited_total %v, gateway 429s %v", got, limited)
	}
	if n := d("shop_requests_total", "service", "gateway", "code", "503"); n > 0.01*total {
		t.Errorf("%.0f 503s behind the limiter; the admitted 100/s fit the database's 125/s", n)
	}
}

// TestRetriesMaskTransientErrors: with 10 % of queries failing at random and
// the cache off but load light, three tries leave ~0.1³ = 0.1 % of requests
// failed, where one try leaves 10 %; the database pays ~11 % extra queries
// (1 + 0.1 + 0.01). Tolerances are a few binomial standard deviations on
// ~6000 requests.
func TestRetriesMaskTransientErrors(t *testing.T) {
	for _, tc := range []struct {
		attempts              int
		wantFail, failTol     float64
		wantPerReq, perReqTol float64
	}{
		{1, 0.10, 0.015, 1.0, 0.001},
		{3, 0.001, 0.0015, 1.111, 0.02},
	} {
		cfg := browseConfig()
		cfg.ArrivalRate = 60 // ~half the database's capacity
		cfg.Faults.DBErrorRatio = 0.1
		cfg.Retries = Retries{MaxAttempts: tc.attempts, BackoffMs: 5}
		_, d := measure(t, cfg, 10*time.Second, 100*time.Second)
		total := d("shop_requests_total", "service", "gateway")
		failed := d("shop_requests_total", "service", "gateway", "code", "500")
		perReq := d("shop_requests_total", "service", "db") / total
		t.Logf("%d tries: %.2f %% failed, %.3f queries per request, %.0f retries", tc.attempts, 100*failed/total, perReq, d("shop_retries_total"))
		if math.Abs(failed/total-tc.wantFail) > tc.failTol {
			t.Errorf("%d tries: %.3f %% failed, want %.3f %%", tc.attempts, 100*failed/total, 100*tc.wantFail)
		}
		if math.Abs(perReq-tc.wantPerReq) > tc.perReqTol {
			t.Errorf("%d tries: %.3f queries per request, want %.3f", tc.attempts, perReq, tc.wantPerReq)
		}
	}
}

// TestRetriesAmplifyOverload: when the 5xx come from overload, not
// chance, retries multiply the load on the service that is already full: it
// sees more tries than users send and refuses more of them. (The 503s here
// are fast refusals, so a retried request that finds room succeeds: success
// improves a little and mean latency barely moves. Timeouts, where retried
// work is wasted work, will come with the timeout knob.)
func TestRetriesAmplifyOverload(t *testing.T) {
	run := func(attempts int) (amplification, okShare, meanLatency, refused float64) {
		cfg := browseConfig() // cache off: overloaded
		cfg.Retries = Retries{MaxAttempts: attempts, BackoffMs: 20}
		s, d := measure(t, cfg, 30*time.Second, 60*time.Second)
		users := d("shop_requests_total", "service", "gateway")
		n, sum := metric(t, s, "shop_request_duration_seconds", "service", "gateway")
		return d("shop_requests_total", "service", "product") / users,
			d("shop_requests_total", "service", "gateway", "code", "200") / users, sum / n,
			d("shop_requests_total", "service", "product", "code", "503")
	}
	amp1, ok1, lat1, ref1 := run(1)
	amp3, ok3, lat3, ref3 := run(3)
	t.Logf("1 try:   %.2f tries per user request, %.1f %% answered 200, mean latency %.0f ms", amp1, 100*ok1, lat1*1000)
	t.Logf("3 tries: %.2f tries per user request, %.1f %% answered 200, mean latency %.0f ms", amp3, 100*ok3, lat3*1000)
	if math.Abs(amp1-1) > 0.01 {
		t.Errorf("without retries the product service saw %.3f tries per request, want 1", amp1)
	}
	if amp3 < 1.2 {
		t.Errorf("with 3 tries under overload only %.2f tries per request; a retry storm should amplify load by well over 20 %%", amp3)
	}
	if !(ref3 > 1.5*ref1) {
		t.Errorf("the product service refused %.0f tries with retries, %.0f without; want well over 1.5×", ref3, ref1)
	}
}

// TestSlowQueryFault: added latency shows up one for one in the database's
// mean latency when the database is lightly loaded (10 queries/s × 140 ms on
// five connections: almost no query waits). Tolerance 3 ms: the means of
// ~3000 log-normal queries carry ~0.5 ms of noise each, and the rare waits
// add under a millisecond.
func TestSlowQueryFault(t *testing.T) {
	mean := func(addedMs float64) float64 {
		cfg := browseConfig()
		cfg.ArrivalRate = 10
		cfg.Faults.DBAddedLatencyMs = addedMs
		s, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Advance(300 * time.Second)
		n, sum := metric(t, s, "shop_request_duration_seconds", "service", "db")
		return sum / n
	}
	base, slow := mean(0), mean(100)
	t.Logf("db mean latency %.1f ms, with +100 ms fault %.1f ms", base*1000, slow*1000)
	if math.Abs((slow-base)-0.100) > 0.003 {
		t.Errorf("a +100 ms fault moved the database's mean by %.1f ms", (slow-base)*1000)
	}
}

// TestTimeoutsWithRetriesMakeAStorm: the overloaded shop holds a request
// ~0.65 s (16 workers and 64 queued, drained at 125/s). Behind a 600 ms
// gateway timeout part of that turns into 504s while the work goes on;
// retrying them adds tries to queues that are already full, so more work is
// done for answers nobody waits for and fewer users get a 200: the retry
// storm of the write-ups, asserted by sign and rough size. (At 500 ms almost
// nobody gets a 200 even without retries: a FIFO queue longer than the
// timeout serves only the dead.)
func TestTimeoutsWithRetriesMakeAStorm(t *testing.T) {
	run := func(attempts int) (okShare, latePerUser, amplification float64) {
		cfg := browseConfig() // cache off: overloaded
		cfg.Timeouts.GatewayMs = 600
		cfg.Retries = Retries{MaxAttempts: attempts, BackoffMs: 20}
		_, d := measure(t, cfg, 30*time.Second, 60*time.Second)
		users := d("shop_requests_total", "service", "gateway")
		return d("shop_requests_total", "service", "gateway", "code", "200") / users,
			d("shop_late_responses_total") / users,
			d("shop_requests_total", "service", "product") / users
	}
	ok1, late1, amp1 := run(1)
	ok3, late3, amp3 := run(3)
	t.Logf("1 try:   %.1f %% of users get 200, %.2f late answers per user, %.2f tries per user", 100*ok1, late1, amp1)
	t.Logf("3 tries: %.1f %% of users get 200, %.2f late answers per user, %.2f tries per user", 100*ok3, late3, amp3)
	if !(late1 > 0.2) {
		t.Errorf("with a 600 ms timeout on a ~0.65 s queue only %.2f late answers per user", late1)
	}
	if !(ok3 < 0.8*ok1) {
		t.Errorf("retrying timed-out tries moved the share of 200s from %.3f to %.3f; under overload it should fall clearly", ok1, ok3)
	}
	if !(late3 > late1 && amp3 > 2) {
		t.Errorf("retries did not add wasted work: %.2f → %.2f late answers per user, %.2f tries per user", late1, late3, amp3)
	}
}

// TestBreakerShedsADeadDependencyAndRecovers: with every query failing, a
// closed-circuit gateway keeps sending every request into the product
// service; the breaker (5 failures, open 1 s, 1 probe) lets through only its
// probes, about one try a second instead of 150. When the database comes
// back, the next probe succeeds, the breaker closes, and requests succeed.
func TestBreakerShedsADeadDependencyAndRecovers(t *testing.T) {
	triesPerUser := func(enabled bool) (float64, float64) {
		cfg := browseConfig()
		cfg.Cache.Enabled = true // no overload: only the fault fails requests
		cfg.Faults.DBErrorRatio = 1
		cfg.Breaker = Breaker{Enabled: enabled, FailureThreshold: 5, OpenMs: 1000, HalfOpenProbes: 1}
		_, d := measure(t, cfg, 10*time.Second, 60*time.Second)
		users := d("shop_requests_total", "service", "gateway")
		return d("shop_requests_total", "service", "product") / users, d("shop_circuit_breaker_opens_total")
	}
	without, _ := triesPerUser(false)
	with, opens := triesPerUser(true)
	t.Logf("database down: %.3f tries per user reach the product service without a breaker, %.4f with it (%.0f opens in 60 s)", without, with, opens)
	if math.Abs(without-1) > 0.01 {
		t.Errorf("without a breaker %.3f tries per user reached the product service, want 1", without)
	}
	// One probe per 1 s open interval: ~60 of ~9000 requests.
	if !(with < 0.02) || !(opens >= 50 && opens <= 61) {
		t.Errorf("with the breaker %.4f tries per user and %.0f opens in 60 s; want under 0.02 and about one open a second", with, opens)
	}

	// Recovery, in one shop: fault on, then off.
	cfg := browseConfig()
	cfg.Cache.Enabled = true
	cfg.Faults.DBErrorRatio = 1
	cfg.Breaker = Breaker{Enabled: true, FailureThreshold: 5, OpenMs: 1000, HalfOpenProbes: 1}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Advance(10 * time.Second)
	if st, _ := metric(t, s, "shop_circuit_breaker_state"); st != float64(breakerOpen) {
		t.Fatalf("breaker state %v while the database is down, want open (1)", st)
	}
	cfg.Faults.DBErrorRatio = 0
	if err := s.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	s.Advance(2 * time.Second) // past the open interval: the probe succeeds
	ok0, _ := metric(t, s, "shop_requests_total", "service", "gateway", "code", "200")
	all0 := sumOf(t, s, "shop_requests_total", "service", "gateway")
	s.Advance(20 * time.Second)
	ok1, _ := metric(t, s, "shop_requests_total", "service", "gateway", "code", "200")
	all1 := sumOf(t, s, "shop_requests_total", "service", "gateway")
	if st, _ := metric(t, s, "shop_circuit_breaker_state"); st != float64(breakerClosed) {
		t.Errorf("breaker state %v after the database recovered, want closed (0)", st)
	}
	if share := (ok1 - ok0) / (all1 - all0); share < 0.99 {
		t.Errorf("after recovery only %.1f %% of requests succeeded", 100*share)
	}
}
