package simulator

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// model is the shop's fixed physics: the times that are not knobs.
type model struct {
	hop      dist    // one network hop, gateway ↔ product
	cpu      dist    // product worker's own work per request
	cacheHit dist    // serving a cache hit
	db       dist    // one database query
	zipfS    float64 // product popularity exponent (> 1)
}

// defaultModel: sub-millisecond hops, 1 ms of CPU, a 40 ms mean query with a
// log-normal tail (sigma 0.5: p99 ≈ 3× the median).
func defaultModel() model {
	return model{
		hop:      shifted{0.0003, exponential{0.0002}},
		cpu:      exponential{0.001},
		cacheHit: shifted{0.0001, exponential{0.0001}},
		db:       newLogNormal(0.040, 0.5),
		zipfS:    1.2,
	}
}

// request is one user request in flight. Requests live in a slab and are
// reused, so the hot path does not allocate.
type request struct {
	start     float64 // intended send time: latency is measured from here
	atProduct float64
	atDB      float64
	product   int32
	code      int16
	attempt   int16  // tries so far, 1 for the first
	abandoned bool   // the gateway gave up on this try; its answer is thrown away
	probe     bool   // this try is a half-open circuit-breaker probe
	refused   bool   // the open circuit breaker refused this try at the gateway
	replica   int16  // the product instance serving this try
	lost      bool   // a partition swallowed this try: no answer will come
	user      bool   // sent by a virtual user, who sends again after the answer
	queries   int16  // database queries this try has still to make, the current one included
	queryNo   int16  // which query of the page the current one is, from 0
	next      int32  // free list / queue link
	gen       uint32 // bumped on every reuse of the slot, so stale timers are ignored
}

// queue is a FIFO of request indices, linked through request.next.
type queue struct {
	head, tail int32
	n          int
}

func newQueue() queue { return queue{head: -1, tail: -1} }

func (q *queue) push(reqs []request, i int32) {
	reqs[i].next = -1
	if q.tail >= 0 {
		reqs[q.tail].next = i
	} else {
		q.head = i
	}
	q.tail = i
	q.n++
}

func (q *queue) pop(reqs []request) int32 {
	i := q.head
	q.head = reqs[i].next
	if q.head < 0 {
		q.tail = -1
	}
	q.n--
	return i
}

// Shop is the simulated online shop. Its methods are safe for concurrent use.
type Shop struct {
	logger *slog.Logger
	m      *metrics
	model  model

	mu     sync.Mutex
	cfg    Config
	eng    engine
	rng    *rand.Rand
	zipf   *rand.Zipf
	cache  *lru
	reqs   []request
	free   int32
	arrGen uint32
	loadAt float64 // virtual time the load schedule (stages, sine) started

	products []station // instances of the product service; those past ProductReplicas drain and idle
	db       station
	rr       int // round-robin position
	inSystem int

	breaker   breaker // the gateway's, in front of the product service
	loading   []int32 // per product: the request reading it from the database for the cache, or -1
	waiting   []int32 // per product: requests waiting for that read, linked through request.next
	scaler    scaler
	sched     schedule
	leakSince float64 // virtual time the memory-leak fault began
	users     int     // closed model: virtual users currently looping
	userGen   uint32  // bumped when the closed model ends, retiring users' timers
	tokens    float64 // the gateway's rate-limit bucket
	tokensAt  float64 // virtual time tokens were last refilled
}

// New makes a shop at virtual time zero. Nothing runs until Run or Advance.
func New(cfg Config, logger *slog.Logger) (*Shop, error) {
	return newShop(cfg, defaultModel(), logger)
}

