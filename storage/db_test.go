package storage

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"golang.org/x/sync/errgroup"
)

func open(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func lbl(kv ...string) labels.Labels { return labels.FromStrings(kv...) }

// readAll returns every sample of the series matching ms, keyed by labels.
func readAll(t *testing.T, db *DB, ms ...*labels.Matcher) map[string][][2]float64 {
	t.Helper()
	q, _ := db.Querier(math.MinInt64, math.MaxInt64)
	defer q.Close()
	ss := q.Select(context.Background(), true, nil, ms...)
	out := map[string][][2]float64{}
	for ss.Next() {
		s := ss.At()
		it := s.Iterator(nil)
		for it.Next() != 0 {
			ts, v := it.At()
			out[s.Labels().String()] = append(out[s.Labels().String()], [2]float64{float64(ts), v})
		}
	}
	if err := ss.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRestartKeepsSamplesAndAnnotations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	db := open(t, path)
	a := lbl("__name__", "up", "job", "demo", "instance", "x:1")
	b := lbl("__name__", "up", "job", "node", "instance", "y:2")
	for i := int64(0); i < 5; i++ {
		if err := db.Append([]Sample{{a, 1000 * i, 1}, {b, 1000 * i, float64(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	stale := math.Float64frombits(value.StaleNaN)
	if err := db.Append([]Sample{{b, 5000, stale}}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddAnnotation(Annotation{Time: 2500, Text: "cache: off → on", Tags: []string{"knob"}}); err != nil {
		t.Fatal(err)
	}
	m := labels.MustNewMatcher(labels.MatchEqual, "__name__", "up")
	before := readAll(t, db, m)
	if len(before) != 2 || len(before[a.String()]) != 5 || len(before[b.String()]) != 6 {
		t.Fatalf("before close: %v", before)
	}
	db.Close()

	db = open(t, path)
	defer db.Close()
	after := readAll(t, db, m)
	for k, want := range before {
		got := after[k]
		if len(got) != len(want) {
			t.Fatalf("%s: %d samples after reopen, %d before", k, len(got), len(want))
		}
		for i := range want {
			if got[i][0] != want[i][0] || math.Float64bits(got[i][1]) != math.Float64bits(want[i][1]) {
				t.Errorf("%s[%d]: %v after reopen, %v before", k, i, got[i], want[i])
			}
		}
	}
	if !value.IsStaleNaN(after[b.String()][5][1]) {
		t.Error("the stale marker did not survive")
	}
	anns, err := db.Annotations(0, 10000)
	if err != nil || len(anns) != 1 || anns[0].Text != "cache: off → on" || anns[0].Time != 2500 {
		t.Fatalf("annotations after reopen: %+v %v", anns, err)
	}
	if anns, _ := db.Annotations(3000, 10000); len(anns) != 0 {
		t.Errorf("annotations outside the range: %+v", anns)
	}
	// A new series after reopen gets a fresh id, not one already used.
	c := lbl("__name__", "up", "job", "other")
	if err := db.Append([]Sample{{c, 0, 7}}); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, db, labels.MustNewMatcher(labels.MatchEqual, "job", "other")); len(got) != 1 || got[c.String()][0][1] != 7 {
		t.Errorf("new series after reopen: %v", got)
	}
	if got := readAll(t, db, labels.MustNewMatcher(labels.MatchEqual, "job", "node")); len(got[b.String()]) != 6 {
		t.Errorf("old series was disturbed by the new one: %v", got)
	}
}

func TestMatchersAndLabelValues(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "h.db"))
	defer db.Close()
	var batch []Sample
	for _, svc := range []string{"gateway", "product", "db"} {
		for _, code := range []string{"200", "503"} {
			batch = append(batch, Sample{lbl("__name__", "req", "service", svc, "code", code), 0, 1})
		}
	}
	if err := db.Append(batch); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		m    *labels.Matcher
		want int
	}{
		{labels.MustNewMatcher(labels.MatchEqual, "service", "db"), 2},
		{labels.MustNewMatcher(labels.MatchNotEqual, "service", "db"), 4},
		{labels.MustNewMatcher(labels.MatchRegexp, "code", "5.."), 3},
		{labels.MustNewMatcher(labels.MatchNotRegexp, "service", "gate.*|prod.*"), 2},
		{labels.MustNewMatcher(labels.MatchEqual, "missing", ""), 6},
		{labels.MustNewMatcher(labels.MatchEqual, "service", "nope"), 0},
	} {
		if got := readAll(t, db, labels.MustNewMatcher(labels.MatchEqual, "__name__", "req"), tc.m); len(got) != tc.want {
			t.Errorf("%s: %d series, want %d", tc.m, len(got), tc.want)
		}
	}
	q, _ := db.Querier(0, 1)
	vals, _, err := q.LabelValues(context.Background(), "service", nil)
	if err != nil || strings.Join(vals, ",") != "db,gateway,product" {
		t.Errorf("LabelValues(service) = %v %v", vals, err)
	}
	vals, _, _ = q.LabelValues(context.Background(), "code", nil, labels.MustNewMatcher(labels.MatchEqual, "service", "db"))
	if strings.Join(vals, ",") != "200,503" {
		t.Errorf("LabelValues(code | service=db) = %v", vals)
	}
	names, _, _ := q.LabelNames(context.Background(), nil)
	if strings.Join(names, ",") != "__name__,code,service" {
		t.Errorf("LabelNames = %v", names)
	}
}

func TestSecondOpenIsRefusedClearly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	db := open(t, path)
	defer db.Close()
	_, err := Open(path, nil)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "another archscope") || !strings.Contains(err.Error(), path) {
		t.Fatalf("second Open: %v, want an error naming another archscope", err)
	}
}

// TestPromQLOverStorage runs Prometheus' own engine on the adapter: a counter
// growing 5/s and a histogram with a known distribution, scraped every 1 s.
func TestPromQLOverStorage(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "h.db"))
	defer db.Close()
	// Each second 100 requests: 90 under 10 ms, 9 in (10 ms, 100 ms], 1 in (100 ms, 1 s].
	bounds := []string{"0.01", "0.1", "1", "+Inf"}
	perSecond := []float64{90, 99, 100, 100}
	start := time.Unix(1_700_000_000, 0)
	for i := 0; i <= 60; i++ {
		ts := start.Add(time.Duration(i) * time.Second).UnixMilli()
		batch := []Sample{{lbl("__name__", "c_total", "job", "j"), ts, 5 * float64(i)}}
		for k, le := range bounds {
			batch = append(batch, Sample{lbl("__name__", "h_bucket", "job", "j", "le", le), ts, perSecond[k] * float64(i)})
		}
		if err := db.Append(batch); err != nil {
			t.Fatal(err)
		}
	}
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	eval := func(qs string) float64 {
		q, err := engine.NewInstantQuery(context.Background(), db, nil, qs, start.Add(60*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		res := q.Exec(context.Background())
		if res.Err != nil {
			t.Fatalf("%s: %v", qs, res.Err)
		}
		vec, err := res.Vector()
		if err != nil || len(vec) != 1 {
			t.Fatalf("%s: %v %v", qs, vec, err)
		}
		return vec[0].F
	}
	// The data are exact integers and rate's extrapolation over 10 evenly
	// spaced samples is exact too, so the only error is float rounding:
	// 1e-9 catches any real mistake (a lost or shifted sample moves the
	// answer by ≥ 5 %).
	if got := eval(`rate(c_total[10s])`); math.Abs(got-5) > 1e-9 {
		t.Errorf("rate = %v, want 5", got)
	}
	// p99 falls at the top of the (0.1, 1] bucket: 99 of 100 are ≤ 0.1 s, so
	// the 99th percentile is its lower edge interpolated to 0.1 s exactly.
	if got := eval(`histogram_quantile(0.99, sum by (le) (rate(h_bucket[10s])))`); math.Abs(got-0.1) > 1e-9 {
		t.Errorf("p99 = %v, want 0.1", got)
	}
	// p50: 50 of the 90 in [0, 0.01] → 0.01 × 50/90.
	if got := eval(`histogram_quantile(0.5, sum by (le) (rate(h_bucket[10s])))`); math.Abs(got-0.01*50/90) > 1e-9 {
		t.Errorf("p50 = %v, want %v", got, 0.01*50/90)
	}
}

// TestOutOfOrderIsRefused: as in Prometheus, a sample no newer than its
// series' newest is refused and said so (the same value again is a no-op);
// the rest of the batch is stored.
func TestOutOfOrderIsRefused(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "h.db"))
	defer db.Close()
	s, other := lbl("__name__", "g"), lbl("__name__", "h")
	if err := db.Append([]Sample{{s, 1000, 1}, {s, 3000, 3}}); err != nil {
		t.Fatal(err)
	}
	err := db.Append([]Sample{{s, 2000, 2}, {s, 3000, 30}, {other, 500, 5}, {s, 4000, 4}})
	if !errors.Is(err, ErrOutOfOrder) || !strings.Contains(err.Error(), "2 of 4") {
		t.Errorf("Append = %v, want 2 of 4 refused as ErrOutOfOrder", err)
	}
	if err := db.Append([]Sample{{s, 4000, 4}}); err != nil {
		t.Errorf("re-appending the newest sample unchanged: %v, want nil", err)
	}
	got := readAll(t, db)
	want := [][2]float64{{1000, 1}, {3000, 3}, {4000, 4}}
	if g := got[s.String()]; len(g) != len(want) || g[0] != want[0] || g[1] != want[1] || g[2] != want[2] {
		t.Errorf("g = %v, want %v", g, want)
	}
	if g := got[other.String()]; len(g) != 1 || g[0] != [2]float64{500, 5} {
		t.Errorf("h = %v, want [[500 5]]", g)
	}
}

