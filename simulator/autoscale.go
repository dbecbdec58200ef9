package simulator

import "math"

// scaler is the product service's autoscaler state. Its timers carry a
// generation, so switching it off (or changing its interval) retires them.
type scaler struct {
	gen        uint32
	lastBusy   float64  // Σ busy worker-seconds of all instances at the last look
	lastChange float64  // virtual time of the last scale event
	pending    int      // instances asked for and still starting; 0 if none
	recent     []sample // desired counts within the last cooldown, for scaling down
}

type sample struct {
	at      float64
	desired int
}

// tolerance is the HPA's: utilisation within 10 % of the target changes nothing.
const tolerance = 0.1

func (s *Shop) startAutoscaler() {
	s.scaler.gen++
	s.scaler.lastBusy = s.busyTotal()
	s.scaler.lastChange = math.Inf(-1)
	s.scaler.pending = 0
	s.scaler.recent = s.scaler.recent[:0]
	s.eng.schedule(s.eng.now+s.cfg.Autoscaling.IntervalMs/1000, evAutoscale, -1, s.scaler.gen)
}

func (s *Shop) stopAutoscaler() { s.scaler.gen++; s.scaler.pending = 0 }

// busyTotal is the busy worker-seconds of every product instance so far.
func (s *Shop) busyTotal() float64 {
	total := 0.0
	for r := range s.products {
		s.products[r].advance(s.eng.now)
		total += s.products[r].busyTotal
	}
	return total
}

// autoscale is one look: utilisation over the last interval against the
// target, then a scale event if one is due and allowed.
func (s *Shop) autoscale(gen uint32) {
	if gen != s.scaler.gen {
		return
	}
	a := s.cfg.Autoscaling
	interval := a.IntervalMs / 1000
	s.eng.schedule(s.eng.now+interval, evAutoscale, -1, gen)

	busy := s.busyTotal()
	active := s.cfg.ProductReplicas
	util := (busy - s.scaler.lastBusy) / (interval * float64(active*s.cfg.ProductWorkers))
	s.scaler.lastBusy = busy
	desired := active
	if math.Abs(util/a.TargetUtilisation-1) > tolerance {
		desired = int(math.Ceil(float64(active) * util / a.TargetUtilisation))
	}
	desired = min(max(desired, a.Min), a.Max)
	s.m.desiredReplicas.Set(float64(desired))
	// Scale down only as far as the highest wish of the last cooldown (the
	// HPA's stabilisation window), so a dip does not shed instances a
	// moment before they are needed again.
	s.scaler.recent = append(s.scaler.recent, sample{s.eng.now, desired})
	for len(s.scaler.recent) > 0 && s.scaler.recent[0].at < s.eng.now-a.CooldownMs/1000 {
		s.scaler.recent = s.scaler.recent[1:]
	}
	downTo := desired
	for _, r := range s.scaler.recent {
		downTo = max(downTo, r.desired)
	}

	if s.scaler.pending > 0 || s.eng.now-s.scaler.lastChange < a.CooldownMs/1000 {
		return
	}
	switch {
	case desired > active:
		s.scaler.pending = desired
		s.scaler.lastChange = s.eng.now
		s.eng.schedule(s.eng.now+a.ScaleUpDelayMs/1000, evScaleUp, -1, gen)
	case downTo < active:
		s.setReplicas(downTo)
		s.scaler.lastChange = s.eng.now
		s.m.scaleEvents.WithLabelValues("down").Inc()
	}
}

// scaleUp brings the instances asked for into rotation, once started.
func (s *Shop) scaleUp(gen uint32) {
	if gen != s.scaler.gen || s.scaler.pending == 0 {
		return
	}
	s.setReplicas(min(max(s.scaler.pending, s.cfg.ProductReplicas), s.cfg.Autoscaling.Max))
	s.scaler.pending = 0
	s.scaler.lastChange = s.eng.now
	s.m.scaleEvents.WithLabelValues("up").Inc()
}

func (s *Shop) setReplicas(n int) {
	for r := range s.products {
		s.products[r].advance(s.eng.now)
	}
	s.cfg.ProductReplicas = n
	s.ensureReplicas(n)
	for r := range s.products {
		s.drainProduct(r)
	}
}