func newShop(cfg Config, mdl model, logger *slog.Logger) (*Shop, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Shop{
		logger: logger, m: newMetrics(), model: mdl, cfg: cfg,
		rng:   rand.New(rand.NewPCG(cfg.Seed, 0x5eed)),
		cache: newLRU(catalogSize, cfg.Cache.Capacity),
		free:  -1,
	}
	s.db = newStation(s.m.station("db", "0"))
	s.loading, s.waiting = make([]int32, catalogSize), make([]int32, catalogSize)
	for p := range s.loading {
		s.loading[p], s.waiting[p] = -1, -1
	}
	s.ensureReplicas(cfg.ProductReplicas)
	if cfg.Autoscaling.Enabled {
		s.startAutoscaler()
	}
	if len(cfg.Schedule) > 0 {
		if err := checkSchedule(cfg); err != nil {
			return nil, err
		}
		s.startSchedule(cfg.Schedule) // counted from the shop's start
	}
	s.zipf = rand.NewZipf(s.rng, mdl.zipfS, 1, catalogSize-1)
	if cfg.Load.Model == ClosedModel {
		s.spawnUsers()
	} else {
		s.scheduleArrival()
	}
	return s, nil
}

// Config returns the knobs in force, a deep copy the caller may change.
func (s *Shop) Config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.clone()
}

// SetConfig validates cfg and applies it at the current virtual time.
func (s *Shop) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.clone() // the caller keeps its slices and maps; the shop keeps its own
	s.mu.Lock()
	defer s.mu.Unlock()
	if cfg.Seed != s.cfg.Seed {
		return fmt.Errorf("seed is fixed when the shop starts (%d); got %d", s.cfg.Seed, cfg.Seed)
	}
	if !slices.EqualFunc(cfg.Schedule, s.cfg.Schedule, equalChange) {
		if err := checkSchedule(cfg); err != nil {
			return err
		}
		s.startSchedule(cfg.Schedule)
	}
	s.apply(cfg)
	return nil
}

// apply puts cfg in force at the current virtual time. Caller holds mu and
// has validated cfg.
func (s *Shop) apply(cfg Config) {
	old := s.cfg
	s.cfg = cfg
	if cfg.Load.Model == ClosedModel {
		s.spawnUsers() // open arrivals stop at their next event; users start or stop
	}
	if cfg.Load.Model != old.Load.Model && cfg.Load.Model == OpenModel {
		s.userGen++ // users thinking stop now; those waiting stop at their answer
		s.arrGen++
		s.scheduleArrival()
	} else if !slices.Equal(cfg.Load.Stages, old.Load.Stages) || cfg.Load.SineAmplitude != old.Load.SineAmplitude || cfg.Load.SinePeriodS != old.Load.SinePeriodS {
		s.loadAt = s.eng.now // a new schedule starts now
		s.arrGen++
		s.scheduleArrival()
	} else if cfg.ArrivalRate != old.ArrivalRate {
		s.arrGen++ // the pending arrival was drawn at the old rate
		s.scheduleArrival()
	}
	if cfg.Autoscaling.Enabled != old.Autoscaling.Enabled || cfg.Autoscaling.IntervalMs != old.Autoscaling.IntervalMs {
		s.stopAutoscaler()
		if cfg.Autoscaling.Enabled {
			s.startAutoscaler()
		}
	}
	if !cfg.Breaker.Enabled {
		s.breaker = breaker{} // switched off, it forgets; switched on, it starts closed
	}
	if !cfg.Cache.Enabled {
		s.cache.clear() // a cache switched off forgets; switched on it starts cold
	}
	s.cache.resize(cfg.Cache.Capacity)
	s.m.cacheEntries.Set(float64(s.cache.size))
	if cfg.Faults.LeakMsPerMin > 0 && old.Faults.LeakMsPerMin == 0 {
		s.leakSince = s.eng.now // the leak starts growing now; clearing it is a restart
	}
	if cfg.Serverless.Enabled != old.Serverless.Enabled {
		s.switchServerless(cfg.Serverless.Enabled)
	}
	// New instances, workers or connections start serving the queues now.
	s.ensureReplicas(cfg.ProductReplicas)
	s.db.advance(s.eng.now)
	for r := range s.products {
		s.products[r].advance(s.eng.now)
		s.drainProduct(r)
	}
	s.drainDB()
	s.updateGauges()
}

