package simulator

// The shop's services beside product. Product keeps its own code path
// (cache, coalescing, N+1, breaker, serverless, autoscaling: shop.go); the
// others are described by a spec — their own work, then a list of steps
// (calls to other services, database queries, waits on a third party) —
// and run by one generic machine. A request inside that machine carries a
// small stack of frames, one per service it is inside, so a service holds
// its worker while it waits for the services it calls, as a thread-per-
// request server does.

// node is one box of the topology: a service, or the client, edge, cache,
// queue or database.
type node int8

const (
	nClient node = iota
	nCDN
	nGateway
	nMonolith
	nProduct
	nAuth
	nSearch
	nCart
	nOrder
	nInventory
	nPayment
	nNotification
	nStatic
	nWorker // the queue's consumers
	nQueue
	nCache
	nDB
	numNodes
)

var nodeNames = [numNodes]string{"client", "cdn", "gateway", "monolith", "product", "auth", "search", "cart", "order",
	"inventory", "payment", "notification", "static", "worker", "queue", "cache", "db"}

// services are the generic services, sized by Config.Services.
var services = []node{nAuth, nSearch, nCart, nOrder, nInventory, nPayment, nNotification, nStatic}

// faultable are the services Faults.Service covers.
var faultable = []node{nProduct, nAuth, nSearch, nCart, nOrder, nInventory, nPayment, nNotification, nStatic, nWorker}

func nodeByName(name string) (node, bool) {
	for n, s := range nodeNames {
		if s == name {
			return node(n), true
		}
	}
	return 0, false
}

// partitionable nodes talk over the network to other services.
func (n node) partitionable() bool { return n == nGateway || (n >= nProduct && n <= nWorker) }

func partitionableNames() []string {
	var out []string
	for n := range numNodes {
		if n.partitionable() {
			out = append(out, nodeNames[n])
		}
	}
	return out
}

func (sv *Services) of(n node) *ServiceConfig {
	switch n {
	case nAuth:
		return &sv.Auth
	case nSearch:
		return &sv.Search
	case nCart:
		return &sv.Cart
	case nOrder:
		return &sv.Order
	case nInventory:
		return &sv.Inventory
	case nPayment:
		return &sv.Payment
	case nNotification:
		return &sv.Notification
	case nStatic:
		return &sv.Static
	}
	panic("simulator: no service config for " + nodeNames[n])
}

func (sf *ServiceFaults) of(n node) *ServiceFault {
	switch n {
	case nProduct:
		return &sf.Product
	case nAuth:
		return &sf.Auth
	case nSearch:
		return &sf.Search
	case nCart:
		return &sf.Cart
	case nOrder:
		return &sf.Order
	case nInventory:
		return &sf.Inventory
	case nPayment:
		return &sf.Payment
	case nNotification:
		return &sf.Notification
	case nStatic:
		return &sf.Static
	case nWorker:
		return &sf.Worker
	}
	panic("simulator: no faults for " + nodeNames[n])
}

// journey is what one user request does.
type journey uint8

const (
	jBrowse journey = iota
	jSearch
	jCart
	jCheckout
	jImages
	jMessage // not a user's: a checkout message on the queue
	numJourneys
)

// journeyEntry is the service the gateway sends each journey to.
var journeyEntry = [numJourneys]node{nProduct, nSearch, nCart, nOrder, nStatic, nWorker}

// journeyRoute is each journey's route at the gateway.
var journeyRoute = [numJourneys]string{routeGateway, "/api/search", "/api/cart", "/api/checkout", "/static/img/:id", "orders"}

func (j Journeys) weights() [jMessage]float64 {
	return [jMessage]float64{j.Browse, j.Search, j.Cart, j.Checkout, j.Images}
}

// stepKind is one thing a service does after its own work.
type stepKind uint8

const (
	stepCall     stepKind = iota // call another service and wait for it
	stepQuery                    // query the database (wait for a connection)
	stepExternal                 // wait on a third party (a payment provider, a mail server)
	stepPublish                  // publish to the queue, when checkout is asynchronous; else call the steps after it
)