// TestSelect checks what the engine and the series API rely on beyond
// matchers: sorted output, the time range from both querier and hints,
// limits, and labels-only selects.
func TestSelect(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "h.db"))
	defer db.Close()
	// Created in an order unlike label order, so id order ≠ label order.
	names := []string{"zeta", "alpha", "mid"}
	for ts := int64(0); ts < 10_000; ts += 1000 {
		var batch []Sample
		for _, n := range names {
			batch = append(batch, Sample{lbl("__name__", "m", "svc", n), ts, float64(ts)})
		}
		if err := db.Append(batch); err != nil {
			t.Fatal(err)
		}
	}
	// A series with samples only outside the range below must not appear.
	if err := db.Append([]Sample{{lbl("__name__", "m", "svc", "old"), -5000, 1}}); err != nil {
		t.Fatal(err)
	}
	type result struct {
		svcs         string
		first, count int64
	}
	for _, tc := range []struct {
		name       string
		mint, maxt int64
		sort       bool
		hints      *promstorage.SelectHints
		want       result
	}{
		{"sorted, querier range", 2000, 4000, true, nil, result{"alpha,mid,zeta", 2000, 3}},
		{"hints narrow the range", 0, 9000, true, &promstorage.SelectHints{Start: 5000, End: 6500}, result{"alpha,mid,zeta", 5000, 2}},
		{"hints cannot widen it", 3000, 3000, true, &promstorage.SelectHints{Start: 0, End: 9000}, result{"alpha,mid,zeta", 3000, 1}},
		{"limit after sorting", 0, 9000, true, &promstorage.SelectHints{Start: 0, End: 9000, Limit: 2}, result{"alpha,mid", 0, 10}},
		{"labels only", 0, 9000, true, &promstorage.SelectHints{Start: 0, End: 9000, Func: "series"}, result{"alpha,mid,zeta", 0, 0}},
		{"empty range", 20_000, 30_000, true, nil, result{"", 0, 0}},
		{"inverted range", 5000, 4000, true, nil, result{"", 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := db.Querier(tc.mint, tc.maxt)
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			ss := q.Select(context.Background(), tc.sort, tc.hints, labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
			var svcs []string
			var it chunkenc.Iterator
			for ss.Next() {
				svcs = append(svcs, ss.At().Labels().Get("svc"))
				it = ss.At().Iterator(it) // reused across series, as the engine does
				var n, first int64
				for it.Next() == chunkenc.ValFloat {
					ts, v := it.At()
					if n == 0 {
						first = ts
					}
					if v != float64(ts) {
						t.Errorf("%s at %d = %v", svcs[len(svcs)-1], ts, v)
					}
					n++
				}
				if n != tc.want.count || (n > 0 && first != tc.want.first) {
					t.Errorf("%s: %d samples from %d, want %d from %d", svcs[len(svcs)-1], n, first, tc.want.count, tc.want.first)
				}
			}
			if err := ss.Err(); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(svcs, ","); got != tc.want.svcs {
				t.Errorf("series %q, want %q", got, tc.want.svcs)
			}
		})
	}
}