// Handler serves the shop's exposition. It holds the shop still while it
// gathers, so one scrape sees one consistent instant.
func (s *Shop) Handler() http.Handler {
	h := promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// Elapsed is the virtual time since the shop was made.
func (s *Shop) Elapsed() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Duration(s.eng.now * float64(time.Second))
}

// Advance runs virtual time forward by d as fast as the CPU allows.
func (s *Shop) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advanceTo(s.eng.now + d.Seconds())
}

// Run paces virtual time to the wall clock, at cfg.Speed virtual seconds per
// wall second, until ctx is done. A stall (a suspended laptop) is not made up
// beyond maxCatchUp: the shop skips that time rather than replaying it.
func (s *Shop) Run(ctx context.Context) error {
	const step, maxCatchUp = 10 * time.Millisecond, 5 * time.Second
	tick := time.NewTicker(step)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			wall := min(now.Sub(last), maxCatchUp)
			last = now
			s.mu.Lock()
			s.advanceTo(s.eng.now + wall.Seconds()*s.cfg.Speed)
			s.mu.Unlock()
		}
	}
}

// advanceTo handles every event due up to virtual time t. Caller holds mu.
func (s *Shop) advanceTo(t float64) {
	for {
		ev, ok := s.eng.next(t)
		if !ok {
			break
		}
		s.handle(ev)
	}
	s.eng.now = t
	for r := range s.products {
		s.products[r].advance(t)
	}
	s.db.advance(t)
	s.updateGauges()
}

func (s *Shop) handle(ev event) {
	switch ev.kind {
	case evUser:
		if ev.gen != s.userGen {
			s.users-- // the user's loop ended with a change of load model
			return
		}
		s.reqs[s.arrive()].user = true
	case evArrival:
		if ev.gen != s.arrGen || s.cfg.Load.Model != OpenModel {
			return // retired by a rate change
		}
		// Thinning (Lewis and Shedler): candidates come at the schedule's
		// peak rate and each is kept with probability rate(now)/peak, which
		// makes a Poisson process of the time-varying rate.
		if peak := s.peakRate(); s.shaped() && s.rng.Float64()*peak >= s.rate(s.eng.now) {
			s.scheduleArrival()
			return
		}
		s.arrive()
		s.scheduleArrival()
	case evAtProduct:
		s.atProduct(ev.req)
	case evCPUDone:
		s.lookup(ev.req)
	case evHitDone:
		s.productDone(ev.req)
	case evDBDone:
		s.dbDone(ev.req)
	case evResponse:
		s.respond(ev.req)
	case evRetry:
		s.send(ev.req)
	case evTimeout:
		s.timeout(ev.req, ev.gen)
	case evAutoscale:
		s.autoscale(ev.gen)
	case evScaleUp:
		s.scaleUp(ev.gen)
	case evChange:
		s.runChange(ev.gen, ev.req)
	case evWarm:
		s.warm(int(ev.req), ev.gen)
	case evIdle:
		s.idleOut(int(ev.req), ev.gen)
	}
}

func (s *Shop) scheduleArrival() {
	rate := s.cfg.ArrivalRate
	if s.shaped() {
		rate = s.peakRate()
	}
	if rate <= 0 {
		// Nothing to send now; look again in a second in case a stage
		// raises the rate.
		s.eng.schedule(s.eng.now+1, evArrival, -1, s.arrGen)
		return
	}
	s.eng.schedule(s.eng.now+s.rng.ExpFloat64()/rate, evArrival, -1, s.arrGen)
}

// shaped reports whether a load schedule varies the rate.
func (s *Shop) shaped() bool { return len(s.cfg.Load.Stages) > 0 || s.cfg.Load.SineAmplitude > 0 }

// rate is the offered rate at virtual time t.
func (s *Shop) rate(t float64) float64 {
	l := s.cfg.Load
	rate, from, elapsed := s.cfg.ArrivalRate, s.cfg.ArrivalRate, t-s.loadAt
	for _, st := range l.Stages {
		if elapsed < st.DurationS {
			rate = from + (st.TargetRate-from)*elapsed/st.DurationS
			break
		}
		elapsed -= st.DurationS
		from, rate = st.TargetRate, st.TargetRate
	}
	if l.SineAmplitude > 0 {
		rate *= 1 + l.SineAmplitude*math.Sin(2*math.Pi*(t-s.loadAt)/l.SinePeriodS)
	}
	return rate
}

