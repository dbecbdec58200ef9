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
	hop       dist    // one network hop, gateway ↔ product
	cpu       dist    // product worker's own work per request
	cacheHit  dist    // serving a cache hit
	db        dist    // one database query
	zipfS     float64 // product popularity exponent (> 1)
	edgeRTT   dist    // a round trip between the user and a CDN edge
	originRTT dist    // a round trip between the user and the shop's region (or an edge and the region)
	specs     [numNodes]spec
}

// defaultModel: sub-millisecond hops, 1 ms of CPU, a 40 ms mean query with a
// log-normal tail (sigma 0.5: p99 ≈ 3× the median).
func defaultModel() model {
	return model{
		hop:       shifted{0.0003, exponential{0.0002}},
		cpu:       exponential{0.001},
		cacheHit:  shifted{0.0001, exponential{0.0001}},
		db:        newLogNormal(0.040, 0.5),
		zipfS:     1.2,
		edgeRTT:   shifted{0.004, exponential{0.004}},
		originRTT: shifted{0.040, exponential{0.010}},
		specs:     defaultSpecs(),
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

	journey    journey
	mono       bool  // sent while the shop was a monolith: it is served there
	accepted   bool  // checkout only: the order was queued, so the answer is 202
	viaCDN     bool  // an image request the CDN edge sent on: the edge keeps the answer
	depth      int8  // frames in use: 0 on the product path
	deliveries int8  // a queue message's deliveries so far
	twin       int32 // the other try of a hedged pair, or -1
	sentAt     float64
	qdist      dist // the current query's time, for a generic service
	frames     [maxDepth]frame
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
	netRng *rand.Rand // the user's network, which changes nothing in the shop: its own stream
	dbDist dist       // a product query's time: the model's, or db.distribution with its mean
	zipf   *rand.Zipf
	cache  cacheSet
	reqs   []request
	free   int32
	arrGen uint32
	loadAt float64 // virtual time the load schedule (stages, sine) started

	products []station // instances of the product service; those past ProductReplicas drain and idle
	db       station
	rr       int // round-robin position
	inSystem int

	mono       []station                // instances of the monolith
	svcs       [numNodes][]station      // instances of each generic service
	rrs        [numNodes]int            // round-robin positions
	consumers  []station                // the queue's consumers: one worker each, prefetched messages queued
	broker     broker                   // the message queue
	cdn        *lru                     // the CDN edge's image cache
	edgesShown [numNodes][numNodes]bool // topology edges ever published
	flushed    bool                     // faults.cache_flush as last applied

	breakers  [jMessage]breaker // the gateway's, one per route (upstream service)
	loading   []int32           // per product: the request reading it from the database for the cache, or -1
	waiting   []int32           // per product: requests waiting for that read, linked through request.next
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
		rng:    rand.New(rand.NewPCG(cfg.Seed, 0x5eed)),
		netRng: rand.New(rand.NewPCG(cfg.Seed, 0x2e7)),
		cache:  newCache(cfg.Cache.Policy, catalogSize, cfg.Cache.Capacity),
		free:   -1,
	}
	s.db = newStation(s.m.station("db", "0"))
	s.dbDist = s.queryDist(cfg.DB.Distribution)
	s.cdn = newLRU(catalogSize, cfg.CDN.Capacity)
	s.broker.ready = newQueue()
	s.ensurePools()
	s.setTopology()
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
		s.breakers = [jMessage]breaker{} // switched off, they forget; switched on, they start closed
	}
	if cfg.Cache.Policy != old.Cache.Policy {
		s.cache = newCache(cfg.Cache.Policy, catalogSize, cfg.Cache.Capacity) // a new policy starts cold
	}
	if !cfg.Cache.Enabled || (cfg.Faults.CacheFlush && !s.flushed) {
		s.cache.clear() // a cache switched off (or flushed) forgets; switched on it starts cold
	}
	s.flushed = cfg.Faults.CacheFlush
	s.dbDist = s.queryDist(cfg.DB.Distribution)
	if !cfg.CDN.Enabled {
		s.cdn.clear()
	}
	s.cdn.resize(cfg.CDN.Capacity)
	s.cache.resize(cfg.Cache.Capacity)
	s.m.cacheEntries.Set(float64(s.cache.len()))
	if cfg.Faults.LeakMsPerMin > 0 && old.Faults.LeakMsPerMin == 0 {
		s.leakSince = s.eng.now // the leak starts growing now; clearing it is a restart
	}
	if cfg.Serverless.Enabled != old.Serverless.Enabled {
		s.switchServerless(cfg.Serverless.Enabled)
	}
	// New instances, workers or connections start serving the queues now.
	s.ensureReplicas(cfg.ProductReplicas)
	s.ensurePools()
	s.db.advance(s.eng.now)
	for r := range s.products {
		s.products[r].advance(s.eng.now)
		s.drainProduct(r)
	}
	for r := range s.mono {
		s.mono[r].advance(s.eng.now)
		s.drainMono(r)
	}
	for _, n := range services {
		for r := range s.svcs[n] {
			s.svcs[n][r].advance(s.eng.now)
			s.drainPool(n, false, r)
		}
	}
	for r := range s.consumers {
		s.consumers[r].advance(s.eng.now)
		s.drainPool(nWorker, false, r)
	}
	s.dispatch()
	s.drainDB()
	s.setTopology()
	s.updateGauges()
}