func TestIteratorSeek(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "h.db"))
	defer db.Close()
	s := lbl("__name__", "g")
	var batch []Sample
	for ts := int64(0); ts <= 10_000; ts += 1000 {
		batch = append(batch, Sample{s, ts, float64(ts / 1000)})
	}
	if err := db.Append(batch); err != nil {
		t.Fatal(err)
	}
	q, _ := db.Querier(0, 10_000)
	ss := q.Select(context.Background(), false, nil)
	if !ss.Next() {
		t.Fatal("no series")
	}
	it := ss.At().Iterator(nil)
	for _, tc := range []struct {
		seek  int64
		want  chunkenc.ValueType
		wantT int64
	}{
		{2500, chunkenc.ValFloat, 3000},
		{1000, chunkenc.ValFloat, 3000}, // Seek never moves backwards
		{3000, chunkenc.ValFloat, 3000},
		{10_000, chunkenc.ValFloat, 10_000},
		{10_001, chunkenc.ValNone, 0},
	} {
		got := it.Seek(tc.seek)
		if got != tc.want || (got == chunkenc.ValFloat && it.AtT() != tc.wantT) {
			t.Errorf("Seek(%d) = %v at %d, want %v at %d", tc.seek, got, it.AtT(), tc.want, tc.wantT)
		}
	}
}