// peakRate bounds rate over the whole schedule, for thinning.
func (s *Shop) peakRate() float64 {
	peak := s.cfg.ArrivalRate
	for _, st := range s.cfg.Load.Stages {
		peak = max(peak, st.TargetRate)
	}
	return peak * (1 + s.cfg.Load.SineAmplitude)
}

func (s *Shop) alloc() int32 {
	if s.free >= 0 {
		i := s.free
		s.free = s.reqs[i].next
		return i
	}
	s.reqs = append(s.reqs, request{})
	return int32(len(s.reqs) - 1)
}

func (s *Shop) release(i int32) {
	s.reqs[i] = request{next: s.free, gen: s.reqs[i].gen + 1}
	s.free = i
}

func (s *Shop) arrive() int32 {
	i := s.alloc()
	r := &s.reqs[i]
	r.start = s.eng.now
	r.product = int32(s.zipf.Uint64())
	s.inSystem++
	s.m.offered.Inc()
	if s.cfg.RateLimit.Enabled && !s.takeToken() {
		s.m.rateLimited.Inc()
		r.code = 429
		s.respond(i)
		return i
	}
	s.send(i)
	return i
}

// send forwards request i from the gateway to the product service.
func (s *Shop) send(i int32) {
	r := &s.reqs[i]
	r.attempt++
	ok, probe := s.breaker.allow(s.cfg.Breaker, s.eng.now)
	if !ok {
		s.m.breakerRejected.Inc()
		r.code, r.refused = 503, true
		s.respond(i)
		return
	}
	r.probe, r.refused, r.code = probe, false, 0
	t := s.cfg.Timeouts.GatewayMs
	if s.cfg.Faults.Partition {
		// The try vanishes. Only a timeout ends it: the gateway's, or
		// without one the connection's own.
		r.lost = true
		if t == 0 {
			t = connectTimeoutMs
		}
	} else {
		s.eng.schedule(s.eng.now+s.hop(), evAtProduct, i, 0)
	}
	if t > 0 {
		s.eng.schedule(s.eng.now+t/1000, evTimeout, i, timerTag(r))
	}
}

// connectTimeoutMs ends a try lost to a partition when the gateway has no
// timeout of its own.
const connectTimeoutMs = 10_000

// timerTag names one try of one use of a slot.
func timerTag(r *request) uint32 { return r.gen<<4 | uint32(r.attempt) }

// timeout fires when a try has not answered in time. The try is abandoned
// where it is (its work goes on); the user's request either moves to a fresh
// slot for another try or is answered 504.
func (s *Shop) timeout(i int32, tag uint32) {
	r := &s.reqs[i]
	if r.abandoned || timerTag(r) != tag {
		return // answered in time, or the slot has moved on
	}
	s.m.timeouts.Inc()
	r.abandoned = true
	s.recordTry(r, true)
	lost := r.lost
	if int(r.attempt) < s.cfg.Retries.MaxAttempts {
		j := s.alloc()
		r = &s.reqs[i] // alloc may have grown the slab
		nr := &s.reqs[j]
		nr.start, nr.product, nr.attempt = r.start, r.product, r.attempt
		s.retry(j)
	} else {
		s.m.gateway504.Inc()
		s.m.gatewayLat.Observe(s.eng.now - r.start)
		s.answered(r)
	}
	if lost {
		s.release(i) // no answer will come to release it
	}
}

// recordTry tells the circuit breaker how a try that went through ended.
func (s *Shop) recordTry(r *request, failed bool) {
	if s.breaker.record(s.cfg.Breaker, s.eng.now, r.probe, failed) {
		s.m.breakerOpens.Inc()
	}
	r.probe = false
}

