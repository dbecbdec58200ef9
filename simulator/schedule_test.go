package simulator

import (
	"strings"
	"testing"
	"time"
)

// TestScheduledFaultComesAndGoes: a schedule turns the database's errors on
// at 10 s for 20 s; requests fail in that window and only in it, and the
// knob is back to its old value afterwards.
func TestScheduledFaultComesAndGoes(t *testing.T) {
	cfg := browseConfig()
	cfg.ArrivalRate = 50 // comfortably inside capacity: only the fault fails requests
	cfg.Schedule = []Change{{AtS: 10, DurationS: 20, Set: map[string]any{"faults": map[string]any{"db_error_ratio": 1.0}}}}
	s, err := New(cfg, nil) // the schedule counts from the shop's start
	if err != nil {
		t.Fatal(err)
	}
	failedIn := func(d time.Duration) (failed, all float64) {
		f0 := sumOf(t, s, "shop_requests_total", "service", "gateway", "code", "500")
		a0 := sumOf(t, s, "shop_requests_total", "service", "gateway")
		s.Advance(d)
		return sumOf(t, s, "shop_requests_total", "service", "gateway", "code", "500") - f0,
			sumOf(t, s, "shop_requests_total", "service", "gateway") - a0
	}
	f1, a1 := failedIn(9900 * time.Millisecond)
	s.Advance(200 * time.Millisecond) // let the requests in flight at 10 s settle
	f2, a2 := failedIn(19800 * time.Millisecond)
	if r := s.Config().Faults.DBErrorRatio; r != 1 {
		t.Errorf("during the window db_error_ratio is %v, want 1", r)
	}
	s.Advance(200 * time.Millisecond)
	f3, a3 := failedIn(10 * time.Second)
	t.Logf("before: %.0f/%.0f failed, during: %.0f/%.0f, after: %.0f/%.0f", f1, a1, f2, a2, f3, a3)
	if f1 != 0 || f3 != 0 {
		t.Errorf("requests failed outside the scheduled window: %.0f before, %.0f after", f1, f3)
	}
	if f2 < 0.99*a2 {
		t.Errorf("during the window only %.0f of %.0f requests failed", f2, a2)
	}
	if r := s.Config().Faults.DBErrorRatio; r != 0 {
		t.Errorf("after the window db_error_ratio is %v, want it undone to 0", r)
	}
	if n := sumOf(t, s, "shop_scheduled_changes_total"); n != 2 {
		t.Errorf("%v scheduled changes applied, want 2 (on and off)", n)
	}
}

func TestScheduleIsCheckedWhenSet(t *testing.T) {
	s, _ := New(browseConfig(), nil)
	for _, tc := range []struct {
		set  map[string]any
		want string
	}{
		{map[string]any{"warp": 9}, `unknown field "warp"`},
		{map[string]any{"db_connections": -1}, "db_connections must be in"},
		{map[string]any{"seed": 2}, "seed is fixed"},
	} {
		cfg := s.Config()
		cfg.Schedule = []Change{{AtS: 1, Set: tc.set}}
		if err := s.SetConfig(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("schedule setting %v: %v, want an error with %q", tc.set, err, tc.want)
		}
	}
	if len(s.Config().Schedule) != 0 {
		t.Error("a refused schedule was kept")
	}
}

// TestRefusedChangeLeavesConfigAlone: a change whose patch decodes into the
// config's own slices must not alter the config when it is then refused.
func TestRefusedChangeLeavesConfigAlone(t *testing.T) {
	cfg := browseConfig()
	cfg.Load.Stages = []Stage{{DurationS: 10, TargetRate: 100}}
	bad := map[string]any{"load": map[string]any{"stages": []any{map[string]any{"duration_s": -1, "target_rate": 5}}}}
	next, err := patched(cfg, bad)
	if err != nil {
		t.Fatal(err)
	}
	if next.Validate() == nil {
		t.Fatal("a stage of -1 s validated")
	}
	if cfg.Load.Stages[0] != (Stage{DurationS: 10, TargetRate: 100}) {
		t.Errorf("patching a copy changed the original's stages to %+v", cfg.Load.Stages)
	}
}
