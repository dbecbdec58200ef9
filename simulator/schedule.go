package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
)

// Change is one scheduled step of a scenario: at at_s seconds of virtual time
// after the schedule is set, the knobs in set (any part of the config, as
// PUT /api/v1/demo/config takes it) change; after duration_s they change
// back, if it is not 0. Faults scheduled this way replay identically under
// the same seed.
type Change struct {
	AtS       float64        `json:"at_s"`
	DurationS float64        `json:"duration_s"`
	Set       map[string]any `json:"set"`
}

func equalChange(a, b Change) bool {
	return a.AtS == b.AtS && a.DurationS == b.DurationS && reflect.DeepEqual(a.Set, b.Set)
}

// schedule is the state of the schedule in force: its changes' undo patches
// and a generation that retires the timers of a replaced schedule.
type schedule struct {
	gen  uint32
	undo []map[string]any // per change: the values its set replaced
}

// checkSchedule dry-runs every change against cfg, so a bad one is refused
// when the schedule is set, not minutes later.
func checkSchedule(cfg Config) error {
	if len(cfg.Schedule) > 1000 {
		return fmt.Errorf("schedule: at most 1000 changes, got %d", len(cfg.Schedule))
	}
	for i, c := range cfg.Schedule {
		if !(c.AtS >= 0 && c.AtS <= 7*86_400) || !(c.DurationS >= 0 && c.DurationS <= 7*86_400) {
			return fmt.Errorf("schedule[%d]: at_s and duration_s must be in [0, 604800], got %v and %v", i, c.AtS, c.DurationS)
		}
		if _, ok := c.Set["schedule"]; ok {
			return fmt.Errorf("schedule[%d].set: a change cannot set the schedule", i)
		}
		if _, ok := c.Set["seed"]; ok {
			return fmt.Errorf("schedule[%d].set: the seed is fixed", i)
		}
		next, err := patched(cfg, c.Set)
		if err != nil {
			return fmt.Errorf("schedule[%d].set: %w", i, err)
		}
		if err := next.Validate(); err != nil {
			return fmt.Errorf("schedule[%d].set: %w", i, err)
		}
	}
	return nil
}

// patched returns cfg with patch merged in, by the same JSON rules as the
// control API: unknown fields are errors.
func patched(cfg Config, patch map[string]any) (Config, error) {
	b, err := json.Marshal(patch)
	if err != nil {
		return cfg, err
	}
	next := cfg.clone() // decoding into shared slices would change cfg itself
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&next); err != nil {
		return cfg, err
	}
	return next, nil
}

func cloneChanges(c []Change) []Change {
	out := make([]Change, len(c))
	for i, ch := range c {
		out[i] = Change{AtS: ch.AtS, DurationS: ch.DurationS, Set: cloneMap(ch.Set)}
	}
	return out
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			v = cloneMap(sub)
		}
		out[k] = v
	}
	return out
}

// clone deep-copies the config's slices and maps: a Config handed out or
// taken in shares nothing with the shop's own.
func (c Config) clone() Config {
	c.Load.Stages = append([]Stage(nil), c.Load.Stages...)
	c.Faults.Partitions = append([]Partition(nil), c.Faults.Partitions...)
	if len(c.Schedule) > 0 {
		c.Schedule = cloneChanges(c.Schedule)
	} else {
		c.Schedule = nil
	}
	return c
}

// undoFor records, for every leaf patch sets, the value cfg has there now.
func undoFor(cfg Config, patch map[string]any) map[string]any {
	b, _ := json.Marshal(cfg) // numbers, bools and strings always marshal
	var now map[string]any
	_ = json.Unmarshal(b, &now)
	var pick func(patch, now map[string]any) map[string]any
	pick = func(patch, now map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range patch {
			if sub, ok := v.(map[string]any); ok {
				if nowSub, ok := now[k].(map[string]any); ok {
					out[k] = pick(sub, nowSub)
					continue
				}
			}
			out[k] = now[k]
		}
		return out
	}
	return pick(patch, now)
}

// startSchedule arms the changes of a new schedule, counted from now.
// Caller holds mu.
func (s *Shop) startSchedule(changes []Change) {
	s.sched.gen++
	s.sched.undo = make([]map[string]any, len(changes))
	for i, c := range changes {
		s.eng.schedule(s.eng.now+c.AtS, evChange, int32(2*i), s.sched.gen)
		if c.DurationS > 0 {
			s.eng.schedule(s.eng.now+c.AtS+c.DurationS, evChange, int32(2*i+1), s.sched.gen)
		}
	}
}

// runChange applies change step/2 (even step) or undoes it (odd step).
func (s *Shop) runChange(gen uint32, step int32) {
	if gen != s.sched.gen {
		return // a replaced schedule's timer
	}
	i := int(step / 2)
	c := s.cfg.Schedule[i]
	patch := c.Set
	if step%2 == 0 {
		s.sched.undo[i] = undoFor(s.cfg, c.Set)
	} else {
		patch = s.sched.undo[i]
	}
	next, err := patched(s.cfg, patch)
	if err == nil {
		err = next.Validate()
	}
	if err != nil {
		// Checked when set, so only a later manual change can make it
		// invalid now; the shop keeps running as it is.
		s.logger.Warn("scheduled change not applied", "change", i, "err", err)
		return
	}
	next.Schedule = s.cfg.Schedule
	s.m.scheduledChanges.Inc()
	s.apply(next)
}
