package simulator

// breakerState is a circuit breaker's state, numbered as the
// shop_circuit_breaker_state gauge reports it.
type breakerState int

const (
	breakerClosed   breakerState = 0
	breakerOpen     breakerState = 1
	breakerHalfOpen breakerState = 2
)

// breaker is the gateway's circuit breaker in front of the product service
// (see Breaker for the rules). It runs in virtual time: opening schedules
// nothing, the first try after open_ms finds it half-open.
type breaker struct {
	state     breakerState
	failures  int     // consecutive, while closed
	openUntil float64 // virtual time
	probes    int     // tries in flight while half-open
}

// allow reports whether a try may go through now, and whether it is a
// half-open probe.
func (b *breaker) allow(cfg Breaker, now float64) (ok, probe bool) {
	if !cfg.Enabled {
		return true, false
	}
	switch b.state {
	case breakerOpen:
		if now < b.openUntil {
			return false, false
		}
		b.state, b.probes = breakerHalfOpen, 0
		fallthrough
	case breakerHalfOpen:
		if b.probes >= cfg.HalfOpenProbes {
			return false, false
		}
		b.probes++
		return true, true
	}
	return true, false
}

// record takes the outcome of a try that went through; it reports whether
// the breaker opened.
func (b *breaker) record(cfg Breaker, now float64, probe, failed bool) (opened bool) {
	if !cfg.Enabled {
		return false
	}
	if probe {
		b.probes--
	}
	switch {
	case b.state == breakerHalfOpen && probe && failed:
		b.trip(cfg, now)
		return true
	case b.state == breakerHalfOpen && probe:
		b.state, b.failures = breakerClosed, 0
	case b.state == breakerClosed && failed:
		b.failures++
		if b.failures >= cfg.FailureThreshold {
			b.trip(cfg, now)
			return true
		}
	case b.state == breakerClosed:
		b.failures = 0
	}
	return false
}

func (b *breaker) trip(cfg Breaker, now float64) {
	b.state, b.failures, b.openUntil = breakerOpen, 0, now+cfg.OpenMs/1000
}