type step struct {
	kind stepKind
	to   node // stepCall
	d    dist // stepQuery: the query's time on a connection; stepExternal: the wait
}

// spec is one generic service's physics: its route, its own work, its steps.
type spec struct {
	route string
	query string // the route its database queries are counted under
	cpu   dist
	steps []step
}

// specs are the services' fixed physics, tuned to be plausible, not to match
// any one shop. In synchronous checkout the order service calls payment and
// notification itself (the steps after stepPublish); asynchronous, it
// publishes instead and the worker makes those calls.
func defaultSpecs() [numNodes]spec {
	var sp [numNodes]spec
	ms := func(m float64) dist { return exponential{m / 1000} }
	q := func(m float64) dist { return newLogNormal(m/1000, 0.5) }
	sp[nAuth] = spec{route: "ValidateToken", cpu: ms(1)}
	defer func() {
		for n, q := range map[node]string{nSearch: "SELECT search", nInventory: "SELECT stock", nOrder: "INSERT order", nPayment: "INSERT payment"} {
			sp[n].query = q
		}
	}()
	sp[nSearch] = spec{route: "SearchProducts", cpu: ms(2), steps: []step{{kind: stepQuery, d: q(15)}}}
	sp[nCart] = spec{route: "AddToCart", cpu: ms(1), steps: []step{{kind: stepCall, to: nAuth}, {kind: stepCall, to: nInventory}}}
	sp[nInventory] = spec{route: "CheckStock", cpu: ms(0.5), steps: []step{{kind: stepQuery, d: q(8)}}}
	sp[nOrder] = spec{route: "PlaceOrder", cpu: ms(2), steps: []step{
		{kind: stepCall, to: nAuth}, {kind: stepCall, to: nInventory}, {kind: stepQuery, d: q(20)},
		{kind: stepPublish}, {kind: stepCall, to: nPayment}, {kind: stepCall, to: nNotification}}}
	sp[nPayment] = spec{route: "Charge", cpu: ms(1), steps: []step{{kind: stepExternal, d: newLogNormal(0.120, 0.6)}, {kind: stepQuery, d: q(5)}}}
	sp[nNotification] = spec{route: "SendConfirmation", cpu: ms(1), steps: []step{{kind: stepExternal, d: ms(40)}}}
	sp[nStatic] = spec{route: "GetImage", cpu: ms(0.5), steps: []step{{kind: stepExternal, d: shifted{0.002, exponential{0.003}}}}}
	sp[nWorker] = spec{route: "ProcessOrder", cpu: ms(0.5), steps: []step{{kind: stepCall, to: nPayment}, {kind: stepCall, to: nNotification}}}
	return sp
}

// frame is a request's place inside one service.
type frame struct {
	svc     node
	step    int8  // the next step to run
	inproc  bool  // a call inside the monolith: no hop, no worker of its own
	calling node  // the service this frame is waiting on
	replica int16 // the instance serving it
	at      float64
	sent    float64 // when the call to calling was made
}

const maxDepth = 4

// genericPool returns the instances a generic frame runs on and their sizes.
func (s *Shop) genericPool(mono bool, f *frame) (sts []station, replicas, workers, queue int) {
	switch {
	case f.svc == nWorker:
		workers = 1
		if s.cfg.Faults.QueueConsumerStall && f.replica == 0 {
			workers = 0
		}
		return s.consumers, s.cfg.Queue.Consumers, workers, s.cfg.Queue.Prefetch - 1
	case mono:
		m := s.cfg.Monolith
		return s.mono, m.Replicas, m.Workers, m.Queue
	}
	c := s.cfg.Services.of(f.svc)
	return s.svcs[f.svc], c.Replicas, c.Workers, c.Queue
}

// enter starts request i in the entry service of its journey, called from
// the gateway (after the hop, if any).
func (s *Shop) enter(i int32) {
	r := &s.reqs[i]
	r.depth = 1
	r.frames[0] = frame{svc: journeyEntry[r.journey]}
	s.svcArrive(i)
}

