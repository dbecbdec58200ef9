package simulator

import "math"

// gcDelay is how long work starting now on instance r waits for a
// stop-the-world pause in progress. Each instance pauses every gc_interval_s
// at its own phase.
func (s *Shop) gcDelay(r int) float64 {
	f := s.cfg.Faults
	if f.GCPauseMs <= 0 || f.GCIntervalS <= 0 {
		return 0
	}
	phase := math.Mod(s.eng.now+float64(r)*0.37*f.GCIntervalS, f.GCIntervalS)
	if pause := f.GCPauseMs / 1000; phase < pause {
		return pause - phase
	}
	return 0
}

// hop draws one network hop between the gateway and the product service.
// Jitter is drawn only when set, so the random stream of a shop without it
// stays as it was.
func (s *Shop) hop() float64 {
	d := s.model.hop.sample(s.rng) + s.cfg.Network.AddedMs/1000
	if j := s.cfg.Network.JitterMs; j > 0 {
		d += s.rng.ExpFloat64() * j / 1000
	}
	return d
}

// leak is the extra work a growing heap costs per request, the longer the
// leak has run.
func (s *Shop) leak() float64 {
	if rate := s.cfg.Faults.LeakMsPerMin; rate > 0 {
		return rate / 1000 * (s.eng.now - s.leakSince) / 60
	}
	return 0
}
