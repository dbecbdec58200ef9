package simulator

import (
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

func exposition(t *testing.T, s *Shop) string {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/demo/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("exposition: %d", rec.Code)
	}
	return rec.Body.String()
}

// metric finds one metric's value in the shop's registry: a counter's or
// gauge's value, or for a histogram its sample count and sum.
func metric(t *testing.T, s *Shop, name string, kv ...string) (value, sum float64) {
	t.Helper()
	for _, m := range matching(t, s, name, kv...) {
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), 0
		case m.Gauge != nil:
			return m.Gauge.GetValue(), 0
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), m.Histogram.GetSampleSum()
		}
	}
	return 0, 0
}

// matching returns the series of a metric whose labels include the pairs.
func matching(t *testing.T, s *Shop, name string, kv ...string) []*dto.Metric {
	t.Helper()
	mfs, err := s.m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i < len(kv); i += 2 {
				if !hasLabel(m, kv[i], kv[i+1]) {
					continue next
				}
			}
			out = append(out, m)
		}
	}
	return out
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue() == value
		}
	}
	return value == ""
}

func TestDeterministicUnderSeed(t *testing.T) {
	run := func(seed uint64) string {
		cfg := browseConfig()
		cfg.Seed = seed
		s, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Advance(20 * time.Second)
		storm := s.Config()
		storm.Timeouts.GatewayMs, storm.Retries.MaxAttempts = 600, 3
		storm.Faults.DBErrorRatio = 0.05
		storm.Faults.GCPauseMs, storm.Faults.GCIntervalS, storm.Faults.LeakMsPerMin = 50, 3, 5
		storm.Breaker.Enabled = true
		storm.ProductReplicas, storm.LoadBalancer = 3, PowerOfTwo
		storm.Autoscaling.Enabled = true
		storm.Schedule = []Change{{AtS: 5, DurationS: 5, Set: map[string]any{"db": map[string]any{"index": false}}}}
		if err := s.SetConfig(storm); err != nil {
			t.Fatal(err)
		}
		s.Advance(20 * time.Second)
		on := s.Config()
		on.Cache.Enabled = true
		on.RateLimit.Enabled = true
		on.Autoscaling.Enabled, on.Serverless.Enabled = false, true
		on.Load.Model, on.Load.Users = ClosedModel, 40
		if err := s.SetConfig(on); err != nil {
			t.Fatal(err)
		}
		s.Advance(20 * time.Second)
		return exposition(t, s)
	}
	a, b, c := run(7), run(7), run(8)
	if a != b {
		t.Error("two runs with the same seed and knob timeline gave different expositions")
	}
	if a == c {
		t.Error("different seeds gave identical expositions")
	}
	if !strings.Contains(a, `shop_requests_total{code="200",route="/api/products/:id",service="gateway"}`) {
		t.Errorf("exposition lacks the gateway request counter:\n%s", a[:min(len(a), 2000)])
	}
}

// erlangC is the probability that an arrival waits in an M/M/c queue.
func erlangC(c int, lambda, mu float64) float64 {
	a := lambda / mu // offered load in erlangs
	rho := a / float64(c)
	sum, term := 0.0, 1.0
	for k := 0; k < c; k++ {
		if k > 0 {
			term *= a / float64(k)
		}
		sum += term
	}
	top := term * a / float64(c) / (1 - rho) // a^c/c! · 1/(1−ρ)
	return top / (sum + top)
}

