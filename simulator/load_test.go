package simulator

import (
	"math"
	"testing"
	"time"
)

// offeredOver counts the load generator's arrivals over the next d.
func offeredOver(t *testing.T, s *Shop, d time.Duration) float64 {
	t.Helper()
	before := sumOf(t, s, "shop_offered_requests_total")
	s.Advance(d)
	return (sumOf(t, s, "shop_offered_requests_total") - before) / d.Seconds()
}

// TestLoadStagesAndSine: arrivals follow the schedule. A ramp from 100 to
// 500 req/s over 100 s offers its average in each stretch of it; after the
// last stage its target holds; a sine of amplitude 0.5 offers
// base·(1 ± 0.5·2/π) on average over its two half-periods. Tolerance 5 %:
// each window holds thousands of Poisson arrivals (≤ 2 % noise).
func TestLoadStagesAndSine(t *testing.T) {
	cfg := browseConfig()
	cfg.Cache.Enabled = true
	cfg.ProductWorkers, cfg.DBConnections = 200, 100 // keep the shop out of the way
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Advance(5 * time.Second)
	cfg.ArrivalRate = 100
	cfg.Load.Stages = []Stage{{DurationS: 100, TargetRate: 500}, {DurationS: 50, TargetRate: 500}}
	if err := s.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	check := func(what string, got, want float64) {
		t.Helper()
		t.Logf("%-26s %.1f req/s, want %.1f", what, got, want)
		if math.Abs(got/want-1) > 0.05 {
			t.Errorf("%s: %.1f req/s, want %.1f ± 5 %%", what, got, want)
		}
	}
	check("ramp, first 50 s", offeredOver(t, s, 50*time.Second), 200) // 100 → 300
	check("ramp, next 50 s", offeredOver(t, s, 50*time.Second), 400)  // 300 → 500
	check("steady stage", offeredOver(t, s, 50*time.Second), 500)     // held
	check("after the last stage", offeredOver(t, s, 20*time.Second), 500)

	cfg.Load.Stages, cfg.Load.SineAmplitude, cfg.Load.SinePeriodS = nil, 0.5, 60
	cfg.ArrivalRate = 300
	if err := s.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	var up, down float64
	for i := 0; i < 5; i++ {
		up += offeredOver(t, s, 30*time.Second) / 5
		down += offeredOver(t, s, 30*time.Second) / 5
	}
	check("sine, upper half-period", up, 300*(1+0.5*2/math.Pi))
	check("sine, lower half-period", down, 300*(1-0.5*2/math.Pi))
}