// ensurePools makes the instances of the monolith and of each generic
// service up to what the config asks for.
func (s *Shop) ensurePools() {
	grow := func(sts []station, name string, n int) []station {
		for len(sts) < n {
			st := newStation(s.m.station(name, strconv.Itoa(len(sts))))
			st.last = s.eng.now
			sts = append(sts, st)
		}
		return sts
	}
	if s.cfg.Topology == Monolith {
		s.mono = grow(s.mono, "monolith", s.cfg.Monolith.Replicas)
	}
	for _, n := range services {
		if s.cfg.Topology == Microservices {
			s.svcs[n] = grow(s.svcs[n], nodeNames[n], s.cfg.Services.of(n).Replicas)
		}
	}
	s.ensureConsumers(s.cfg.Queue.Consumers)
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
			// A tick carries the time it was due, which can be before
			// last when this goroutine was late to start (a loaded
			// machine): such a tick moves nothing, rather than time back.
			wall := max(0, min(now.Sub(last), maxCatchUp))
			if now.After(last) {
				last = now
			}
			s.mu.Lock()
			s.advanceTo(s.eng.now + wall.Seconds()*s.cfg.Speed)
			s.mu.Unlock()
		}
	}
}

// advanceTo handles every event due up to virtual time t. Caller holds mu.
// Virtual time never goes back: a t before now changes nothing.
func (s *Shop) advanceTo(t float64) {
	if t < s.eng.now {
		return
	}
	for {
		ev, ok := s.eng.next(t)
		if !ok {
			break
		}
		s.handle(ev)
	}
	s.eng.now = t
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
	case evEnter:
		s.enter(ev.req)
	case evSvcArrive:
		s.svcArrive(ev.req)
	case evSvcStep:
		s.svcStep(ev.req)
	case evSvcReturn:
		s.svcReturn(ev.req)
	case evCDNHit:
		s.cdnHit(ev.req)
	case evOrigin:
		s.send(ev.req)
	case evHedge:
		s.hedge(ev.req, ev.gen)
	case evCPUDone:
		s.lookup(ev.req)
	case evHitDone:
		s.productDone(ev.req)
	case evDBDone:
		s.dbDone(ev.req)
	case evResponse:
		r := &s.reqs[ev.req]
		s.m.edge(nGateway, r.place(journeyEntry[r.journey])).observe(s.eng.now-r.sentAt, r.code >= 500)
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
	r.journey = s.pickJourney()
	r.twin = -1
	s.inSystem++
	s.m.offered.Inc()
	if r.journey == jImages && s.cfg.CDN.Enabled {
		s.atEdge(i)
		return i
	}
	s.atGateway(i)
	return i
}

// atGateway is a user's request reaching the gateway: the rate limiter,
// then the first try.
func (s *Shop) atGateway(i int32) {
	if s.cfg.RateLimit.Enabled && !s.takeToken() {
		s.m.rateLimited.Inc()
		s.reqs[i].code = 429
		s.respond(i)
		return
	}
	s.send(i)
}