// retry sends request i again after a jittered, exponentially growing backoff.
func (s *Shop) retry(i int32) {
	s.m.retries.Inc()
	backoff := s.cfg.Retries.BackoffMs / 1000 * float64(int(1)<<(s.reqs[i].attempt-1))
	s.eng.schedule(s.eng.now+s.rng.Float64()*backoff, evRetry, i, 0)
}

// takeToken refills the gateway's bucket for the time passed and takes one
// token if there is one.
func (s *Shop) takeToken() bool {
	rl := s.cfg.RateLimit
	s.tokens = min(float64(rl.Burst), s.tokens+(s.eng.now-s.tokensAt)*rl.RPS)
	s.tokensAt = s.eng.now
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}

// ensureReplicas makes product instances up to n; instances are never
// removed, only taken out of rotation, so their queues drain.
func (s *Shop) ensureReplicas(n int) {
	for len(s.products) < n {
		st := newStation(s.m.station("product", strconv.Itoa(len(s.products))))
		st.last = s.eng.now
		s.products = append(s.products, st)
	}
}

// pickReplica is the gateway's load balancer over the instances in
// rotation; serverless, it is the platform's placement (-1: throttled).
func (s *Shop) pickReplica() int {
	if s.cfg.Serverless.Enabled {
		return s.placeServerless()
	}
	n := s.cfg.ProductReplicas
	if n == 1 {
		return 0
	}
	load := func(r int) int { return s.products[r].busy + s.products[r].q.n }
	switch s.cfg.LoadBalancer {
	case LeastConnections:
		best := 0
		for r := 1; r < n; r++ {
			if load(r) < load(best) {
				best = r
			}
		}
		return best
	case Random:
		return s.rng.IntN(n)
	case PowerOfTwo:
		a, b := s.rng.IntN(n), s.rng.IntN(n-1)
		if b >= a {
			b++ // two distinct instances
		}
		if load(b) < load(a) {
			return b
		}
		return a
	}
	s.rr = (s.rr + 1) % n
	return s.rr
}

func (s *Shop) atProduct(i int32) {
	r := s.pickReplica()
	if r < 0 { // serverless, at its instance limit
		s.m.throttled.Inc()
		s.reqs[i].code = 429
		s.eng.schedule(s.eng.now+s.hop(), evResponse, i, 0)
		return
	}
	if r == 0 && s.cfg.Faults.ProductDown {
		// Crashed: the connection is refused, nothing reaches the service.
		s.reqs[i].code = 503
		s.eng.schedule(s.eng.now+s.hop(), evResponse, i, 0)
		return
	}
	s.reqs[i].atProduct = s.eng.now
	s.reqs[i].replica = int16(r)
	st := &s.products[r]
	st.advance(s.eng.now)
	switch {
	case st.readyAt > s.eng.now: // cold-starting: wait for it
		st.q.push(s.reqs, i)
	case st.busy < s.workers():
		s.startProduct(i)
	case st.q.n < s.cfg.ProductQueue:
		st.q.push(s.reqs, i)
	default:
		// Refused at once: the product service answers 503 without work.
		s.m.product503.Inc()
		s.m.productLat.Observe(0)
		s.reqs[i].code = 503
		s.eng.schedule(s.eng.now+s.hop(), evResponse, i, 0)
	}
}

// startProduct gives request i a worker; the caller has advanced the station.
func (s *Shop) startProduct(i int32) {
	r := s.reqs[i].replica
	st := &s.products[r]
	st.busy++
	st.admitted(s.eng.now - s.reqs[i].atProduct)
	work := s.model.cpu.sample(s.rng)
	if hog := s.cfg.Faults.ProductCPUHog; r == 0 && hog > 1 {
		work *= hog
	}
	work += s.gcDelay(int(r)) + s.leak()
	s.eng.schedule(s.eng.now+work, evCPUDone, i, 0)
}