// svcArrive is request i reaching the service of its top frame over the
// network: it picks an instance and waits for a worker.
func (s *Shop) svcArrive(i int32) {
	r := &s.reqs[i]
	f := &r.frames[r.depth-1]
	sts, replicas, workers, queueCap := s.genericPool(r.mono, f)
	rep := s.pick(sts, replicas, &s.rrs[r.place(f.svc)])
	f.replica, f.at = int16(rep), s.eng.now
	if rep == 0 && (s.cfg.Faults.Service.of(f.svc).Down || (r.mono && s.monoDown())) {
		s.svcRefuse(i, 503) // crashed: the connection is refused
		return
	}
	st := &sts[rep]
	st.advance(s.eng.now)
	switch {
	case st.busy < workers:
		s.svcStart(i)
	case st.q.n < queueCap:
		st.q.push(s.reqs, i)
	default:
		s.svcRefuse(i, 503)
	}
}

// monoDown: the monolith crashes when any of its parts does.
func (s *Shop) monoDown() bool {
	for _, n := range faultable {
		if s.cfg.Faults.Service.of(n).Down {
			return true
		}
	}
	return s.cfg.Faults.ProductDown
}

// svcRefuse answers request i's top frame at once without work.
func (s *Shop) svcRefuse(i int32, code int16) {
	r := &s.reqs[i]
	f := &r.frames[r.depth-1]
	s.m.svcRequest(f.svc, code).Inc()
	s.m.svcLatency(f.svc).Observe(0)
	r.code = code
	r.depth--
	s.returnFrom(i, f.inproc)
}

// svcStart gives request i's top frame a worker (the caller has advanced
// the station) and runs its own work.
func (s *Shop) svcStart(i int32) {
	r := &s.reqs[i]
	f := &r.frames[r.depth-1]
	if !f.inproc {
		sts, _, _, _ := s.genericPool(r.mono, f)
		st := &sts[f.replica]
		st.busy++
		st.admitted(s.eng.now - f.at)
	}
	s.eng.schedule(s.eng.now+s.work(f.svc, int(f.replica), s.model.specs[f.svc].cpu), evSvcStep, i, 0)
}

// work draws a service's own work on an instance, with its faults.
func (s *Shop) work(n node, replica int, d dist) float64 {
	t := d.sample(s.rng)
	f := s.cfg.Faults.Service.of(n)
	if replica == 0 && f.CPUHog > 1 {
		t *= f.CPUHog
	}
	t += f.AddedLatencyMs / 1000
	if f.JitterMs > 0 {
		t += s.rng.ExpFloat64() * f.JitterMs / 1000
	}
	return t
}

// svcStep runs the next step of request i's top frame.
func (s *Shop) svcStep(i int32) {
	r := &s.reqs[i]
	f := &r.frames[r.depth-1]
	steps := s.model.specs[f.svc].steps
	if int(f.step) >= len(steps) {
		s.svcFinish(i)
		return
	}
	st := steps[f.step]
	f.step++
	switch st.kind {
	case stepExternal:
		s.eng.schedule(s.eng.now+st.d.sample(s.rng), evSvcStep, i, 0)
	case stepQuery:
		r.qdist = st.d
		s.query(i)
	case stepPublish:
		if !s.cfg.Queue.AsyncCheckout {
			s.svcStep(i) // synchronous: go on to the calls after it
			return
		}
		s.publish()
		r = &s.reqs[i] // publish may have grown the slab
		r.accepted = true
		f = &r.frames[r.depth-1]
		f.step = int8(len(steps)) // the rest is the worker's
		s.eng.schedule(s.eng.now+publishTime, evSvcStep, i, 0)
	case stepCall:
		s.call(i, st.to)
	}
}

// publishTime is a publish with the broker's confirm.
const publishTime = 0.001