// TestQueueingTheory runs the database alone as an M/M/c station (Poisson
// arrivals, exponential service, no cache, no hops, no CPU, workers never
// scarce) and compares what its metrics say with theory, a = λ/μ, ρ = a/c:
//
//	P(wait)  = C(c, a)                      (Erlang C)
//	Lq       = C(c, a) · ρ / (1 − ρ)        (mean queue length)
//	W        = C(c, a) / (cμ − λ) + 1/μ     (mean response time)
//
// Each case is the mean of four independent replications (seeds 1–4), the
// standard way to put an error bar on a simulation. Tolerance 3 %: across
// seeds one 2000 s run of M/M/1 at ρ = 0.8 (the hardest case: its waiting
// time variance grows as 1/(1−ρ)⁴) scatters W and Lq by about 0.5 to 1 %,
// mostly from how many arrivals the Poisson process happened to make, so the
// mean of four sits well inside 3 % for a correct simulation and well
// outside it for a wrong service or arrival law. Seeds are fixed, so the
// outcome does not flake. Little's law (L = λW) holds on any sample path up
// to the requests still inside at the end, so it gets 1 %.
func TestQueueingTheory(t *testing.T) {
	if testing.Short() {
		t.Skip("long simulation")
	}
	const mu = 1000.0 // 1 ms mean service
	for _, tc := range []struct {
		name    string
		c       int
		rho     float64
		seconds float64
	}{
		{"M/M/1 ρ=0.5", 1, 0.5, 200},
		{"M/M/1 ρ=0.8", 1, 0.8, 1000},
		{"M/M/4 ρ=0.5", 4, 0.5, 100},
		{"M/M/4 ρ=0.8", 4, 0.8, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lambda := tc.rho * float64(tc.c) * mu
			var T, n, sum, waited, queued, busy float64
			for seed := uint64(1); seed <= 4; seed++ {
				cfg := browseConfig()
				cfg.Seed, cfg.ArrivalRate, cfg.ProductWorkers, cfg.ProductQueue, cfg.DBConnections = seed, lambda, maxWorkers, 0, tc.c
				mdl := defaultModel()
				mdl.hop, mdl.cpu, mdl.cacheHit, mdl.db, mdl.zipfS = deterministic{0}, deterministic{0}, deterministic{0}, exponential{1 / mu}, 1.1
				s, err := newShop(cfg, mdl, nil)
				if err != nil {
					t.Fatal(err)
				}
				s.Advance(time.Duration(tc.seconds * float64(time.Second)))
				T += s.Elapsed().Seconds()
				cn, csum := metric(t, s, "shop_request_duration_seconds", "service", "db")
				cw, _ := metric(t, s, "shop_queue_waits_total", "service", "db")
				cq, _ := metric(t, s, "shop_queued_seconds_total", "service", "db")
				cb, _ := metric(t, s, "shop_busy_seconds_total", "service", "db")
				n, sum, waited, queued, busy = n+cn, sum+csum, waited+cw, queued+cq, busy+cb
			}
			// Pooled over the replications: equal lengths, so these are their means.
			c := erlangC(tc.c, lambda, mu)
			for _, q := range []struct {
				what      string
				got, want float64
				tol       float64
			}{
				{"P(wait)", waited / n, c, 0.03},
				{"Lq", queued / T, c * tc.rho / (1 - tc.rho), 0.03},
				{"W", sum / n, c/(float64(tc.c)*mu-lambda) + 1/mu, 0.03},
				{"Little: L vs λW", (busy + queued) / T, n / T * sum / n, 0.01},
			} {
				t.Logf("%-16s %.5f, expected %.5f (%+.2f %%)", q.what, q.got, q.want, 100*(q.got/q.want-1))
				if math.Abs(q.got/q.want-1) > q.tol {
					t.Errorf("%s = %.5f, theory %.5f: off by more than %.0f %%", q.what, q.got, q.want, q.tol*100)
				}
			}
		})
	}
}

// TestPollaczekKhinchine runs the database alone as an M/G/1 station with
// the db.distribution knob and compares its mean response time with the
// Pollaczek–Khinchine formula, which holds for any service law with mean m
// and squared coefficient of variation c²:
//
//	W = m + ρ·m·(1 + c²) / (2(1 − ρ))
//
// Deterministic (c² = 0) queues half as long as exponential (c² = 1); the
// hyper-exponential (c² = 4) two and a half times as long (the exponential
// case is TestQueueingTheory's M/M/1). Same four-seed
// replication and 3 % tolerance as TestQueueingTheory; the heavy-tailed case
// runs at ρ = 0.5 because its waiting time's variance grows with c⁴.
func TestPollaczekKhinchine(t *testing.T) {
	if testing.Short() {
		t.Skip("long simulation")
	}
	const m = 0.001
	for _, tc := range []struct {
		dist    string
		scv     float64
		rho     float64
		seconds float64
	}{
		{Deterministic, 0, 0.8, 500},
		{HyperExponential, 4, 0.5, 1000},
	} {
		var n, sum float64
		for seed := uint64(1); seed <= 4; seed++ {
			cfg := browseConfig()
			cfg.Seed, cfg.ArrivalRate, cfg.ProductWorkers, cfg.ProductQueue, cfg.DBConnections = seed, tc.rho/m, maxWorkers, 0, 1
			cfg.DB.Distribution = tc.dist
			mdl := defaultModel()
			mdl.hop, mdl.cpu, mdl.cacheHit, mdl.db = deterministic{0}, deterministic{0}, deterministic{0}, exponential{m}
			s, err := newShop(cfg, mdl, nil)
			if err != nil {
				t.Fatal(err)
			}
			s.Advance(time.Duration(tc.seconds * float64(time.Second)))
			cn, csum := metric(t, s, "shop_request_duration_seconds", "service", "db")
			n, sum = n+cn, sum+csum
		}
		want := m + tc.rho*m*(1+tc.scv)/(2*(1-tc.rho))
		t.Logf("M/G/1 %-16s ρ=%.1f: W %.4f ms, P-K %.4f ms (%+.2f %%)", tc.dist, tc.rho, 1000*sum/n, 1000*want, 100*(sum/n/want-1))
		if math.Abs(sum/n/want-1) > 0.03 {
			t.Errorf("%s: W = %.4f ms, Pollaczek–Khinchine %.4f ms", tc.dist, 1000*sum/n, 1000*want)
		}
	}
}

