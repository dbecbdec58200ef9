package simulator

// eventKind says what happens when an event fires.
type eventKind uint8

const (
	evArrival   eventKind = iota // a new request is sent
	evAtProduct                  // a request reaches the product service
	evCPUDone                    // a product worker finished its CPU work
	evDBDone                     // a database query finished
	evHitDone                    // a cache hit was served
	evResponse                   // a response reaches the gateway
	evRetry                      // the gateway sends a request again
	evTimeout                    // the gateway gives up waiting for a try
	evAutoscale                  // the autoscaler looks at utilisation
	evScaleUp                    // instances the autoscaler asked for are ready
	evChange                     // a scheduled change (or its undoing) is due
	evWarm                       // a serverless instance finished its cold start
	evIdle                       // a serverless instance may have idled out
	evUser                       // a virtual user (closed model) sends its next request
	evEnter                      // a request reaches the entry service of its journey
	evSvcArrive                  // a call reaches a generic service
	evSvcStep                    // a generic service finished a step (its work, a wait)
	evSvcReturn                  // a call's answer reaches its caller
	evCDNHit                     // the CDN edge's answer reaches the user
	evOrigin                     // an image request the edge missed reaches the gateway
	evHedge                      // a product try is slow enough to hedge
)

// event is one thing that happens at a virtual time. Events with equal times
// fire in the order they were scheduled (seq), which keeps runs deterministic.
type event struct {
	at   float64 // virtual seconds
	seq  uint64
	kind eventKind
	gen  uint32 // arrival generation, or a timeout's slot generation and try
	req  int32  // index into the request slab, -1 if none
}

// eventHeap is a binary min-heap of events by (at, seq), written out for
// the event type rather than through container/heap, whose interface{}
// Push and Pop allocate on every event.
type eventHeap []event

func (h eventHeap) less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *eventHeap) pop() event {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(q) {
			break
		}
		m := l
		if r := l + 1; r < len(q) && q.less(r, l) {
			m = r
		}
		if !q.less(m, i) {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}

// engine is the virtual clock and the event queue.
type engine struct {
	now    float64
	seq    uint64
	events eventHeap
	fired  uint64 // events handled, for benchmarks
}

func (e *engine) schedule(at float64, kind eventKind, req int32, gen uint32) {
	e.seq++
	e.events.push(event{at: at, seq: e.seq, kind: kind, req: req, gen: gen})
}

// next pops the earliest event due no later than until.
func (e *engine) next(until float64) (event, bool) {
	if len(e.events) == 0 || e.events[0].at > until {
		return event{}, false
	}
	ev := e.events.pop()
	e.now = ev.at
	e.fired++
	return ev, true
}