// lookup asks the cache, then the database on a miss.
func (s *Shop) lookup(i int32) {
	p := s.reqs[i].product
	if s.cfg.Cache.Enabled && !s.cfg.Faults.CacheDown {
		if ttl := s.cfg.Cache.TTLMs; ttl > 0 && s.cache.expired(p, s.eng.now-ttl/1000) {
			s.m.cacheExpired.Inc()
			s.m.cacheEntries.Set(float64(s.cache.size))
		}
		if s.cache.get(p) {
			s.m.cacheHits.Inc()
			s.eng.schedule(s.eng.now+s.model.cacheHit.sample(s.rng), evHitDone, i, 0)
			return
		}
		s.m.cacheMisses.Inc()
		if s.cfg.Cache.Coalesce {
			if s.loading[p] >= 0 {
				// Another request is already reading this product: wait
				// for its answer instead of adding a query (single flight).
				s.m.cacheCoalesced.Inc()
				s.reqs[i].next = s.waiting[p]
				s.waiting[p] = i
				return
			}
			s.loading[p] = i
		}
	} else if s.cfg.Cache.Enabled {
		s.m.cacheMisses.Inc()
	}
	s.reqs[i].queries, s.reqs[i].queryNo = 1, 0
	if s.cfg.DB.NPlusOne {
		s.reqs[i].queries = int16(1 + s.cfg.DB.RelatedItems)
	}
	s.query(i)
}

// query sends request i's next database query: it waits for a connection.
func (s *Shop) query(i int32) {
	s.db.advance(s.eng.now)
	s.reqs[i].atDB = s.eng.now
	if s.db.busy < s.cfg.DBConnections {
		s.startDB(i)
	} else {
		s.db.q.push(s.reqs, i)
	}
}

// queryTime draws how long request i's current query takes on a connection.
func (s *Shop) queryTime(i int32) float64 {
	t := s.model.db.sample(s.rng)
	if s.reqs[i].queries > 1 || s.reqs[i].queryNo > 0 { // part of an N+1 page
		if s.reqs[i].queryNo == 0 {
			t *= 0.5 // the product row
		} else {
			t *= 0.25 // one related item
		}
	}
	if !s.cfg.DB.Index {
		t *= scanFactor
	}
	return t + s.cfg.Faults.DBAddedLatencyMs/1000
}

// startDB gives request i a connection; the caller has advanced the station.
func (s *Shop) startDB(i int32) {
	s.db.busy++
	s.db.admitted(s.eng.now - s.reqs[i].atDB)
	s.eng.schedule(s.eng.now+s.queryTime(i), evDBDone, i, 0)
}

func (s *Shop) dbDone(i int32) {
	s.db.advance(s.eng.now)
	s.db.busy--
	s.m.dbLat.Observe(s.eng.now - s.reqs[i].atDB)
	s.reqs[i].code = 200
	// Draw only when the fault is on, so a shop without faults keeps the
	// random stream (and so the exact numbers) it had before faults existed.
	if f := s.cfg.Faults.DBErrorRatio; f > 0 && s.rng.Float64() < f {
		s.m.db500.Inc()
		s.reqs[i].code = 500
		s.drainDB()
		s.productDone(i)
		s.settleWaiters(i, 500)
		return
	}
	s.m.dbOK.Inc()
	if r := &s.reqs[i]; r.queries > 1 {
		// More queries to make for this page: give the connection back and
		// queue for one again, as an ORM's lazy loading does.
		r.queries--
		r.queryNo++
		s.drainDB()
		s.query(i)
		return
	}
	if s.cfg.Cache.Enabled && !s.cfg.Faults.CacheDown {
		if s.cache.put(s.reqs[i].product, s.eng.now) {
			s.m.cacheEvictions.Inc()
		}
		s.m.cacheEntries.Set(float64(s.cache.size))
	}
	s.drainDB()
	s.productDone(i)
	s.settleWaiters(i, 200)
}

// settleWaiters answers the requests that waited on leader's read of its
// product (coalesced misses) with leader's outcome.
func (s *Shop) settleWaiters(leader int32, code int16) {
	p := s.reqs[leader].product
	if s.loading[p] != leader {
		return
	}
	s.loading[p] = -1
	for w := s.waiting[p]; w >= 0; {
		next := s.reqs[w].next
		s.reqs[w].code = code
		s.productDone(w)
		w = next
	}
	s.waiting[p] = -1
}