// TestLittlesLawPerService checks L = λW on each station of the default shop,
// overloaded (503s, full queues) and with the cache on. L comes from the
// time-integral counters, λ and W from the request counter and latency
// histogram, as a PromQL user would compute them. 1 %: the only gap is the
// requests still inside when the run ends.
func TestLittlesLawPerService(t *testing.T) {
	for _, cache := range []bool{false, true} {
		cfg := browseConfig()
		cfg.Cache.Enabled = cache
		s, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Advance(300 * time.Second)
		T := s.Elapsed().Seconds()
		for _, svc := range []string{"product", "db"} {
			n, sum := metric(t, s, "shop_request_duration_seconds", "service", svc)
			busy := sumOf(t, s, "shop_busy_seconds_total", "service", svc)
			queued := sumOf(t, s, "shop_queued_seconds_total", "service", svc)
			l, lw := (busy+queued)/T, n/T*(sum/n)
			t.Logf("cache %v, %s: L = %.4f, λW = %.4f", cache, svc, l, lw)
			if math.Abs(l/lw-1) > 0.01 {
				t.Errorf("cache %v, %s: L = %.4f but λW = %.4f", cache, svc, l, lw)
			}
		}
	}
}

// TestCacheRescuesTheDefaultShop: with the defaults, no cache means an
// overloaded database, queueing and 503s; the cache cuts the database's
// load by its hit ratio and removes both.
func TestCacheRescuesTheDefaultShop(t *testing.T) {
	measure := func(cache bool) (p99, errRatio, dbPerReq, hitRatio float64) {
		cfg := browseConfig()
		cfg.Cache.Enabled = cache
		s, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Advance(30 * time.Second) // warm up: the cache fills, the queue settles
		ok0, _ := metric(t, s, "shop_requests_total", "service", "gateway", "code", "200")
		bad0, _ := metric(t, s, "shop_requests_total", "service", "gateway", "code", "503")
		db0, _ := metric(t, s, "shop_requests_total", "service", "db")
		hit0, _ := metric(t, s, "shop_cache_hits_total")
		miss0, _ := metric(t, s, "shop_cache_misses_total")
		before := bucketCounts(t, s)
		s.Advance(60 * time.Second)
		ok, _ := metric(t, s, "shop_requests_total", "service", "gateway", "code", "200")
		bad, _ := metric(t, s, "shop_requests_total", "service", "gateway", "code", "503")
		db, _ := metric(t, s, "shop_requests_total", "service", "db")
		hit, _ := metric(t, s, "shop_cache_hits_total")
		miss, _ := metric(t, s, "shop_cache_misses_total")
		after := bucketCounts(t, s)
		total := (ok - ok0) + (bad - bad0)
		if lookups := (hit - hit0) + (miss - miss0); lookups > 0 {
			hitRatio = (hit - hit0) / lookups
		}
		return quantile(0.99, before, after), (bad - bad0) / total, (db - db0) / (ok - ok0), hitRatio
	}
	p99Off, errOff, dbOff, _ := measure(false)
	p99On, errOn, dbOn, h := measure(true)
	t.Logf("cache off: p99 ≤ %.0f ms, %.1f %% 503s, %.2f queries per served request", p99Off*1000, errOff*100, dbOff)
	t.Logf("cache on:  p99 ≤ %.0f ms, %.1f %% 503s, %.2f queries per served request, hit ratio %.3f", p99On*1000, errOn*100, dbOn, h)
	if errOff < 0.05 {
		t.Errorf("without the cache only %.1f %% of requests were refused; the demo should be visibly overloaded", errOff*100)
	}
	if errOn != 0 {
		t.Errorf("with the cache %.2f %% of requests were refused, want none", errOn*100)
	}
	if !(p99On*4 <= p99Off) {
		t.Errorf("p99 bucket with the cache %.0f ms is not a quarter of %.0f ms without", p99On*1000, p99Off*1000)
	}
	if h < 0.8 {
		t.Errorf("warm hit ratio %.3f, want ≥ 0.8", h)
	}
	// Every miss is one query; every hit saves one: load falls by h (±2 %).
	if math.Abs(dbOn-(1-h)*dbOff) > 0.02 {
		t.Errorf("queries per request %.3f with the cache, want (1 − %.3f) × %.3f", dbOn, h, dbOff)
	}
}

