package simulator

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestRandomKnobTimeline flips architecture knobs at random, many times,
// while the shop runs: nothing may panic (a negative counter, an index out
// of range), and every station's busy count stays within its servers.
func TestRandomKnobTimeline(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 1))
	for run := 0; run < 5; run++ {
		cfg := DefaultConfig()
		cfg.Seed = uint64(run + 1)
		s := newShopT(t, cfg)
		for step := 0; step < 200; step++ {
			c := s.Config()
			switch rng.IntN(12) {
			case 0:
				c.Topology = []string{Microservices, Monolith}[rng.IntN(2)]
				if c.Topology == Monolith {
					c.Serverless.Enabled, c.Autoscaling.Enabled = false, false
				}
			case 1:
				c.Queue.AsyncCheckout = !c.Queue.AsyncCheckout
			case 2:
				c.Queue.Consumers, c.Queue.Prefetch = 1+rng.IntN(4), 1+rng.IntN(20)
			case 3:
				c.Faults.QueueConsumerStall = !c.Faults.QueueConsumerStall
			case 4:
				c.Services.Cart.Replicas, c.Services.Payment.Replicas = 1+rng.IntN(4), 1+rng.IntN(4)
				c.Monolith.Replicas, c.Monolith.Workers = 1+rng.IntN(3), 1+rng.IntN(40)
			case 5:
				c.ProductReplicas, c.ProductWorkers = 1+rng.IntN(5), 1+rng.IntN(20)
			case 6:
				c.Hedging.Enabled, c.Timeouts.GatewayMs, c.Retries.MaxAttempts = rng.IntN(2) == 0, float64(rng.IntN(3)*200), 1+rng.IntN(3)
			case 7:
				c.Faults.Partitions = nil
				if rng.IntN(2) == 0 {
					c.Faults.Partitions = []Partition{{A: "order", B: "payment"}}
				}
			case 8:
				c.Cache.Enabled, c.CDN.Enabled, c.Breaker.Enabled = rng.IntN(2) == 0, rng.IntN(2) == 0, rng.IntN(2) == 0
			case 9:
				if c.Topology == Microservices {
					c.Serverless.Enabled = !c.Serverless.Enabled
					c.Autoscaling.Enabled = false
				}
			case 10:
				c.Faults.Service.Payment.ErrorRatio, c.Faults.Service.Inventory.Down = rng.Float64()*0.5, rng.IntN(3) == 0
			case 11:
				c.Load.Model = []string{OpenModel, ClosedModel}[rng.IntN(2)]
			}
			if err := s.SetConfig(c); err != nil {
				t.Fatalf("run %d step %d: %v", run, step, err)
			}
			s.Advance(time.Duration(rng.IntN(3000)) * time.Millisecond)
			s.mu.Lock()
			check := func(name string, sts []station) {
				for r := range sts {
					if sts[r].busy < 0 || sts[r].q.n < 0 || sts[r].last > s.eng.now {
						t.Fatalf("run %d step %d: %s[%d] busy %d queue %d last %v now %v", run, step, name, r, sts[r].busy, sts[r].q.n, sts[r].last, s.eng.now)
					}
				}
			}
			check("product", s.products)
			check("monolith", s.mono)
			check("worker", s.consumers)
			check("db", []station{s.db})
			for _, n := range services {
				check(nodeNames[n], s.svcs[n])
			}
			s.mu.Unlock()
			_ = exposition(t, s)
		}
	}
}

// TestTimeNeverGoesBack: a late first tick in live mode asked the shop to
// run to a time before now, which ran the stations' integrals backwards
// and panicked a counter ("counter cannot decrease"). It must change nothing.
func TestTimeNeverGoesBack(t *testing.T) {
	s := newShopT(t, DefaultConfig())
	s.Advance(10 * time.Second)
	before := exposition(t, s)
	s.mu.Lock()
	s.advanceTo(s.eng.now - 0.5)
	now := s.eng.now
	s.mu.Unlock()
	if now != 10 {
		t.Errorf("virtual time %v after a step back, want 10", now)
	}
	s.Advance(time.Second) // would panic on a negative integral
	if exposition(t, s) == before {
		t.Error("the shop stopped after a step back")
	}
}
