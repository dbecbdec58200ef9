package simulator

import (
	"testing"
	"time"
)

// TestLoadBalancersRouteAroundASlowInstance: three product instances of two
// workers each, and instance 0 hogged (its own work 40× slower, ~40 ms).
// Blind policies (round-robin, random) keep sending it a third of the
// traffic, ~2 erlangs on 2 workers, so its queue fills and its requests wait
// or are refused; load-aware ones (least connections, power of two choices)
// see its queue and send less. Asserted by sign and size on what the gateway
// answered.
func TestLoadBalancersRouteAroundASlowInstance(t *testing.T) {
	type result struct{ mean, refused, share0 float64 }
	run := func(policy string) result {
		cfg := browseConfig()
		cfg.Cache.Enabled = true
		cfg.ProductReplicas, cfg.ProductWorkers, cfg.LoadBalancer = 3, 2, policy
		cfg.Faults.ProductCPUHog = 40
		s, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Advance(120 * time.Second)
		n, sum := metric(t, s, "shop_request_duration_seconds", "service", "gateway")
		refused, _ := metric(t, s, "shop_requests_total", "service", "gateway", "code", "503")
		w0, _ := metric(t, s, "shop_queue_wait_seconds", "service", "product", "replica", "0")
		wAll := 0.0
		for _, r := range []string{"0", "1", "2"} {
			c, _ := metric(t, s, "shop_queue_wait_seconds", "service", "product", "replica", r)
			wAll += c
		}
		return result{sum / n, refused / n, w0 / wAll}
	}
	res := map[string]result{}
	for _, p := range loadBalancers {
		res[p] = run(p)
		t.Logf("%-17s mean latency %6.1f ms, %4.1f %% refused, slow instance took %4.1f %% of requests", p, res[p].mean*1000, 100*res[p].refused, 100*res[p].share0)
	}
	for _, aware := range []string{LeastConnections, PowerOfTwo} {
		for _, blind := range []string{RoundRobin, Random} {
			if !(res[aware].mean < res[blind].mean/2) {
				t.Errorf("%s mean latency %.1f ms is not under half of %s's %.1f ms", aware, res[aware].mean*1000, blind, res[blind].mean*1000)
			}
		}
		if !(res[aware].share0 < 0.25) {
			t.Errorf("%s still sent %.1f %% of requests to the slow instance", aware, 100*res[aware].share0)
		}
	}
	// share0 counts the requests instance 0 admitted; a blind policy sends it
	// a third, less the ones its full queue refused.
	for _, blind := range []string{RoundRobin, Random} {
		if s := res[blind].share0; s < 0.28 || s > 0.345 {
			t.Errorf("%s: instance 0 admitted %.1f %% of requests, want about a third", blind, 100*s)
		}
	}
}