func (s *Shop) productDone(i int32) {
	r := int(s.reqs[i].replica)
	s.products[r].advance(s.eng.now)
	s.products[r].busy--
	if s.reqs[i].code == 500 {
		s.m.product500.Inc()
	} else {
		s.reqs[i].code = 200
		s.m.productOK.Inc()
	}
	s.m.productLat.Observe(s.eng.now - s.reqs[i].atProduct)
	s.eng.schedule(s.eng.now+s.hop(), evResponse, i, 0)
	s.drainProduct(r)
	if st := &s.products[r]; s.cfg.Serverless.Enabled && st.busy+st.q.n == 0 {
		st.gen++
		s.eng.schedule(s.eng.now+s.cfg.Serverless.IdleTimeoutMs/1000, evIdle, int32(r), st.gen)
	}
}

// drainProduct hands instance r's free workers to its queued requests.
func (s *Shop) drainProduct(r int) {
	st := &s.products[r]
	for st.busy < s.workers() && st.q.n > 0 && st.readyAt <= s.eng.now {
		s.startProduct(st.q.pop(s.reqs))
	}
}

// drainDB hands free connections to queued queries.
func (s *Shop) drainDB() {
	for s.db.busy < s.cfg.DBConnections && s.db.q.n > 0 {
		s.startDB(s.db.q.pop(s.reqs))
	}
}

// respond is an answer reaching the gateway: a 5xx with tries left is sent
// again after a jittered backoff; anything else goes back to the user.
func (s *Shop) respond(i int32) {
	r := &s.reqs[i]
	if r.abandoned {
		s.m.late.Inc() // the gateway stopped waiting: work done for nobody
		s.release(i)
		return
	}
	if r.code != 429 && !r.refused {
		s.recordTry(r, r.code >= 500)
	}
	if r.code >= 500 && int(r.attempt) < s.cfg.Retries.MaxAttempts {
		s.retry(i)
		return
	}
	switch r.code {
	case 200:
		s.m.gatewayOK.Inc()
	case 429:
		s.m.gateway429.Inc()
	case 500:
		s.m.gateway500.Inc()
	default:
		s.m.gateway503.Inc()
	}
	s.m.gatewayLat.Observe(s.eng.now - r.start)
	s.answered(r)
	s.release(i)
}

// answered ends a user's request; a virtual user thinks, then sends again
// (or stops, if there are now fewer users than looping).
func (s *Shop) answered(r *request) {
	s.inSystem--
	if !r.user {
		return
	}
	if s.cfg.Load.Model != ClosedModel || s.users > s.cfg.Load.Users {
		s.users--
		return
	}
	s.eng.schedule(s.eng.now+s.rng.ExpFloat64()*s.cfg.Load.ThinkMs/1000, evUser, -1, s.userGen)
}

// updateGauges publishes the stations' state and integrals up to now.
func (s *Shop) updateGauges() {
	s.m.gatewayInFlight.Set(float64(s.inSystem))
	s.m.breakerState.Set(float64(s.breaker.state))
	inProduct := 0
	for r := range s.products {
		st := &s.products[r]
		servers := s.workers()
		switch {
		case s.cfg.Serverless.Enabled && !st.alive:
			servers = 0
		case !s.cfg.Serverless.Enabled && r >= s.cfg.ProductReplicas && st.busy+st.q.n == 0:
			servers = 0 // out of rotation and drained
		}
		st.flush(servers)
		inProduct += st.busy + st.q.n
	}
	s.m.productInFlight.Set(float64(inProduct))
	s.m.productReplicas.Set(float64(s.liveReplicas()))
	s.db.flush(s.cfg.DBConnections)
	s.m.edgeCache.Set(b2f(s.cfg.Cache.Enabled))
	s.m.dbInFlight.Set(float64(s.db.busy + s.db.q.n))
}