// bucketCounts returns the gateway latency histogram's cumulative buckets.
func bucketCounts(t *testing.T, s *Shop) []float64 {
	t.Helper()
	mfs, _ := s.m.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "shop_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabel(m, "service", "gateway") {
				var out []float64
				for _, b := range m.Histogram.GetBucket() {
					out = append(out, float64(b.GetCumulativeCount()))
				}
				return append(out, float64(m.Histogram.GetSampleCount()))
			}
		}
	}
	t.Fatal("no gateway histogram")
	return nil
}

// quantile returns the upper bound of the bucket holding quantile q of the
// observations between two snapshots (a conservative p99).
func quantile(q float64, before, after []float64) float64 {
	total := after[len(after)-1] - before[len(before)-1]
	for i, ub := range latencyBuckets {
		if after[i]-before[i] >= q*total {
			return ub
		}
	}
	return math.Inf(1)
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.ArrivalRate = -3 }, "arrival_rate must be in (0, 100000], got -3"},
		{func(c *Config) { c.Speed = 1000 }, "speed must be in [0.25, 100]"},
		{func(c *Config) { c.ArrivalRate = math.NaN() }, "arrival_rate"},
		{func(c *Config) { c.ProductWorkers = 0 }, "product_workers"},
		{func(c *Config) { c.ProductQueue = -1 }, "product_queue"},
		{func(c *Config) { c.DBConnections = 0 }, "db_connections"},
		{func(c *Config) { c.Cache.Capacity = catalogSize + 1 }, "cache.capacity"},
	} {
		c := DefaultConfig()
		tc.mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error with %q", c, err, tc.want)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("the default config is invalid: %v", err)
	}
	s, _ := New(DefaultConfig(), nil)
	c := s.Config()
	c.Seed++
	if err := s.SetConfig(c); err == nil || !strings.Contains(err.Error(), "seed") {
		t.Errorf("changing the seed live: %v, want an error", err)
	}
	c = s.Config()
	c.DBConnections = 0
	if err := s.SetConfig(c); err == nil || s.Config().DBConnections != DefaultConfig().DBConnections {
		t.Errorf("an invalid config was applied: %v", err)
	}
}

func TestLRU(t *testing.T) {
	c := newLRU(10, 2)
	c.put(1, 0)
	c.put(2, 0)
	c.get(1)          // 2 is now least recently used
	if !c.put(3, 0) { // evicts 2
		t.Error("a full cache did not evict")
	}
	if !c.get(1) || c.get(2) || !c.get(3) {
		t.Errorf("after evicting: 1 %v 2 %v 3 %v, want true false true", c.in[1], c.in[2], c.in[3])
	}
	c.clear()
	if c.size != 0 || c.get(1) {
		t.Error("clear left entries")
	}
}

func BenchmarkAdvance(b *testing.B) {
	s, err := New(DefaultConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := s.eng.fired
	for i := 0; i < b.N; i++ {
		s.Advance(10 * time.Second)
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(s.eng.fired-start)/sec, "events/s")
	b.ReportMetric(float64(b.N)*10/sec, "x-realtime")
}

// browseConfig is the shop as it was before it had other journeys: every
// user browses product pages, the path most tests are about, and the
// database has 5 connections (125 queries/s at most), so 150 requests/s
// overload it as the default mix overloads 4.
func browseConfig() Config {
	c := DefaultConfig()
	c.Journeys = Journeys{Browse: 1}
	c.DBConnections = 5
	return c
}
