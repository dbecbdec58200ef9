package storage

import (
	"context"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

func TestPickTier(t *testing.T) {
	const m, h = 60_000, 3_600_000
	for _, tc := range []struct {
		hints     *promstorage.SelectHints
		tier, fld int
	}{
		{nil, rawTier, fieldLast},
		{&promstorage.SelectHints{Step: 0, Range: 5 * m, Func: "rate"}, rawTier, fieldLast},        // instant query
		{&promstorage.SelectHints{Step: 15_000, Range: 5 * m, Func: "rate"}, rawTier, fieldLast},   // step finer than a minute
		{&promstorage.SelectHints{Step: m, Range: 10 * m, Func: "rate"}, tierMinute, fieldLast},    // dashboard over hours
		{&promstorage.SelectHints{Step: m, Range: 5 * m, Func: "rate"}, rawTier, fieldLast},        // too few minute points for an honest rate
		{&promstorage.SelectHints{Step: h, Range: 12 * h, Func: "increase"}, tierHour, fieldLast},  // a week, by the hour
		{&promstorage.SelectHints{Step: h, Range: h, Func: "rate"}, tierMinute, fieldLast},         // too short for hour points
		{&promstorage.SelectHints{Step: h, Range: 0, Func: "sum"}, tierMinute, fieldLast},          // lookback would not reach an hour back
		{&promstorage.SelectHints{Step: h, Range: h, Func: "max_over_time"}, tierHour, fieldMax},   //
		{&promstorage.SelectHints{Step: m, Range: m, Func: "min_over_time"}, tierMinute, fieldMin}, //
		{&promstorage.SelectHints{Step: m, Range: m, Func: "avg_over_time"}, tierMinute, fieldSum}, //
		{&promstorage.SelectHints{Step: m, Range: 5 * m, Func: "count_over_time"}, rawTier, fieldLast},
		{&promstorage.SelectHints{Step: m, Range: 5 * m, Func: "irate"}, rawTier, fieldLast},
		{&promstorage.SelectHints{Step: m, Range: 0, Func: "timestamp"}, rawTier, fieldLast},
		{&promstorage.SelectHints{Step: m, Func: "series"}, rawTier, fieldLast},
	} {
		if tier, fld := pickTier(tc.hints); tier != tc.tier || fld != tc.fld {
			t.Errorf("pickTier(%+v) = %d, %d; want %d, %d", tc.hints, tier, fld, tc.tier, tc.fld)
		}
	}
}

// selectPoints reads one series through Select with hints, as the engine
// would.
func selectPoints(t *testing.T, db *DB, hints *promstorage.SelectHints, ms ...*labels.Matcher) []floatSample {
	t.Helper()
	q, _ := db.Querier(hints.Start, hints.End)
	defer q.Close()
	ss := q.Select(context.Background(), false, hints, ms...)
	var out []floatSample
	for ss.Next() {
		it := ss.At().Iterator(nil)
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			out = append(out, floatSample{ts, v})
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := ss.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRollupTiersMatchTheRawSamples compares every minute and hour point,
// in each field a query can ask for, with the same aggregate computed here
// from the raw samples: before and after a restart (which rebuilds the
// open rollup state), across chunk cuts and tier chunk cuts, with the
// newest minutes still in the head chunk, a stale marker, and a series
// starting mid-minute.
//
// A series scraped every 15 s keeps no minute tier (its points would cost
// more than its samples): there, a minute-tier query must read its raw
// samples, and the hour tier is built from them directly.
func TestRollupTiersMatchTheRawSamples(t *testing.T) {
	for _, interval := range []int64{1000, 15_000} {
		t.Run(strconv.FormatInt(interval, 10)+"ms", func(t *testing.T) { testRollupTiers(t, interval) })
	}
}

func testRollupTiers(t *testing.T, interval int64) {
	path := filepath.Join(t.TempDir(), "h.db")
	db := open(t, path)
	rng := rand.New(rand.NewPCG(6, 1))
	s := lbl("__name__", "g", "job", "j")
	start := int64(1_700_000_030_000) // mid-minute
	var raw []floatSample
	n := int((5*3600 + 1234) * 1000 / interval) // several minute chunks (120 points each), some hours, and a head
	lastOfHour := n / 3
	for periodEnd(start+int64(lastOfHour)*interval, 3600_000) == periodEnd(start+int64(lastOfHour+1)*interval, 3600_000) {
		lastOfHour++
	}
	for i := range n {
		v := 100 + 10*rng.NormFloat64()
		if i == n/4 || i == lastOfHour { // one anywhere, one ending an hour
			v = staleNaN
		}
		raw = append(raw, floatSample{start + int64(i)*interval, v})
	}
	for i := 0; i < n; i += 10 { // scrapes batched by ten seconds
		var batch []Sample
		for _, r := range raw[i:min(i+10, n)] {
			batch = append(batch, Sample{s, r.t, r.f})
		}
		if err := db.Append(batch); err != nil {
			t.Fatal(err)
		}
	}
	end := raw[n-1].t
	check := func(db *DB) {
		t.Helper()
		for k := range numTiers {
			res := tierRes[k]
			// Brute force: one point per period, labelled at its end, the
			// last (in progress) at its last sample.
			var want []point
			for _, r := range raw {
				if len(want) == 0 || periodEnd(want[len(want)-1].t, res) != periodEnd(r.t, res) {
					if len(want) > 0 {
						want[len(want)-1].t = periodEnd(want[len(want)-1].t, res)
					}
					want = append(want, newPoint())
				}
				want[len(want)-1].add(r.t, r.f)
			}
			if k == tierMinute && interval > denseInterval { // read raw
				want = want[:0]
				for _, r := range raw {
					p := newPoint()
					p.add(r.t, r.f)
					want = append(want, p)
				}
			}
			for _, f := range []struct {
				fn    string
				field int
			}{{"rate", fieldLast}, {"max_over_time", fieldMax}, {"min_over_time", fieldMin}, {"avg_over_time", fieldSum}} {
				hints := &promstorage.SelectHints{Start: start, End: end, Step: res, Range: 10 * res, Func: f.fn}
				if tier, _ := pickTier(hints); tier != k {
					t.Fatalf("%s at %d ms reads tier %d, want %d", f.fn, res, tier, k)
				}
				got := selectPoints(t, db, hints)
				if len(got) != len(want) {
					t.Fatalf("%s tier, %s: %d points, want %d", tierNames[k], f.fn, len(got), len(want))
				}
				for i, w := range want {
					wv := servedValue(w, f.field)
					g := got[i]
					same := math.Float64bits(g.f) == math.Float64bits(wv) ||
						(f.field == fieldSum && math.Abs(g.f-wv) <= 1e-12*math.Abs(wv)) // hour sums add minute sums: rounding differs
					if g.t != w.t || !same {
						t.Fatalf("%s tier, %s, point %d: %v at %d, want %v at %d", tierNames[k], f.fn, i, g.f, g.t, wv, w.t)
					}
				}
			}
		}
		pts := selectPoints(t, db, &promstorage.SelectHints{Start: start, End: end, Step: 3600_000, Range: 36000_000, Func: "rate"})
		for _, p := range pts {
			if p.t == periodEnd(raw[lastOfHour].t, 3600_000) && !value.IsStaleNaN(p.f) {
				t.Errorf("the hour ending in a stale marker serves %v, want the marker", p.f)
			}
		}
	}
	check(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, path)
	defer db.Close()
	check(db)
	// And appending after the restart carries on the same tiers.
	for i := range int(3600_000 / interval) {
		raw = append(raw, floatSample{end + int64(i+1)*interval, float64(i)})
		if err := db.Append([]Sample{{s, raw[len(raw)-1].t, float64(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	end = raw[len(raw)-1].t
	check(db)
}

// rawOnly hides the query step from the storage, so every select reads raw
// samples: the reference the rollup answers are compared with.
type rawOnly struct{ db *DB }

func (r rawOnly) Querier(mint, maxt int64) (promstorage.Querier, error) {
	q, err := r.db.Querier(mint, maxt)
	return rawOnlyQuerier{q}, err
}

type rawOnlyQuerier struct{ promstorage.Querier }

func (q rawOnlyQuerier) Select(ctx context.Context, sort bool, h *promstorage.SelectHints, ms ...*labels.Matcher) promstorage.SeriesSet {
	if h != nil {
		c := *h
		c.Step = 0
		h = &c
	}
	return q.Querier.Select(ctx, sort, h, ms...)
}

// TestRateOnRollupsAgreesWithRaw runs the same 24 h dashboard queries on
// the rollup tiers (what a range query with a ≥ 1 m step reads) and on the
// raw samples. A counter with a diurnal rate (50/s ± 30/s, one day's
// period, Poisson noise) is scraped every second for 26 h, and resets once.
//
// Between two points of a tier the increase is exact (both are the last
// samples of their periods); what differs is the window's ends: the tier's
// first point stands for the end of its period, and rate extrapolates over
// it. So the error is about the rate's change within one period over the
// number of periods in the window: on minutes, Poisson noise in one minute
// (±1/√3000 ≈ 2 %) over 10 to 60 periods, well under 1 %; on hours, the
// rate in the hour extrapolated over (rate's window starts and ends
// mid-hour) is taken as the window's mean, while the diurnal rate there is
// up to 60 % off it: 60 % × 1/12 ≈ 5 %, so 8 % allowed. Coarse tiers suit
// windows of many hours, which is what pickTier sends them.
func TestRateOnRollupsAgreesWithRaw(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "h.db"))
	defer db.Close()
	rng := rand.New(rand.NewPCG(6, 2))
	s := lbl("__name__", "requests_total", "job", "demo")
	start := time.Unix(1_700_000_000, 0)
	const seconds = 26 * 3600
	c := 0.0
	batch := make([]Sample, 0, 60)
	for i := range seconds {
		lambda := 50 + 30*math.Sin(float64(i)/3600*2*math.Pi/24)
		c += float64(poisson(rng, lambda))
		if i == 24*3600 { // a restart: the counter resets
			c = 0
		}
		batch = append(batch, Sample{s, start.Add(time.Duration(i) * time.Second).UnixMilli(), c})
		if len(batch) == cap(batch) {
			if err := db.Append(batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	qStart, qEnd := start.Add(2*time.Hour), start.Add(seconds*time.Second)
	// run copies the answer: Close hands the result's slices back to the
	// engine's pool.
	run := func(qa promstorage.Queryable, qs string, step time.Duration) []promql.FPoint {
		q, err := engine.NewRangeQuery(context.Background(), qa, nil, qs, qStart, qEnd, step)
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		m, err := q.Exec(context.Background()).Matrix()
		if err != nil || len(m) != 1 {
			t.Fatalf("%s: %v %v", qs, m, err)
		}
		return slices.Clone(m[0].Floats)
	}
	for _, tc := range []struct {
		q      string
		window time.Duration
		step   time.Duration
		tol    float64 // relative, per step
	}{
		{`rate(requests_total[10m])`, 10 * time.Minute, time.Minute, 0.01},
		{`rate(requests_total[1h])`, time.Hour, time.Minute, 0.005},
		{`rate(requests_total[1h])`, time.Hour, time.Hour, 0.005},
		{`increase(requests_total[12h])`, 12 * time.Hour, time.Hour, 0.08},
	} {
		tier, raw := run(db, tc.q, tc.step), run(rawOnly{db}, tc.q, tc.step)
		if len(tier) != len(raw) {
			t.Fatalf("%s: %d steps on the tier, %d on raw", tc.q, len(tier), len(raw))
		}
		worst, skipped := 0.0, 0
		for i, r := range raw {
			// The window holding the reset: raw sees the increase before
			// the reset within the minute, the tier's last values do not.
			// That costs at most one minute's increase, checked below.
			at := time.UnixMilli(r.T)
			if !at.Before(start.Add(24*time.Hour)) && at.Before(start.Add(24*time.Hour+tc.window+time.Minute)) {
				skipped++
				continue
			}
			// A window reaching back to the series' first period: that
			// period has no point before it, so its own increase is not on
			// the tier (raw sees it from the first sample).
			if at.Add(-tc.window).Before(start.Add(time.Hour)) {
				skipped++
				continue
			}
			worst = max(worst, math.Abs(tier[i].F-r.F)/r.F)
		}
		t.Logf("%s, step %v: worst relative difference %.4f%% over %d steps (%d around the reset or the start not counted)", tc.q, tc.step, 100*worst, len(raw)-skipped, skipped)
		if worst > tc.tol {
			t.Errorf("%s, step %v: the tier differs from raw by up to %.3f%%, want ≤ %.1f%%", tc.q, tc.step, 100*worst, 100*tc.tol)
		}
	}
}

// poisson draws from a Poisson distribution (Knuth's method, in chunks for
// large means).
func poisson(rng *rand.Rand, lambda float64) int {
	n := 0
	for lambda > 30 {
		n += poisson(rng, 30)
		lambda -= 30
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return n + k
		}
		k++
	}
}
