package storage

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
	bolt "go.etcd.io/bbolt"
)

// Querier returns a querier over [mint, maxt] (ms, inclusive), making *DB a
// prometheus storage.Queryable. It reads a consistent snapshot per Select, so
// it never blocks or is blocked by Append for longer than one read.
func (db *DB) Querier(mint, maxt int64) (promstorage.Querier, error) {
	return &querier{db: db, mint: mint, maxt: maxt}, nil
}

type querier struct {
	db         *DB
	mint, maxt int64
}

// matching returns the series whose labels satisfy every matcher, by
// ascending id. Equality matchers with a value narrow through the postings
// (the common `{__name__="x", job="y"}` touches only those series); every
// matcher, all types, is then checked against the candidates' labels, which
// also gives `label=""` its Prometheus meaning of "label absent".
func (db *DB) matching(ms []*labels.Matcher) []*memSeries {
	db.mu.RLock()
	defer db.mu.RUnlock()
	var cand []uint64
	narrowed := false
	for _, m := range ms {
		if m.Type != labels.MatchEqual || m.Value == "" {
			continue
		}
		ids := db.postings[m.Name][m.Value]
		if !narrowed {
			cand, narrowed = slices.Clone(ids), true
		} else {
			cand = intersect(cand, ids)
		}
	}
	if !narrowed {
		cand = make([]uint64, 0, len(db.series))
		for id := range db.series {
			cand = append(cand, id)
		}
		slices.Sort(cand)
	}
	out := make([]*memSeries, 0, len(cand))
	for _, id := range cand {
		s := db.series[id]
		ok := true
		for _, m := range ms {
			if !m.Matches(s.lset.Get(m.Name)) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

// intersect keeps the ids of a that are also in b; both are ascending.
func intersect(a, b []uint64) []uint64 {
	out := a[:0]
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i, j = i+1, j+1
		}
	}
	return out
}

// rawTier stands for the samples themselves in tier choices.
const rawTier = -1

// pickTier chooses what a select reads: the coarsest rollup tier whose
// points are no further apart than the query's step and that the function
// can be answered from honestly, else the raw samples. Instant queries
// (step 0) always read raw samples.
//
//   - rate, increase, delta read each period's last value: between two
//     points a counter's increase is exact, and only the window's ends move,
//     by up to one period, which rate's extrapolation papers over. The error
//     is about the rate's change within one period over the number of
//     periods in the window, so they need ten periods in their range
//     (rate(x[10m]) on minutes, increase(x[12h]) on hours).
//   - max/min/avg_over_time read the period's max, min and mean (a mean of
//     means, exact when the periods hold equally many samples);
//     last_over_time and present_over_time the last value.
//   - An instant vector (range 0) under any function but timestamp() reads
//     the last value, up to one period late; only the minute tier, since the
//     default lookback (5 m) would not reach back to the previous hour point.
//
// Anything else (count_over_time, sum_over_time, quantile_over_time,
// changes, resets, irate, deriv…) counts or looks at individual samples,
// so it reads raw samples.
func pickTier(h *promstorage.SelectHints) (tier, field int) {
	if h == nil || h.Step <= 0 || h.Func == "series" {
		return rawTier, fieldLast
	}
	need := int64(1)
	field = fieldLast
	switch {
	case h.Range == 0:
		if h.Func == "timestamp" {
			return rawTier, fieldLast
		}
	case h.Func == "rate" || h.Func == "increase" || h.Func == "delta":
		need = 10
	case h.Func == "last_over_time" || h.Func == "present_over_time":
	case h.Func == "max_over_time":
		field = fieldMax
	case h.Func == "min_over_time":
		field = fieldMin
	case h.Func == "avg_over_time":
		field = fieldSum
	default:
		return rawTier, fieldLast
	}
	for k := numTiers - 1; k >= 0; k-- {
		res := tierRes[k]
		if h.Step < res || (h.Range == 0 && res > 5*60_000) || (h.Range > 0 && h.Range < need*res) {
			continue
		}
		return k, field
	}
	return rawTier, fieldLast
}

// memSnap is a series' in-memory data for one select, copied under mu.
// Memory is read before disk: a flush commits chunks before dropping them
// from memory, so whatever the snapshot lacks is already on disk when the
// read transaction starts; disk chunks starting at or after memMinT are
// skipped as duplicates of memory's.
type memSnap struct {
	tier    int
	memMinT int64
	chunks  []chunkRef
	tail    floatSamples
}

// snapshot copies what a select of [mint, maxt] needs from memory; the
// caller holds mu for reading.
func (s *memSeries) snapshot(tier, field int, mint, maxt int64) memSnap {
	m := memSnap{tier: tier, memMinT: math.MaxInt64}
	overlaps := func(lo, hi int64) bool { return lo <= maxt && hi >= mint }
	if tier == rawTier {
		for _, c := range s.closed {
			m.memMinT = min(m.memMinT, c.minT)
			if ref, err := parseChunk(c.minT, c.enc, c.value); err == nil && overlaps(ref.minT, ref.maxT) {
				m.chunks = append(m.chunks, ref)
			}
		}
		if s.head.n > 0 {
			m.memMinT = min(m.memMinT, s.head.minT)
			if overlaps(s.head.minT, s.head.maxT) {
				m.chunks = append(m.chunks, chunkRef{minT: s.head.minT, maxT: s.head.maxT, data: s.head.bytes()})
			}
		}
		return m
	}
	ts := &s.tiers[tier]
	for _, c := range ts.closed {
		m.memMinT = min(m.memMinT, c.minT)
		m.chunks, m.tail = appendTierChunk(m.chunks, m.tail, c.minT, c.value, field, overlaps, false)
	}
	if ts.open != nil {
		m.memMinT = min(m.memMinT, ts.open.minT())
		if overlaps(ts.open.minT(), ts.open.maxT()) {
			m.chunks, m.tail = appendTierChunk(m.chunks, m.tail, ts.open.minT(), ts.open.value(), field, overlaps, true)
		}
	}
	for _, p := range s.tierTail(tier) {
		if p.t >= mint && p.t <= maxt {
			m.tail = append(m.tail, floatSample{p.t, servedValue(p, field)})
		}
	}
	return m
}

// tierTail computes, for a query, the points of tier k not yet in it: the
// minutes of the head chunk, and for hours the accumulator folded with them.
// The last point is still in progress and carries its last sample's time.
func (s *memSeries) tierTail(k int) []point {
	mins := minutePoints(s.head.iterator(), nil, false)
	if k == tierMinute {
		return mins
	}
	hour := tierRes[tierHour]
	var out []point
	acc, has := s.hourAcc, s.hasAcc
	for _, p := range mins {
		if has && periodEnd(acc.t, hour) != periodEnd(p.t, hour) {
			acc.t = periodEnd(acc.t, hour)
			out = append(out, acc)
			has = false
		}
		if !has {
			acc, has = newPoint(), true
		}
		acc.merge(p)
	}
	if has {
		out = append(out, acc)
	}
	return out
}

// appendTierChunk adds one stored tier chunk's field to a select's chunks,
// or, for the mean (two fields), its decoded samples to tail. With copyData
// the bytes are copied (out of a bbolt transaction, or from an open chunk).
func appendTierChunk(chunks []chunkRef, tail floatSamples, minT int64, v []byte, field int, overlaps func(lo, hi int64) bool, copyData bool) ([]chunkRef, floatSamples) {
	fields, maxT, err := parseRollupValue(minT, v)
	if err != nil || !overlaps(minT, maxT) {
		return chunks, tail
	}
	if field != fieldSum {
		data := fields[field]
		if copyData {
			data = append([]byte(nil), data...)
		}
		return append(chunks, chunkRef{minT: minT, maxT: maxT, data: data}), tail
	}
	sum, err1 := chunkenc.FromData(chunkenc.EncXOR, fields[fieldSum])
	count, err2 := chunkenc.FromData(chunkenc.EncXOR, fields[fieldCount])
	if err1 != nil || err2 != nil {
		return chunks, tail
	}
	si, ci := sum.Iterator(nil), count.Iterator(nil)
	for si.Next() == chunkenc.ValFloat && ci.Next() == chunkenc.ValFloat {
		t, sv := si.At()
		_, cv := ci.At()
		tail = append(tail, floatSample{t, servedValue(point{t: t, count: cv, sum: sv}, fieldSum)})
	}
	return chunks, tail
}

// Select returns the matching series that have samples in the querier's
// range narrowed by hints.Start/End, from the rollup tier pickTier chooses.
// With hints.Func "series" (the series API) only the labels are wanted.
func (q *querier) Select(ctx context.Context, sortSeries bool, hints *promstorage.SelectHints, ms ...*labels.Matcher) promstorage.SeriesSet {
	mint, maxt := q.mint, q.maxt
	labelsOnly := false
	if hints != nil {
		mint, maxt = max(mint, hints.Start), min(maxt, hints.End)
		labelsOnly = hints.Func == "series"
	}
	tier, field := pickTier(hints)
	refs := q.db.matching(ms)
	if mint > maxt || len(refs) == 0 {
		return promstorage.EmptySeriesSet()
	}
	if sortSeries {
		slices.SortFunc(refs, func(a, b *memSeries) int { return labels.Compare(a.lset, b.lset) })
	}
	snaps := make([]memSnap, len(refs))
	var dirs [numKinds][]sliceInfo
	q.db.mu.RLock()
	for i, s := range refs {
		t := tier
		if t == tierMinute && s.mode == modeSparse {
			t = rawTier // no minute tier: its raw samples are as few
		}
		snaps[i] = s.snapshot(t, field, mint, maxt)
	}
	// Slices only grow at the end and retention replaces the slice, so
	// the snapshot's headers stay as they are.
	dirs = q.db.dirs
	q.db.mu.RUnlock()

	chunks := make([][]chunkRef, len(refs))
	tails := make([]floatSamples, len(refs))
	overlaps := func(lo, hi int64) bool { return lo <= maxt && hi >= mint }
	var buf []byte // a slice's parts put together
	err := q.db.bolt.View(func(tx *bolt.Tx) error {
		for kind := range numKinds {
			want := map[uint64]int{}
			for i := range refs {
				if kindOf(snaps[i].tier) == kind {
					want[refs[i].id] = i
				}
			}
			if len(want) == 0 {
				continue
			}
			b := tx.Bucket(sliceBuckets[kind])
			for _, si := range dirs[kind] {
				if !overlaps(si.minT, si.maxT) {
					continue
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				// A slice retention deleted since has no parts left.
				if buf = readParts(buf[:0], b, si.seq); len(buf) == 0 {
					continue
				}
				err := readSlice(buf, func(id uint64, minT int64, enc byte, value []byte) error {
					i, ok := want[id]
					if !ok || minT > maxt || minT >= snaps[i].memMinT {
						return nil
					}
					if kind != kindRaw {
						chunks[i], tails[i] = appendTierChunk(chunks[i], tails[i], minT, value, field, overlaps, true)
						return nil
					}
					ref, err := parseChunk(minT, enc, value)
					if err != nil {
						return fmt.Errorf("series %s: %w", refs[i].lset, err)
					}
					if overlaps(ref.minT, ref.maxT) {
						ref.data = append([]byte(nil), ref.data...) // out of buf, reused
						chunks[i] = append(chunks[i], ref)
					}
					return nil
				})
				if err != nil {
					return fmt.Errorf("%s slice %d: %w", sliceBuckets[kind], si.seq, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return promstorage.ErrSeriesSet(fmt.Errorf("select %v in [%d, %d]: %w", ms, mint, maxt, err))
	}
	out := make([]promstorage.Series, 0, len(refs))
	for i, s := range refs {
		if hints != nil && hints.Limit > 0 && len(out) == hints.Limit {
			break
		}
		cs := append(chunks[i], snaps[i].chunks...)
		tail := append(tails[i], snaps[i].tail...)
		if ok, err := hasSamples(mint, maxt, cs, tail); err != nil {
			return promstorage.ErrSeriesSet(fmt.Errorf("select %v: series %s: %w", ms, s.lset, err))
		} else if !ok {
			continue
		}
		if labelsOnly {
			cs, tail = nil, nil
		}
		out = append(out, newSeries(s.lset, mint, maxt, cs, tail))
	}
	return &seriesSet{series: out, i: -1}
}

// newSeries hands out chunks (and a tail of samples) as one iterator.
func newSeries(lset labels.Labels, mint, maxt int64, chunks []chunkRef, tail floatSamples) *promstorage.SeriesEntry {
	return &promstorage.SeriesEntry{
		Lset: lset,
		SampleIteratorFn: func(old chunkenc.Iterator) chunkenc.Iterator {
			return newIterator(mint, maxt, chunks, tail, old)
		},
	}
}

// LabelValues returns the sorted values of name over the series matching ms
// (all series without matchers).
func (q *querier) LabelValues(_ context.Context, name string, hints *promstorage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	set := map[string]struct{}{}
	if len(ms) == 0 {
		q.db.mu.RLock()
		for v := range q.db.postings[name] {
			set[v] = struct{}{}
		}
		q.db.mu.RUnlock()
	} else {
		for _, ref := range q.db.matching(ms) {
			if v := ref.lset.Get(name); v != "" {
				set[v] = struct{}{}
			}
		}
	}
	return sortedKeys(set, hints), nil, nil
}

// LabelNames returns the sorted label names of the series matching ms (all
// series without matchers).
func (q *querier) LabelNames(_ context.Context, hints *promstorage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	set := map[string]struct{}{}
	if len(ms) == 0 {
		q.db.mu.RLock()
		for n := range q.db.postings {
			set[n] = struct{}{}
		}
		q.db.mu.RUnlock()
	} else {
		for _, ref := range q.db.matching(ms) {
			ref.lset.Range(func(l labels.Label) { set[l.Name] = struct{}{} })
		}
	}
	return sortedKeys(set, hints), nil, nil
}

// Close releases nothing: each Select holds its read transaction only while
// it runs.
func (q *querier) Close() error { return nil }

func sortedKeys(set map[string]struct{}, hints *promstorage.LabelHints) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	if hints != nil && hints.Limit > 0 && len(out) > hints.Limit {
		out = out[:hints.Limit]
	}
	return out
}

type seriesSet struct {
	series []promstorage.Series
	i      int
}

func (s *seriesSet) Next() bool                        { s.i++; return s.i < len(s.series) }
func (s *seriesSet) At() promstorage.Series            { return s.series[s.i] }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return nil }

// floatSamples is a series' samples in memory, laid out flat: Get hands out a
// pointer into the slice, so iterating allocates nothing per sample.
type floatSamples []floatSample

func (s floatSamples) Get(i int) chunks.Sample { return &s[i] }
func (s floatSamples) Len() int                { return len(s) }

// floatSample is one float sample as chunks.Sample.
type floatSample struct {
	t int64
	f float64
}

func (s *floatSample) T() int64                      { return s.t }
func (s *floatSample) ST() int64                     { return 0 }
func (s *floatSample) F() float64                    { return s.f }
func (s *floatSample) H() *histogram.Histogram       { return nil }
func (s *floatSample) FH() *histogram.FloatHistogram { return nil }
func (s *floatSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s *floatSample) Copy() chunks.Sample           { c := *s; return &c }