// call makes request i's top frame call service to: inside the monolith a
// function call, else a network hop (or a partition) to another service.
func (s *Shop) call(i int32, to node) {
	r := &s.reqs[i]
	if r.depth >= maxDepth {
		panic("simulator: call stack too deep")
	}
	caller := &r.frames[r.depth-1]
	caller.calling, caller.sent = to, s.eng.now
	r.frames[r.depth] = frame{svc: to, inproc: r.mono}
	r.depth++
	switch {
	case r.mono:
		callee := &r.frames[r.depth-1]
		callee.at, callee.replica = s.eng.now, caller.replica
		s.svcStart(i)
	case s.partitioned(caller.svc, to):
		// The call vanishes; the caller's connect timeout ends it.
		r.depth--
		r.code = 504
		s.eng.schedule(s.eng.now+connectTimeoutMs/1000, evSvcReturn, i, 0)
	default:
		s.eng.schedule(s.eng.now+s.hop(), evSvcArrive, i, 0)
	}
}

// partitioned reports whether the network between a and b is cut.
func (s *Shop) partitioned(a, b node) bool {
	for _, p := range s.cfg.Faults.Partitions {
		if (p.A == nodeNames[a] && p.B == nodeNames[b]) || (p.A == nodeNames[b] && p.B == nodeNames[a]) {
			return true
		}
	}
	return false
}

// svcFinish ends request i's top frame: its answer, its metrics, its worker
// back; then the answer travels to whoever called.
func (s *Shop) svcFinish(i int32) {
	r := &s.reqs[i]
	f := &r.frames[r.depth-1]
	code := int16(200)
	if r.accepted && f.svc == nOrder {
		code = 202
	}
	if r.code >= 500 {
		code = 500 // a call or query failed: so does this request
	}
	if ft := s.cfg.Faults.Service.of(f.svc); ft.ErrorRatio > 0 && s.rng.Float64() < ft.ErrorRatio {
		code = int16(max(ft.ErrorCode, 500))
	}
	r.code = code
	s.m.svcRequest(f.svc, code).Inc()
	if f.svc == nWorker {
		s.m.svcLatency(f.svc).Observe(s.eng.now - r.start) // a message's age at the end: queue wait included
	} else {
		s.m.svcLatency(f.svc).Observe(s.eng.now - f.at)
	}
	svc, rep, mono, inproc := f.svc, int(f.replica), r.mono, f.inproc
	if !inproc {
		sts, _, _, _ := s.genericPool(r.mono, f)
		st := &sts[rep]
		st.advance(s.eng.now)
		st.busy--
	}
	r.depth--
	if svc == nWorker {
		s.settleMessage(i) // acknowledged, requeued or dead-lettered
		s.drainPool(svc, mono, rep)
		s.dispatch()
		return
	}
	if !inproc {
		s.drainPool(svc, mono, rep)
	}
	s.returnFrom(i, inproc)
}

// returnFrom sends request i's answer from the frame just popped to its
// caller: in-process at once, over the network after a hop, or to the
// gateway.
func (s *Shop) returnFrom(i int32, inproc bool) {
	r := &s.reqs[i]
	switch {
	case r.depth == 0:
		s.eng.schedule(s.eng.now+s.hop(), evResponse, i, 0)
	case inproc:
		s.svcReturn(i)
	default:
		s.eng.schedule(s.eng.now+s.hop(), evSvcReturn, i, 0)
	}
}

// svcReturn is an answer reaching the caller: on a failure the caller gives
// up its remaining steps; else it goes on.
func (s *Shop) svcReturn(i int32) {
	r := &s.reqs[i]
	f := &r.frames[r.depth-1]
	if !r.mono || f.svc == nWorker {
		s.m.edge(f.svc, f.calling).observe(s.eng.now-f.sent, r.code >= 500)
	}
	if r.code >= 500 {
		f.step = int8(len(s.model.specs[f.svc].steps))
	} else {
		r.code = 0
	}
	s.svcStep(i)
}

// svcQueryDone is request i's query for a generic service finishing.
func (s *Shop) svcQueryDone(i int32, failed bool) {
	r := &s.reqs[i]
	f := &r.frames[r.depth-1]
	s.m.edge(r.place(f.svc), nDB).observe(s.eng.now-r.atDB, failed)
	if failed {
		r.code = 500
		f.step = int8(len(s.model.specs[f.svc].steps))
	}
	s.svcStep(i)
}