// pickJourney draws what an arriving user does. With one journey only, it
// draws nothing, so such a shop keeps the random stream it always had.
func (s *Shop) pickJourney() journey {
	w := s.cfg.Journeys.weights()
	total, only, n := 0.0, jBrowse, 0
	for j, x := range w {
		if x > 0 {
			total += x
			only = journey(j)
			n++
		}
	}
	if n == 1 {
		return only
	}
	u := s.rng.Float64() * total
	for j, x := range w {
		if u < x {
			return journey(j)
		}
		u -= x
	}
	return only
}

// send forwards request i from the gateway to the service of its route,
// through that route's circuit breaker.
func (s *Shop) send(i int32) {
	r := &s.reqs[i]
	r.attempt++
	browse := r.journey == jBrowse
	ok, probe := s.breakers[r.journey].allow(s.cfg.Breaker, s.eng.now)
	if !ok {
		s.m.breakerRejected.Inc()
		r.code, r.refused = 503, true
		s.respond(i)
		return
	}
	r.probe = probe
	r.refused, r.code = false, 0
	r.sentAt, r.mono = s.eng.now, s.cfg.Topology == Monolith
	t := s.cfg.Timeouts.GatewayMs
	if (browse && s.cfg.Faults.Partition) || (!r.mono && s.partitioned(nGateway, journeyEntry[r.journey])) {
		// The try vanishes. Only a timeout ends it: the gateway's, or
		// without one the connection's own.
		r.lost = true
		if t == 0 {
			t = connectTimeoutMs
		}
	} else if browse {
		s.eng.schedule(s.eng.now+s.hop(), evAtProduct, i, 0)
		if s.cfg.Hedging.Enabled && r.twin < 0 {
			s.eng.schedule(s.eng.now+s.cfg.Hedging.DelayMs/1000, evHedge, i, timerTag(r))
		}
	} else {
		s.eng.schedule(s.eng.now+s.hop(), evEnter, i, 0)
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
	if tw := r.twin; tw >= 0 {
		s.reqs[tw].twin = -1 // the other try of the hedge carries on alone
		r.twin = -1
		if lost {
			s.release(i)
		}
		return
	}
	if int(r.attempt) < s.cfg.Retries.MaxAttempts {
		j := s.newTry(i)
		r = &s.reqs[i] // newTry may have grown the slab
		s.retry(j)
	} else {
		s.m.gateway(r.journey, 504).Inc()
		s.m.gatewayLatency(r.journey).Observe(s.eng.now - r.start)
		s.answered(r)
	}
	if lost {
		s.release(i) // no answer will come to release it
	}
}

// newTry gives the user's request behind try i a fresh slot for another try
// (a retry, a hedge): the same intended start, product, route and user, and
// the tries made so far; the caller sends it.
func (s *Shop) newTry(i int32) int32 {
	j := s.alloc()
	r, nr := &s.reqs[i], &s.reqs[j] // after alloc, which may grow the slab
	nr.start, nr.product, nr.attempt, nr.journey, nr.viaCDN, nr.user, nr.twin = r.start, r.product, r.attempt, r.journey, r.viaCDN, r.user, -1
	return j
}

// recordTry tells the circuit breaker how a try that went through ended.
func (s *Shop) recordTry(r *request, failed bool) {
	if s.breakers[r.journey].record(s.cfg.Breaker, s.eng.now, r.probe, failed) {
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

// pickReplica is the gateway's load balancer over the product instances
// (or the monolith's) in rotation; serverless, it is the platform's
// placement (-1: throttled).
func (s *Shop) pickReplica(mono bool) int {
	if mono {
		return s.pick(s.mono, s.cfg.Monolith.Replicas, &s.rrs[nMonolith])
	}
	if s.cfg.Serverless.Enabled {
		return s.placeServerless()
	}
	return s.pick(s.products, s.cfg.ProductReplicas, &s.rr)
}

// productPool is where request i's product page is served: the product
// service's instances, or the monolith's; with each instance's workers and
// queue.
func (s *Shop) productPool(i int32) (sts []station, workers, queue int) {
	if s.reqs[i].mono {
		return s.mono, s.cfg.Monolith.Workers, s.cfg.Monolith.Queue
	}
	return s.products, s.workers(), s.cfg.ProductQueue
}

func (s *Shop) atProduct(i int32) {
	mono := s.reqs[i].mono
	r := s.pickReplica(mono)
	if tw := s.reqs[i].twin; tw >= 0 && !s.cfg.Serverless.Enabled && r == int(s.reqs[tw].replica) {
		if n := s.cfg.ProductReplicas; !mono && n > 1 {
			r = (r + 1) % n // a hedge goes to another instance than the try it hedges
		} else if n := s.cfg.Monolith.Replicas; mono && n > 1 {
			r = (r + 1) % n
		}
	}
	if r < 0 { // serverless, at its instance limit
		s.m.throttled.Inc()
		s.reqs[i].code = 429
		s.eng.schedule(s.eng.now+s.hop(), evResponse, i, 0)
		return
	}
	if r == 0 && (s.cfg.Faults.ProductDown || s.cfg.Faults.Service.Product.Down || (mono && s.monoDown())) {
		// Crashed: the connection is refused, nothing reaches the service.
		s.reqs[i].code = 503
		s.eng.schedule(s.eng.now+s.hop(), evResponse, i, 0)
		return
	}
	s.reqs[i].atProduct = s.eng.now
	s.reqs[i].replica = int16(r)
	sts, workers, queueCap := s.productPool(i)
	st := &sts[r]
	st.advance(s.eng.now)
	switch {
	case st.readyAt > s.eng.now: // cold-starting: wait for it
		st.q.push(s.reqs, i)
	case st.busy < workers:
		s.startProduct(i)
	case st.q.n < queueCap:
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
	sts, _, _ := s.productPool(i)
	st := &sts[r]
	st.busy++
	st.admitted(s.eng.now - s.reqs[i].atProduct)
	work := s.model.cpu.sample(s.rng)
	if hog := max(s.cfg.Faults.ProductCPUHog, s.cfg.Faults.Service.Product.CPUHog); r == 0 && hog > 1 {
		work *= hog
	}
	if f := s.cfg.Faults.Service.Product; f != (ServiceFault{}) {
		work += s.work(nProduct, int(r), zero{}) // drawn only when set: the random stream stays as it was
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
			s.m.cacheEntries.Set(float64(s.cache.len()))
		}
		s.m.edge(s.reqs[i].place(nProduct), nCache).observe(0, false)
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

// queryDist is the product query's time under a distribution knob, with the
// model's mean; log-normal is the model's own.
func (s *Shop) queryDist(name string) dist {
	m := s.model.db.mean()
	switch name {
	case Exponential:
		return exponential{m}
	case Deterministic:
		return deterministic{m}
	case HyperExponential:
		return newHyperExponential(m, 4)
	}
	return s.model.db
}

// queryTime draws how long request i's current query takes on a connection.
func (s *Shop) queryTime(i int32) float64 {
	var t float64
	if s.reqs[i].depth > 0 {
		t = s.reqs[i].qdist.sample(s.rng)
	} else {
		t = s.dbDist.sample(s.rng)
	}
	if c := s.cfg.Faults.DBLockContention; c > 0 {
		t *= 1 + c*float64(s.db.busy-1)
	}
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
	// Draw only when the fault is on, so a shop without faults keeps the
	// random stream (and so the exact numbers) it had before faults existed.
	failed := false
	if f := s.cfg.Faults.DBErrorRatio; f > 0 && s.rng.Float64() < f {
		failed = true
	}
	if r := &s.reqs[i]; r.depth > 0 {
		q := r.frames[r.depth-1].svc
		code := int16(200)
		if failed {
			code = 500
		}
		s.m.dbQuery(q, code).Inc()
		s.m.dbQueryLatency(q).Observe(s.eng.now - r.atDB)
		s.drainDB()
		s.svcQueryDone(i, failed)
		return
	}
	s.m.dbLat.Observe(s.eng.now - s.reqs[i].atDB)
	s.m.edge(s.reqs[i].place(nProduct), nDB).observe(s.eng.now-s.reqs[i].atDB, failed)
	s.reqs[i].code = 200
	if failed {
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
		s.m.cacheEntries.Set(float64(s.cache.len()))
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
	mono := s.reqs[i].mono
	sts, _, _ := s.productPool(i)
	sts[r].advance(s.eng.now)
	sts[r].busy--
	if f := s.cfg.Faults.Service.Product; s.reqs[i].code != 500 && f.ErrorRatio > 0 && s.rng.Float64() < f.ErrorRatio {
		s.reqs[i].code = int16(max(f.ErrorCode, 500))
		s.m.svcRequest(nProduct, s.reqs[i].code).Inc()
	} else if s.reqs[i].code == 500 {
		s.m.product500.Inc()
	} else {
		s.reqs[i].code = 200
		s.m.productOK.Inc()
	}
	s.m.productLat.Observe(s.eng.now - s.reqs[i].atProduct)
	s.eng.schedule(s.eng.now+s.hop(), evResponse, i, 0)
	if mono {
		s.drainMono(r)
		return
	}
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
	if tw := r.twin; tw >= 0 {
		s.reqs[tw].twin, r.twin = -1, -1
		if r.code >= 500 {
			s.release(i) // this try of a hedged pair failed: the other may yet succeed
			return
		}
		s.reqs[tw].abandoned = true // the first success wins; the other try is work for nobody
	}
	if r.code >= 500 && int(r.attempt) < s.cfg.Retries.MaxAttempts {
		s.retry(i)
		return
	}
	s.m.gateway(r.journey, r.code).Inc()
	s.m.gatewayLatency(r.journey).Observe(s.eng.now - r.start)
	from := nClient
	if r.viaCDN {
		from = nCDN // the edge's miss, sent on
	}
	s.m.edge(from, nGateway).observe(s.eng.now-r.start, r.code >= 500)
	if r.viaCDN {
		s.fromOrigin(i)
	} else {
		s.m.clientLatency(r.journey).Observe(s.eng.now - r.start + s.model.originRTT.sample(s.netRng))
	}
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
	now := s.eng.now
	s.m.gatewayInFlight.Set(float64(s.inSystem))
	state := 0
	for _, b := range s.breakers {
		state = max(state, int(b.state))
	}
	s.m.breakerState.Set(float64(state))
	micro := s.cfg.Topology == Microservices
	inProduct := 0
	for r := range s.products {
		st := &s.products[r]
		st.advance(now)
		servers := s.workers()
		switch {
		case s.cfg.Serverless.Enabled && !st.alive:
			servers = 0
		case (!micro || (!s.cfg.Serverless.Enabled && r >= s.cfg.ProductReplicas)) && st.busy+st.q.n == 0:
			servers = 0 // out of rotation and drained
		}
		st.flush(servers)
		inProduct += st.busy + st.q.n
	}
	s.m.productInFlight.Set(float64(inProduct))
	if micro {
		s.m.productReplicas.Set(float64(s.liveReplicas()))
	} else {
		s.m.productReplicas.Set(0)
	}
	flushPool := func(n node, sts []station, replicas, workers int, inRotation bool) {
		inFlight := 0
		for r := range sts {
			st := &sts[r]
			st.advance(now)
			servers := workers
			if (!inRotation || r >= replicas) && st.busy+st.q.n == 0 {
				servers = 0
			}
			st.flush(servers)
			inFlight += st.busy + st.q.n
		}
		if !inRotation {
			replicas = 0
		}
		s.m.replicasOf(n).Set(float64(replicas))
		s.m.inFlightOf(n).Set(float64(inFlight))
	}
	if len(s.mono) > 0 {
		flushPool(nMonolith, s.mono, s.cfg.Monolith.Replicas, s.cfg.Monolith.Workers, !micro)
	}
	for _, n := range services {
		if len(s.svcs[n]) > 0 {
			c := s.cfg.Services.of(n)
			flushPool(n, s.svcs[n], c.Replicas, c.Workers, micro)
		}
	}
	for r := range s.consumers {
		st := &s.consumers[r]
		st.advance(now)
		servers := 1
		if r >= s.cfg.Queue.Consumers || (r == 0 && s.cfg.Faults.QueueConsumerStall) {
			servers = 0
		}
		st.flush(servers)
	}
	s.queueGauges()
	s.db.advance(now)
	s.db.flush(s.cfg.DBConnections)
	s.m.dbInFlight.Set(float64(s.db.busy + s.db.q.n))
}
