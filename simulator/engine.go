package simulator

import "container/heap"

// eventKind says what happens when an event fires.
type eventKind uint8

const (
	evArrival   eventKind = iota // a new request is sent
	evAtProduct                  // a request reaches the product service
	evCPUDone                    // a product worker finished its CPU work
	evDBDone                     // a database query finished
	evHitDone                    // a cache hit was served
	evResponse                   // a response reaches the gateway
)

// event is one thing that happens at a virtual time. Events with equal times
// fire in the order they were scheduled (seq), which keeps runs deterministic.
type event struct {
	at   float64 // virtual seconds
	seq  uint64
	kind eventKind
	gen  uint32 // arrival generation: a rate change retires the pending arrival
	req  int32  // index into the request slab, -1 if none
}

type eventHeap []event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
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
	heap.Push(&e.events, event{at: at, seq: e.seq, kind: kind, req: req, gen: gen})
}

// next pops the earliest event due no later than until.
func (e *engine) next(until float64) (event, bool) {
	if len(e.events) == 0 || e.events[0].at > until {
		return event{}, false
	}
	ev := heap.Pop(&e.events).(event)
	e.now = ev.at
	e.fired++
	return ev, true
}