// drainPool hands instance rep's free workers to its queued requests.
func (s *Shop) drainPool(n node, mono bool, rep int) {
	if mono && n != nWorker {
		s.drainMono(rep)
		return
	}
	sts, _, workers, _ := s.genericPool(mono, &frame{svc: n, replica: int16(rep)})
	st := &sts[rep]
	for st.busy < workers && st.q.n > 0 {
		s.svcStart(st.q.pop(s.reqs))
	}
}

// drainMono hands a monolith instance's free workers to its queue, where
// product pages and every other journey wait together.
func (s *Shop) drainMono(rep int) {
	st := &s.mono[rep]
	for st.busy < s.cfg.Monolith.Workers && st.q.n > 0 {
		j := st.q.pop(s.reqs)
		if s.reqs[j].depth == 0 {
			s.startProduct(j)
		} else {
			s.svcStart(j)
		}
	}
}

// pick is the load balancer over the first n instances of sts.
func (s *Shop) pick(sts []station, n int, rr *int) int {
	n = min(n, len(sts)) // instances asked for in another topology are made when it comes back
	if n <= 1 {
		return 0
	}
	load := func(r int) int { return sts[r].busy + sts[r].q.n }
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
	*rr = (*rr + 1) % n
	return *rr
}

// atEdge is an image request reaching the CDN edge: a cached image goes
// straight back; a miss goes on to the gateway and the static service.
func (s *Shop) atEdge(i int32) {
	r := &s.reqs[i]
	if ttl := s.cfg.CDN.TTLMs; ttl > 0 {
		s.cdn.expired(r.product, s.eng.now-ttl/1000)
	}
	rtt := s.model.edgeRTT.sample(s.rng)
	if s.cdn.get(r.product) {
		s.m.cdnHits.Inc()
		s.eng.schedule(s.eng.now+rtt, evCDNHit, i, 0)
		return
	}
	s.m.cdnMisses.Inc()
	r.viaCDN = true
	s.eng.schedule(s.eng.now+rtt/2, evOrigin, i, 0)
}

// cdnHit is the edge's cached answer reaching the user.
func (s *Shop) cdnHit(i int32) {
	r := &s.reqs[i]
	s.m.svcRequest(nCDN, 200).Inc()
	s.m.svcLatency(nCDN).Observe(s.eng.now - r.start)
	s.m.clientLatency(jImages).Observe(s.eng.now - r.start)
	s.m.edge(nClient, nCDN).observe(s.eng.now-r.start, false)
	s.answered(r)
	s.release(i)
}

// fromOrigin is the gateway's answer to an image request the edge sent on:
// the edge keeps a good one, and the user has it half a round trip later.
func (s *Shop) fromOrigin(i int32) {
	r := &s.reqs[i]
	if r.code < 300 && s.cfg.CDN.Enabled {
		s.cdn.put(r.product, s.eng.now)
	}
	d := s.eng.now - r.start + s.model.originRTT.sample(s.netRng) + s.model.edgeRTT.sample(s.netRng)/2
	s.m.svcRequest(nCDN, r.code).Inc()
	s.m.svcLatency(nCDN).Observe(d)
	s.m.clientLatency(jImages).Observe(d)
	s.m.edge(nClient, nCDN).observe(d, r.code >= 500)
}

// hedge sends a second try of a slow product request; whichever answers
// first with a success wins (respond).
func (s *Shop) hedge(i int32, tag uint32) {
	r := &s.reqs[i]
	if r.abandoned || timerTag(r) != tag || r.twin >= 0 || !s.cfg.Hedging.Enabled {
		return // answered, retried, or hedged already
	}
	j := s.newTry(i)
	r = &s.reqs[i]      // newTry may have grown the slab
	s.reqs[j].attempt-- // a parallel try, not the next one: send counts it again
	s.reqs[j].twin, r.twin = i, j
	s.m.hedges.Inc()
	s.send(j)
}
