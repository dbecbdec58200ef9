package simulator

import "strconv"

// broker is the message queue between order and the work after an order,
// when checkout is asynchronous. Messages are request slots (journey
// jMessage) whose start is the publish time. A message is ready (in the
// broker's queue), then held by one consumer (prefetched in that consumer's
// station queue, or being processed) until it is acknowledged, delivered
// again, or dead-lettered.
type broker struct {
	ready   queue
	rr      int // the consumer last given a message
	unacked int // messages consumers hold
	dead    int // messages in the dead-letter queue
}

// publish puts a new checkout message on the queue.
func (s *Shop) publish() {
	m := s.alloc()
	r := &s.reqs[m]
	r.start, r.journey, r.mono = s.eng.now, jMessage, s.cfg.Topology == Monolith
	s.m.mqPublished.Inc()
	s.broker.ready.push(s.reqs, m)
	s.dispatch()
}

// ensureConsumers makes consumer stations up to n; like instances they are
// never removed, only no longer given messages.
func (s *Shop) ensureConsumers(n int) {
	for len(s.consumers) < n {
		st := newStation(s.m.station("worker", strconv.Itoa(len(s.consumers))))
		st.last = s.eng.now
		s.consumers = append(s.consumers, st)
	}
}

// dispatch hands ready messages, round-robin, to consumers holding fewer
// than prefetch; a consumer holding some already queues the new one.
func (s *Shop) dispatch() {
	n, prefetch := s.cfg.Queue.Consumers, s.cfg.Queue.Prefetch
	s.ensureConsumers(n)
	for s.broker.ready.n > 0 {
		c := -1
		for k := 1; k <= n; k++ {
			cand := (s.broker.rr + k) % n
			if st := &s.consumers[cand]; st.busy+st.q.n < prefetch {
				c = cand
				break
			}
		}
		if c < 0 {
			return // every consumer is full: messages wait in the broker (lag)
		}
		s.broker.rr = c
		m := s.broker.ready.pop(s.reqs)
		r := &s.reqs[m]
		r.deliveries++
		if r.deliveries > 1 {
			s.m.mqRedelivered.Inc()
		}
		r.depth = 1
		r.frames[0] = frame{svc: nWorker, replica: int16(c), at: s.eng.now}
		s.broker.unacked++
		st := &s.consumers[c]
		st.advance(s.eng.now)
		if _, _, workers, _ := s.genericPool(r.mono, &r.frames[0]); st.busy < workers {
			s.svcStart(m)
		} else {
			st.q.push(s.reqs, m)
		}
	}
}

// settleMessage ends one delivery of message i: acknowledged when it was
// processed; else delivered again from the back of the queue, or after
// max_deliveries dead-lettered. The caller dispatches.
func (s *Shop) settleMessage(i int32) {
	r := &s.reqs[i]
	s.broker.unacked--
	switch {
	case r.code < 500:
		s.m.mqAcked.Inc()
		s.release(i)
	case int(r.deliveries) >= s.cfg.Queue.MaxDeliveries:
		s.m.mqDeadLettered.Inc()
		s.broker.dead++
		s.release(i)
	default:
		r.code = 0
		s.broker.ready.push(s.reqs, i)
	}
}

// queueGauges publishes the broker's state.
func (s *Shop) queueGauges() {
	s.m.mqReady.Set(float64(s.broker.ready.n))
	s.m.mqUnacked.Set(float64(s.broker.unacked))
	s.m.mqDead.Set(float64(s.broker.dead))
	age := 0.0
	if s.broker.ready.n > 0 {
		age = s.eng.now - s.reqs[s.broker.ready.head].start
	}
	s.m.mqOldest.Set(age)
	s.m.mqConsumers.Set(float64(s.cfg.Queue.Consumers))
}
