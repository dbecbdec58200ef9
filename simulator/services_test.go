package simulator

import (
	"math"
	"testing"
	"time"
)

// histOf sums a histogram's count and sum over the series matching kv.
func histOf(t *testing.T, s *Shop, name string, kv ...string) (count, sum float64) {
	t.Helper()
	for _, m := range matching(t, s, name, kv...) {
		count += float64(m.GetHistogram().GetSampleCount())
		sum += m.GetHistogram().GetSampleSum()
	}
	return count, sum
}

func meanOf(t *testing.T, s *Shop, name string, kv ...string) float64 {
	t.Helper()
	n, sum := histOf(t, s, name, kv...)
	if n == 0 {
		t.Fatalf("%s%v: no observations", name, kv)
	}
	return sum / n
}

func newShopT(t *testing.T, cfg Config) *Shop {
	t.Helper()
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// calmShop is the default mix with the cache on and half the load: nothing
// saturated, so differences come from the architecture, not from queues.
func calmShop(mut func(*Config)) Config {
	cfg := DefaultConfig()
	cfg.Cache.Enabled, cfg.ArrivalRate = true, 75
	mut(&cfg)
	return cfg
}

// TestJourneyMix: each journey's share of the gateway's requests matches
// its weight. With n ≈ 9 000 requests a share p has a standard error of
// √(p(1−p)/n) ≤ 0.5 %; the tolerance is 1.5 percentage points (3σ).
func TestJourneyMix(t *testing.T) {
	cfg := calmShop(func(*Config) {})
	s := newShopT(t, cfg)
	s.Advance(120 * time.Second)
	total := sumOf(t, s, "shop_requests_total", "service", "gateway")
	w := cfg.Journeys.weights()
	wsum := 0.0
	for _, x := range w {
		wsum += x
	}
	for j := range jMessage {
		got := sumOf(t, s, "shop_requests_total", "service", "gateway", "route", journeyRoute[j]) / total
		t.Logf("%-18s share %.4f, weight %.4f", journeyRoute[j], got, w[j]/wsum)
		if math.Abs(got-w[j]/wsum) > 0.015 {
			t.Errorf("%s: share %.4f, want %.4f ± 0.015", journeyRoute[j], got, w[j]/wsum)
		}
	}
}

// TestMonolithSavesTheHops: with 20 ms added to every network hop, checkout
// in microservices crosses 8 more hops than in the monolith (order ⇄ auth,
// inventory, payment, notification), so it takes ~160 ms longer; browsing
// crosses the same two hops either way (gateway ⇄ app) and barely changes.
// Switching is live: requests after the switch run in the monolith's
// instances and the topology gauge redraws.
func TestMonolithSavesTheHops(t *testing.T) {
	cfg := calmShop(func(c *Config) { c.Network.AddedMs = 20 })
	s := newShopT(t, cfg)
	s.Advance(60 * time.Second)
	microCheckout := meanOf(t, s, "shop_request_duration_seconds", "service", "gateway", "route", "/api/checkout")
	microBrowse := meanOf(t, s, "shop_request_duration_seconds", "service", "gateway", "route", routeGateway)
	n0, s0 := histOf(t, s, "shop_request_duration_seconds", "service", "gateway", "route", "/api/checkout")
	b0, bs0 := histOf(t, s, "shop_request_duration_seconds", "service", "gateway", "route", routeGateway)
	busyProduct := sumOf(t, s, "shop_busy_seconds_total", "service", "product")

	mono := s.Config()
	mono.Topology = Monolith
	if err := s.SetConfig(mono); err != nil {
		t.Fatal(err)
	}
	s.Advance(5 * time.Second) // requests in flight finish where they started
	n5, s5 := histOf(t, s, "shop_request_duration_seconds", "service", "gateway", "route", "/api/checkout")
	b5, bs5 := histOf(t, s, "shop_request_duration_seconds", "service", "gateway", "route", routeGateway)
	busyProduct5 := sumOf(t, s, "shop_busy_seconds_total", "service", "product")
	s.Advance(60 * time.Second)
	n1, s1 := histOf(t, s, "shop_request_duration_seconds", "service", "gateway", "route", "/api/checkout")
	b1, bs1 := histOf(t, s, "shop_request_duration_seconds", "service", "gateway", "route", routeGateway)
	monoCheckout := (s1 - s5) / (n1 - n5)
	monoBrowse := (bs1 - bs5) / (b1 - b5)
	_ = n0 + s0 + b0 + bs0
	t.Logf("checkout: microservices %.1f ms, monolith %.1f ms; browse: %.1f ms, %.1f ms",
		1000*microCheckout, 1000*monoCheckout, 1000*microBrowse, 1000*monoBrowse)
	if d := microCheckout - monoCheckout; d < 0.140 || d > 0.180 {
		t.Errorf("checkout: microservices − monolith = %.1f ms, want ~160 ms (8 hops × 20 ms)", 1000*d)
	}
	if d := math.Abs(microBrowse - monoBrowse); d > 0.005 {
		t.Errorf("browse changed by %.1f ms between topologies, want under 5 ms", 1000*d)
	}
	if busy := sumOf(t, s, "shop_busy_seconds_total", "service", "product") - busyProduct5; busy != 0 {
		t.Errorf("product instances still worked %.3f s after the switch drained", busy)
	}
	if busyProduct <= 0 || sumOf(t, s, "shop_busy_seconds_total", "service", "monolith") <= 0 {
		t.Error("the work did not move from the product service to the monolith")
	}
	if v, _ := metric(t, s, "shop_topology_edge", "from", "gateway", "to", "monolith"); v != 1 {
		t.Errorf("edge gateway→monolith = %v, want 1", v)
	}
	if v, _ := metric(t, s, "shop_topology_edge", "from", "gateway", "to", "order"); v != 0 {
		t.Errorf("edge gateway→order = %v after the switch, want 0", v)
	}
}

// TestAsyncCheckout: synchronously, the user waits for the payment provider
// (~120 ms) and the mail server (~40 ms); asynchronously, order answers 202
// after its own work and the consumers do the rest. Every published message
// is processed.
func TestAsyncCheckout(t *testing.T) {
	syncShop := newShopT(t, calmShop(func(*Config) {}))
	syncShop.Advance(120 * time.Second)
	async := newShopT(t, calmShop(func(c *Config) { c.Queue.AsyncCheckout = true }))
	async.Advance(120 * time.Second)
	sw := meanOf(t, syncShop, "shop_request_duration_seconds", "service", "gateway", "route", "/api/checkout")
	aw := meanOf(t, async, "shop_request_duration_seconds", "service", "gateway", "route", "/api/checkout")
	published := sumOf(t, async, "shop_queue_published_total")
	acked := sumOf(t, async, "shop_queue_acked_total")
	accepted := sumOf(t, async, "shop_requests_total", "service", "gateway", "route", "/api/checkout", "code", "202")
	t.Logf("checkout: sync %.1f ms, async %.1f ms; published %v, acked %v, 202s %v", 1000*sw, 1000*aw, published, acked, accepted)
	if sw-aw < 0.140 {
		t.Errorf("async checkout saved %.1f ms, want ≥ 140 ms (payment + notification)", 1000*(sw-aw))
	}
	if accepted != published || published < 100 {
		t.Errorf("%v checkouts accepted with 202 but %v messages published", accepted, published)
	}
	if ready, _ := metric(t, async, "shop_queue_unacked_messages"); acked+ready != published {
		t.Errorf("acked %v + held %v ≠ published %v", acked, ready, published)
	}
	if sumOf(t, syncShop, "shop_queue_published_total") != 0 {
		t.Error("synchronous checkout published messages")
	}
}

// TestQueueStallAndDeadLetters: a stalled consumer keeps the messages it
// prefetched (exactly prefetch of them) while the other consumer carries
// the rest; unstalled, it catches up. A payment provider that always fails
// sends every message round max_deliveries times, then to the dead-letter
// queue.
func TestQueueStallAndDeadLetters(t *testing.T) {
	cfg := calmShop(func(c *Config) { c.Queue.AsyncCheckout = true; c.Faults.QueueConsumerStall = true })
	s := newShopT(t, cfg)
	s.Advance(120 * time.Second)
	published := sumOf(t, s, "shop_queue_published_total")
	acked := sumOf(t, s, "shop_queue_acked_total")
	held, _ := metric(t, s, "shop_queue_unacked_messages")
	t.Logf("stalled: published %v, acked %v, held %v", published, acked, held)
	if published-acked < float64(cfg.Queue.Prefetch) {
		t.Errorf("stalled consumer: %v published, %v acked: want ≥ %d stuck", published, acked, cfg.Queue.Prefetch)
	}
	cfg.Faults.QueueConsumerStall = false
	if err := s.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	s.Advance(10 * time.Second)
	if held, _ := metric(t, s, "shop_queue_unacked_messages"); held > 3 {
		t.Errorf("after the stall: %v messages still held", held)
	}

	cfg = calmShop(func(c *Config) { c.Queue.AsyncCheckout = true; c.Faults.Service.Payment.ErrorRatio = 1 })
	s = newShopT(t, cfg)
	s.Advance(120 * time.Second)
	published = sumOf(t, s, "shop_queue_published_total")
	dead := sumOf(t, s, "shop_queue_dead_lettered_total")
	redelivered := sumOf(t, s, "shop_queue_redelivered_total")
	t.Logf("failing payments: published %v, dead-lettered %v, redelivered %v", published, dead, redelivered)
	if dead < published-5 || redelivered < float64(cfg.Queue.MaxDeliveries-1)*dead {
		t.Errorf("published %v, dead-lettered %v, redelivered %v: want all dead after %d deliveries each", published, dead, redelivered, cfg.Queue.MaxDeliveries)
	}
	if v := sumOf(t, s, "shop_requests_total", "service", "gateway", "route", "/api/checkout", "code", "202"); v != published {
		t.Errorf("async checkout: users saw %v 202s for %v orders: a failing payment must not reach them", v, published)
	}
}

// TestServiceFaultsAndPartitions: an inventory crash fails cart and
// checkout but not browsing; a partition between order and payment fails
// checkout after the 10 s connect timeout; in the monolith the same
// partition changes nothing; added latency on search shows on its route.
func TestServiceFaultsAndPartitions(t *testing.T) {
	s := newShopT(t, calmShop(func(c *Config) { c.Faults.Service.Inventory.Down = true }))
	s.Advance(60 * time.Second)
	for _, route := range []string{"/api/cart", "/api/checkout"} {
		ok := sumOf(t, s, "shop_requests_total", "service", "gateway", "route", route, "code", "200")
		bad := sumOf(t, s, "shop_requests_total", "service", "gateway", "route", route, "code", "500")
		if ok != 0 || bad < 50 {
			t.Errorf("inventory down: %s answered %v × 200 and %v × 500, want all 500", route, ok, bad)
		}
	}
	if bad := sumOf(t, s, "shop_requests_total", "service", "gateway", "route", routeGateway, "code", "500"); bad != 0 {
		t.Errorf("inventory down broke %v product pages", bad)
	}

	for _, topo := range []string{Microservices, Monolith} {
		s := newShopT(t, calmShop(func(c *Config) {
			c.Topology = topo
			c.Faults.Partitions = []Partition{{A: "order", B: "payment"}}
		}))
		s.Advance(60 * time.Second)
		bad := sumOf(t, s, "shop_requests_total", "service", "gateway", "route", "/api/checkout", "code", "500")
		ok := sumOf(t, s, "shop_requests_total", "service", "gateway", "route", "/api/checkout", "code", "200")
		lat := meanOf(t, s, "shop_request_duration_seconds", "service", "gateway", "route", "/api/checkout")
		t.Logf("%s with order ⇹ payment: checkout %v ok, %v failed, mean %.2f s", topo, ok, bad, lat)
		// Each failed checkout held an order worker for the 10 s timeout:
		// 8 workers fail at most ~48 in a minute, and the rest are refused
		// by a full queue (503).
		if topo == Microservices && (ok != 0 || bad < 30 || lat < 9.9) {
			t.Errorf("partitioned microservices: %v ok, %v failed, mean %.2f s; want all failed after ~10 s", ok, bad, lat)
		}
		if topo == Monolith && (bad != 0 || ok < 50) {
			t.Errorf("partitioned monolith: %v ok, %v failed; a partition inside one process changes nothing", ok, bad)
		}
	}

	base := newShopT(t, calmShop(func(*Config) {}))
	base.Advance(60 * time.Second)
	slow := newShopT(t, calmShop(func(c *Config) { c.Faults.Service.Search.AddedLatencyMs = 50 }))
	slow.Advance(60 * time.Second)
	d := meanOf(t, slow, "shop_request_duration_seconds", "service", "search") - meanOf(t, base, "shop_request_duration_seconds", "service", "search")
	if math.Abs(d-0.050) > 0.005 {
		t.Errorf("search with 50 ms added: %.1f ms slower, want 50 ± 5", 1000*d)
	}

	flaky := newShopT(t, calmShop(func(c *Config) { c.Faults.Service.Cart.ErrorRatio, c.Faults.Service.Cart.ErrorCode = 0.3, 503 }))
	flaky.Advance(120 * time.Second)
	bad := sumOf(t, flaky, "shop_requests_total", "service", "gateway", "route", "/api/cart", "code", "503")
	all := sumOf(t, flaky, "shop_requests_total", "service", "gateway", "route", "/api/cart")
	// n ≈ 540: the share's standard error is ~2 %; allow 3σ.
	if share := bad / all; math.Abs(share-0.3) > 0.06 {
		t.Errorf("cart with 30 %% 503s: %.3f of its requests failed with 503", share)
	}
}

// TestLittlesLawOnEveryService: L = λW holds within 1 % for each service,
// including those that hold a worker while they wait on others.
func TestLittlesLawOnEveryService(t *testing.T) {
	s := newShopT(t, DefaultConfig()) // overloaded: long queues
	s.Advance(300 * time.Second)
	T := s.Elapsed().Seconds()
	for _, svc := range []string{"search", "cart", "order", "inventory", "payment", "db"} {
		n, sum := histOf(t, s, "shop_request_duration_seconds", "service", svc)
		l := (sumOf(t, s, "shop_busy_seconds_total", "service", svc) + sumOf(t, s, "shop_queued_seconds_total", "service", svc)) / T
		lw := sum / T
		t.Logf("%-10s L = %.4f, λW = %.4f (n = %v)", svc, l, lw, n)
		if math.Abs(l/lw-1) > 0.01 {
			t.Errorf("%s: L = %.4f but λW = %.4f", svc, l, lw)
		}
	}
}

// TestCDNTakesImagesOffTheOrigin: with the edge on, the gateway sees only
// the edge's misses (1 − hit ratio of the image requests) and users get a
// cached image in an edge round trip instead of a trip to the region.
func TestCDNTakesImagesOffTheOrigin(t *testing.T) {
	off := newShopT(t, calmShop(func(*Config) {}))
	off.Advance(120 * time.Second)
	on := newShopT(t, calmShop(func(c *Config) { c.CDN.Enabled = true }))
	on.Advance(120 * time.Second)
	hits, misses := sumOf(t, on, "shop_cdn_hits_total"), sumOf(t, on, "shop_cdn_misses_total")
	atGateway := sumOf(t, on, "shop_requests_total", "service", "gateway", "route", "/static/img/:id")
	offMean := meanOf(t, off, "shop_client_request_duration_seconds", "route", "/static/img/:id")
	onMean := meanOf(t, on, "shop_client_request_duration_seconds", "route", "/static/img/:id")
	t.Logf("hit ratio %.3f; gateway image requests %v of %v; user-seen mean %.1f ms → %.1f ms", hits/(hits+misses), atGateway, hits+misses, 1000*offMean, 1000*onMean)
	if math.Abs(atGateway-misses) > 1 || hits/(hits+misses) < 0.5 {
		t.Errorf("edge: %v hits, %v misses, gateway saw %v", hits, misses, atGateway)
	}
	// A hit costs an edge round trip; a miss costs the edge round trip on
	// top of what the user paid without the edge.
	h, rtt := hits/(hits+misses), on.model.edgeRTT.mean()
	if want := h*rtt + (1-h)*(offMean+rtt); math.Abs(onMean/want-1) > 0.1 {
		t.Errorf("images with the CDN: %.1f ms mean, want %.1f ms ± 10 %%", 1000*onMean, 1000*want)
	}
}

// TestLFUBeatsLRUOnZipf: under a fixed Zipf popularity, counting uses keeps
// the truly popular products, so LFU's hit ratio is at least LRU's.
func TestLFUBeatsLRUOnZipf(t *testing.T) {
	ratio := func(policy string) float64 {
		cfg := browseConfig()
		cfg.Cache.Enabled, cfg.Cache.Policy, cfg.Cache.Capacity = true, policy, 300
		s := newShopT(t, cfg)
		s.Advance(300 * time.Second)
		h, m := sumOf(t, s, "shop_cache_hits_total"), sumOf(t, s, "shop_cache_misses_total")
		return h / (h + m)
	}
	lru, lfu := ratio(LRU), ratio(LFU)
	t.Logf("300 entries: LRU hit ratio %.4f, LFU %.4f", lru, lfu)
	if lfu < lru {
		t.Errorf("LFU hit ratio %.4f below LRU's %.4f", lfu, lru)
	}

	c := newLFU(10, 2)
	c.put(1, 0)
	c.get(1)
	c.get(1)
	c.put(2, 0)
	c.get(2)
	c.put(3, 0) // evicts 2: fewer uses than 1
	if !c.get(1) || c.get(2) || !c.get(3) || c.len() != 2 {
		t.Error("LFU evicted the wrong entry")
	}
}

// TestHedgingCutsTheTail: one of two product instances is 50× slower. Half
// the requests land on it; hedged after 10 ms to the other instance, they
// are answered ~11 ms after they were sent instead of ~50+ ms, so the mean
// falls by more than half, at the cost of a second try for about half the
// requests.
func TestHedgingCutsTheTail(t *testing.T) {
	run := func(hedge bool) (*Shop, float64) {
		cfg := browseConfig()
		cfg.ArrivalRate, cfg.Cache.Enabled, cfg.ProductReplicas = 50, true, 2
		cfg.Faults.ProductCPUHog = 50
		cfg.Hedging = Hedging{Enabled: hedge, DelayMs: 10}
		s := newShopT(t, cfg)
		s.Advance(120 * time.Second)
		return s, meanOf(t, s, "shop_request_duration_seconds", "service", "gateway")
	}
	_, plain := run(false)
	s, hedged := run(true)
	hedges := sumOf(t, s, "shop_hedged_requests_total")
	answered := sumOf(t, s, "shop_requests_total", "service", "gateway")
	t.Logf("mean %.1f ms → %.1f ms hedged; %v hedges for %v requests", 1000*plain, 1000*hedged, hedges, answered)
	if hedged > plain/2 {
		t.Errorf("hedging: mean %.1f ms, want under half of %.1f ms", 1000*hedged, 1000*plain)
	}
	if share := hedges / answered; share < 0.4 || share > 0.6 {
		t.Errorf("%.2f of requests hedged, want about half", share)
	}
	if inFlight, _ := metric(t, s, "shop_requests_in_flight", "service", "gateway"); inFlight > 20 {
		t.Errorf("%v requests in flight at the end: a hedged pair lost its answer", inFlight)
	}
}

// TestEverythingIsDeterministic: the whole shop, every journey, the queue,
// the edge, hedging and a live topology switch, replays byte for byte.
func TestEverythingIsDeterministic(t *testing.T) {
	run := func(seed uint64) string {
		cfg := calmShop(func(c *Config) {
			c.Seed = seed
			c.Queue.AsyncCheckout, c.CDN.Enabled, c.Hedging.Enabled = true, true, true
			c.Cache.Policy = LFU
			c.Faults.Service.Payment.ErrorRatio = 0.2
			c.Schedule = []Change{{AtS: 20, DurationS: 20, Set: map[string]any{"topology": "monolith"}},
				{AtS: 30, DurationS: 5, Set: map[string]any{"faults": map[string]any{"partitions": []any{map[string]any{"a": "cart", "b": "auth"}}}}}}
		})
		s := newShopT(t, cfg)
		s.Advance(60 * time.Second)
		return exposition(t, s)
	}
	a, b, c := run(3), run(3), run(4)
	if a != b {
		t.Error("same seed, different expositions")
	}
	if a == c {
		t.Error("different seeds, same exposition")
	}
}

func TestServiceKnobsAreValidated(t *testing.T) {
	for name, mut := range map[string]func(*Config){
		"topology":   func(c *Config) { c.Topology = "mesh" },
		"services":   func(c *Config) { c.Services.Payment.Workers = 0 },
		"journeys":   func(c *Config) { c.Journeys = Journeys{} },
		"queue":      func(c *Config) { c.Queue.Prefetch = 0 },
		"policy":     func(c *Config) { c.Cache.Policy = "fifo" },
		"partition":  func(c *Config) { c.Faults.Partitions = []Partition{{A: "order", B: "db"}} },
		"error_code": func(c *Config) { c.Faults.Service.Cart.ErrorCode = 404 },
		"monolith":   func(c *Config) { c.Topology, c.Autoscaling.Enabled = Monolith, true },
	} {
		cfg := DefaultConfig()
		mut(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: bad value accepted", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
