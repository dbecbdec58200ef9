package simulator

import "github.com/prometheus/client_golang/prometheus"

// station is c servers (a service's workers, a database's connections) in
// front of one FIFO queue: the block every service is built from, and the
// thing queueing theory describes. It keeps the time-integrals of busy
// servers and queue length, the raw material of utilisation, mean queue
// length and Little's law, and hands them to its counters when flushed.
type station struct {
	busy int
	q    queue
	last float64 // virtual time the integrals run to

	busyArea, queueArea float64 // ∫ busy dt and ∫ queue length dt since the last flush
	busyTotal           float64 // ∫ busy dt since the start, for the autoscaler

	// Serverless instances only:
	alive   bool    // the instance exists
	readyAt float64 // virtual time its cold start ends; it serves from then
	gen     uint32  // bumped on every change of life, so stale timers are ignored
	m       stationMetrics
}

// stationMetrics are one station's USE metrics.
type stationMetrics struct {
	queueLen, servers          prometheus.Gauge
	busySeconds, queuedSeconds prometheus.Counter
	waits                      prometheus.Counter
	wait                       prometheus.Observer
}

func newStation(m stationMetrics) station { return station{q: newQueue(), m: m} }

// advance runs the integrals up to now; call it before busy or q changes.
func (st *station) advance(now float64) {
	dt := now - st.last
	st.busyArea += float64(st.busy) * dt
	st.busyTotal += float64(st.busy) * dt
	st.queueArea += float64(st.q.n) * dt
	st.last = now
}

// admitted records how long a request waited for a server.
func (st *station) admitted(wait float64) {
	if wait > 0 {
		st.m.waits.Inc()
	}
	st.m.wait.Observe(wait)
}

// flush moves the integrals into the counters and sets the gauges.
func (st *station) flush(servers int) {
	st.m.busySeconds.Add(st.busyArea)
	st.m.queuedSeconds.Add(st.queueArea)
	st.busyArea, st.queueArea = 0, 0
	st.m.queueLen.Set(float64(st.q.n))
	st.m.servers.Set(float64(servers))
}