func TestLabelNamesWithMatchersAndLimit(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "h.db"))
	defer db.Close()
	if err := db.Append([]Sample{
		{lbl("__name__", "a", "job", "x", "le", "1"), 0, 1},
		{lbl("__name__", "b", "job", "y", "code", "200"), 0, 1},
	}); err != nil {
		t.Fatal(err)
	}
	q, _ := db.Querier(0, 0)
	ctx := context.Background()
	for _, tc := range []struct {
		ms   []*labels.Matcher
		want string
	}{
		{nil, "__name__,code,job,le"},
		{[]*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "job", "x")}, "__name__,job,le"},
		{[]*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "__name__", "b|c")}, "__name__,code,job"},
		{[]*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "job", "none")}, ""},
	} {
		names, _, err := q.LabelNames(ctx, nil, tc.ms...)
		if err != nil || strings.Join(names, ",") != tc.want {
			t.Errorf("LabelNames(%v) = %v %v, want %s", tc.ms, names, err, tc.want)
		}
	}
	vals, _, _ := q.LabelValues(ctx, "__name__", &promstorage.LabelHints{Limit: 1})
	if strings.Join(vals, ",") != "a" {
		t.Errorf("LabelValues(__name__, limit 1) = %v, want [a]", vals)
	}
}

func TestAnnotations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	db := open(t, path)
	// Added out of time order; two at the same instant both stay.
	for _, a := range []Annotation{
		{Time: 3000, Text: "fault: db slow", Tags: []string{"fault"}},
		{Time: 1000, Text: "load 50 → 200 rps", Tags: []string{"knob"}},
		{Time: 2000, Text: "first at 2 s"},
		{Time: 2000, Text: "second at 2 s"},
		{Time: -500, Text: "before the epoch"},
	} {
		if err := db.AddAnnotation(a); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	db = open(t, path) // and they survive a restart
	defer db.Close()
	texts := func(mint, maxt int64) string {
		anns, err := db.Annotations(mint, maxt)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range anns {
			out = append(out, a.Text)
		}
		return strings.Join(out, "|")
	}
	for _, tc := range []struct {
		mint, maxt int64
		want       string
	}{
		{math.MinInt64, math.MaxInt64, "before the epoch|load 50 → 200 rps|first at 2 s|second at 2 s|fault: db slow"},
		{1000, 2000, "load 50 → 200 rps|first at 2 s|second at 2 s"}, // both ends inclusive
		{1001, 2999, "first at 2 s|second at 2 s"},
		{3001, 9000, ""},
	} {
		if got := texts(tc.mint, tc.maxt); got != tc.want {
			t.Errorf("Annotations(%d, %d) = %q, want %q", tc.mint, tc.maxt, got, tc.want)
		}
	}
	anns, _ := db.Annotations(3000, 3000)
	if len(anns) != 1 || len(anns[0].Tags) != 1 || anns[0].Tags[0] != "fault" {
		t.Errorf("tags lost: %+v", anns)
	}
}

// TestConcurrentAppendAndQuery runs scrape-like appenders that all create the
// same new series at once, with queries alongside; under -race (make test
// runs it so) it checks the locking, and always that each series exists
// exactly once, holding the one sample every writer sent (the same
// sample again is accepted, not refused as out of order).
func TestConcurrentAppendAndQuery(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "h.db"))
	defer db.Close()
	// Every round brings new series (label r), so the writers keep racing to
	// create them rather than only the first round doing so.
	const writers, rounds, perBatch = 4, 30, 5
	var g errgroup.Group
	for w := 0; w < writers; w++ {
		g.Go(func() error {
			for r := 0; r < rounds; r++ {
				batch := make([]Sample, perBatch)
				for i := range batch {
					batch[i] = Sample{lbl("__name__", "m", "i", strconv.Itoa(i), "r", strconv.Itoa(r)), 1000, 1}
				}
				if err := db.Append(batch); err != nil {
					return err
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		for r := 0; r < rounds; r++ {
			if err := db.Flush(); err != nil { // flushes race with appends and reads too
				return err
			}
			q, _ := db.Querier(math.MinInt64, math.MaxInt64)
			ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
			for ss.Next() {
				it := ss.At().Iterator(nil)
				for it.Next() != chunkenc.ValNone {
				}
			}
			if err := ss.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, db, labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
	if len(got) != perBatch*rounds {
		t.Fatalf("%d series, want %d", len(got), perBatch*rounds)
	}
	for k, s := range got {
		if len(s) != 1 {
			t.Errorf("%s: %d samples, want 1", k, len(s))
		}
	}
	q, _ := db.Querier(math.MinInt64, math.MaxInt64)
	ss := q.Select(context.Background(), false, nil)
	n := 0
	for ss.Next() {
		n++
	}
	if n != perBatch*rounds {
		t.Errorf("%d series in the index, want %d (duplicates?)", n, perBatch*rounds)
	}
}
