package simulator

import (
	"math/rand/v2"
	"testing"
)

// TestEventHeapOrder: events come out by time, and in scheduling order at
// equal times, whatever order they went in.
func TestEventHeapOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var e engine
	for i := 0; i < 5000; i++ {
		e.schedule(float64(r.IntN(500)), evArrival, int32(i), 0)
	}
	prev, ok := e.next(1e9)
	for n := 1; ok; n++ {
		ev, more := e.next(1e9)
		if !more {
			if n != 5000 {
				t.Fatalf("popped %d of 5000 events", n)
			}
			break
		}
		if ev.at < prev.at || (ev.at == prev.at && ev.seq < prev.seq) {
			t.Fatalf("event (%v, %d) came after (%v, %d)", ev.at, ev.seq, prev.at, prev.seq)
		}
		prev = ev
	}
	e.schedule(10, evArrival, 0, 0)
	if _, ok := e.next(9); ok {
		t.Error("next returned an event due after its horizon")
	}
}
