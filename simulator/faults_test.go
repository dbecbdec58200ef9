package simulator

import (
	"math"
	"testing"
	"time"
)

// lightShop is the cache-on shop at 100 req/s with room to spare, so a
// fault's effect is not mixed with overload.
func lightShop(mut func(*Config)) Config {
	cfg := browseConfig()
	cfg.ArrivalRate, cfg.Cache.Enabled = 100, true
	mut(&cfg)
	return cfg
}

func meanLatency(t *testing.T, s *Shop, service string) float64 {
	t.Helper()
	n, sum := metric(t, s, "shop_request_duration_seconds", "service", service)
	return sum / n
}

// TestGCPausesAndLeak: a 200 ms pause every 2 s delays the ~10 % of
// requests that start inside one by ~100 ms on average: ~10 ms on the mean.
// A leak of 6 ms per minute adds ~6 ms × minutes elapsed; after 10 minutes
// the newest requests pay ~60 ms more than at first.
func TestGCPausesAndLeak(t *testing.T) {
	base, _ := New(lightShop(func(*Config) {}), nil)
	base.Advance(300 * time.Second)
	gc, _ := New(lightShop(func(c *Config) { c.Faults.GCPauseMs, c.Faults.GCIntervalS = 200, 2 }), nil)
	gc.Advance(300 * time.Second)
	extra := meanLatency(t, gc, "product") - meanLatency(t, base, "product")
	t.Logf("GC pauses add %.1f ms to the product service's mean latency", extra*1000)
	if math.Abs(extra-0.010) > 0.003 {
		t.Errorf("GC pauses of 200 ms every 2 s added %.1f ms to the mean, want ~10 ms", extra*1000)
	}

	cfg := lightShop(func(c *Config) { c.Faults.LeakMsPerMin = 6 })
	s, _ := New(cfg, nil)
	n0, sum0 := metric(t, s, "shop_request_duration_seconds", "service", "product")
	s.Advance(60 * time.Second)
	n1, sum1 := metric(t, s, "shop_request_duration_seconds", "service", "product")
	first := (sum1 - sum0) / (n1 - n0)
	s.Advance(540 * time.Second)
	n2, sum2 := metric(t, s, "shop_request_duration_seconds", "service", "product")
	s.Advance(60 * time.Second)
	n3, sum3 := metric(t, s, "shop_request_duration_seconds", "service", "product")
	last := (sum3 - sum2) / (n3 - n2)
	t.Logf("leak: product mean %.1f ms in minute 1, %.1f ms in minute 11", first*1000, last*1000)
	if math.Abs((last-first)-0.060) > 0.01 {
		t.Errorf("a 6 ms/min leak grew the mean by %.1f ms over 10 minutes, want ~60", (last-first)*1000)
	}
}

// TestCrashedInstanceAndLeastConnections: instance 0 of three is down and
// refuses at once. Round-robin keeps sending it a third of the requests;
// least connections is worse, not better: the dead instance always has the
// fewest connections, so it gets nearly everything (the "black hole").
func TestCrashedInstanceAndLeastConnections(t *testing.T) {
	failed := func(policy string) float64 {
		cfg := lightShop(func(c *Config) {
			c.ProductReplicas, c.LoadBalancer, c.Faults.ProductDown = 3, policy, true
		})
		_, d := measure(t, cfg, 10*time.Second, 60*time.Second)
		return d("shop_requests_total", "service", "gateway", "code", "503") / d("shop_requests_total", "service", "gateway")
	}
	rr, lc := failed(RoundRobin), failed(LeastConnections)
	t.Logf("instance 0 down: %.1f %% refused with round-robin, %.1f %% with least connections", 100*rr, 100*lc)
	if math.Abs(rr-1.0/3) > 0.02 {
		t.Errorf("round-robin: %.3f refused, want a third", rr)
	}
	if !(lc > 0.8) {
		t.Errorf("least connections: %.3f refused, want the black hole (most requests)", lc)
	}
}

// TestPartitionEndsInTimeouts: with gateway and product cut off from each
// other, every try vanishes and ends at the gateway's 1 s timeout as a 504;
// the slots of lost tries are given back (the shop does not grow).
func TestPartitionEndsInTimeouts(t *testing.T) {
	cfg := lightShop(func(c *Config) { c.Faults.Partition, c.Timeouts.GatewayMs = true, 1000 })
	s, d := measure(t, cfg, 10*time.Second, 60*time.Second)
	users := d("shop_requests_total", "service", "gateway")
	gw504 := d("shop_requests_total", "service", "gateway", "code", "504")
	t.Logf("partition: %.0f of %.0f requests ended 504, slab holds %d slots", gw504, users, len(s.reqs))
	if gw504 != users {
		t.Errorf("%.0f of %.0f requests ended 504, want all", gw504, users)
	}
	// 100 req/s × 1 s in flight: ~100 slots; thousands would mean a leak.
	if len(s.reqs) > 400 {
		t.Errorf("the request slab grew to %d slots: lost tries are not released", len(s.reqs))
	}
	if n := meanLatency(t, s, "gateway"); math.Abs(n-1) > 0.01 {
		t.Errorf("mean latency %.3f s, want the 1 s timeout", n)
	}
}

// TestNetworkLatency: 20 ms each way plus 5 ms mean jitter each way adds
// ~50 ms to every answer at the gateway.
func TestNetworkLatency(t *testing.T) {
	base, _ := New(lightShop(func(*Config) {}), nil)
	base.Advance(120 * time.Second)
	slow, _ := New(lightShop(func(c *Config) { c.Network = Network{AddedMs: 20, JitterMs: 5} }), nil)
	slow.Advance(120 * time.Second)
	extra := meanLatency(t, slow, "gateway") - meanLatency(t, base, "gateway")
	t.Logf("network: +%.1f ms at the gateway", extra*1000)
	if math.Abs(extra-0.050) > 0.003 {
		t.Errorf("20 ms + 5 ms jitter each way added %.1f ms, want ~50", extra*1000)
	}
}
