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

// leak is the extra work a growing heap costs per request, the longer the
// leak has run.
func (s *Shop) leak() float64 {
	if rate := s.cfg.Faults.LeakMsPerMin; rate > 0 {
		return rate / 1000 * (s.eng.now - s.leakSince) / 60
	}
	return 0
}
