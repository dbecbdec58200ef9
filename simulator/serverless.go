package simulator

// workers is how many requests one product instance serves at once.
func (s *Shop) workers() int {
	if s.cfg.Serverless.Enabled {
		return s.cfg.Serverless.Concurrency
	}
	return s.cfg.ProductWorkers
}

// liveReplicas counts the product instances taking requests.
func (s *Shop) liveReplicas() int {
	if !s.cfg.Serverless.Enabled {
		return s.cfg.ProductReplicas
	}
	n := 0
	for r := range s.products {
		if s.products[r].alive {
			n++
		}
	}
	return n
}

// placeServerless finds a request a place: the first live instance with a
// free slot (warm or still starting), packing load so the rest can idle out;
// else a new instance, cold; else none (-1) at max_instances.
func (s *Shop) placeServerless() int {
	conc := s.cfg.Serverless.Concurrency
	live, free := 0, -1
	for r := range s.products {
		st := &s.products[r]
		if !st.alive {
			if free < 0 {
				free = r
			}
			continue
		}
		live++
		if st.busy+st.q.n < conc {
			st.gen++ // busy again: a pending idle timer is stale
			return r
		}
	}
	if live >= s.cfg.Serverless.MaxInstances {
		return -1
	}
	if free < 0 {
		s.ensureReplicas(len(s.products) + 1)
		free = len(s.products) - 1
	}
	st := &s.products[free]
	st.advance(s.eng.now)
	st.alive, st.readyAt = true, s.eng.now+s.cfg.Serverless.ColdStartMs/1000
	st.gen++
	s.m.coldStarts.Inc()
	s.eng.schedule(st.readyAt, evWarm, int32(free), st.gen)
	return free
}

// warm ends instance r's cold start: it serves the requests that waited.
func (s *Shop) warm(r int, gen uint32) {
	if st := &s.products[r]; !st.alive || st.readyAt > s.eng.now {
		return
	}
	s.products[r].advance(s.eng.now)
	s.drainProduct(r)
}

// idleOut reclaims instance r if it has stayed idle since the timer was set.
func (s *Shop) idleOut(r int, gen uint32) {
	st := &s.products[r]
	if gen != st.gen || !st.alive || st.busy+st.q.n > 0 {
		return
	}
	st.advance(s.eng.now)
	st.alive = false
	st.gen++
}

// switchServerless moves the product service between fixed instances and
// functions. Switched on, instances with work live on warm (and idle out
// later); switched off, the fixed instances are warm at once.
func (s *Shop) switchServerless(on bool) {
	for r := range s.products {
		st := &s.products[r]
		st.advance(s.eng.now)
		st.gen++
		st.readyAt = 0
		st.alive = on && st.busy+st.q.n > 0
	}
}
