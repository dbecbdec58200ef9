package storage

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
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
	if err == nil || !strings.Contains(err.Error(), "another archscope") {
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

// BenchmarkAppend appends a demo-shop-sized scrape (300 series) per transaction.
func BenchmarkAppend(b *testing.B) {
	db, err := Open(filepath.Join(b.TempDir(), "h.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	batch := make([]Sample, 300)
	for i := range batch {
		batch[i].Labels = lbl("__name__", "m", "job", "demo", "i", string(rune('a'+i%26))+strings.Repeat("x", i/26))
	}
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		for i := range batch {
			batch[i].T = int64(n) * 1000
			batch[i].V = float64(n)
		}
		if err := db.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "samples/s")
}
