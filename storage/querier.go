package storage

import (
	"context"
	"encoding/binary"
	"math"
	"slices"
	"sort"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
	bolt "go.etcd.io/bbolt"
)

// Querier returns a querier over [mint, maxt] (ms, inclusive), making *DB a
// prometheus storage.Queryable.
func (db *DB) Querier(mint, maxt int64) (promstorage.Querier, error) {
	return &querier{db: db, mint: mint, maxt: maxt}, nil
}

type querier struct {
	db         *DB
	mint, maxt int64
}

// matching returns the ids of the series whose labels satisfy every matcher,
// ascending. Equality matchers narrow through the postings; the rest are
// checked against the candidates' labels.
func (db *DB) matching(ms []*labels.Matcher) []uint64 {
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
	out := cand[:0]
	for _, id := range cand {
		lset := db.series[id]
		ok := true
		for _, m := range ms {
			if !m.Matches(lset.Get(m.Name)) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, id)
		}
	}
	return out
}

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

func (db *DB) labelsOf(id uint64) labels.Labels {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.series[id]
}

func (q *querier) Select(ctx context.Context, sortSeries bool, hints *promstorage.SelectHints, ms ...*labels.Matcher) promstorage.SeriesSet {
	mint, maxt := q.mint, q.maxt
	if hints != nil {
		mint, maxt = max(mint, hints.Start), min(maxt, hints.End)
	}
	ids := q.db.matching(ms)
	out := make([]promstorage.Series, 0, len(ids))
	err := q.db.bolt.View(func(tx *bolt.Tx) error {
		smp := tx.Bucket(bucketSamples)
		var idBuf, from [8]byte
		putTime(from[:], mint)
		for _, id := range ids {
			if err := ctx.Err(); err != nil {
				return err
			}
			binary.BigEndian.PutUint64(idBuf[:], id)
			b := smp.Bucket(idBuf[:])
			if b == nil {
				continue
			}
			s := &series{lset: q.db.labelsOf(id)}
			c := b.Cursor()
			for k, v := c.Seek(from[:]); k != nil; k, v = c.Next() {
				t := getTime(k)
				if t > maxt {
					break
				}
				s.ts = append(s.ts, t)
				s.vs = append(s.vs, math.Float64frombits(binary.BigEndian.Uint64(v)))
			}
			if len(s.ts) > 0 {
				out = append(out, s)
			}
		}
		return nil
	})
	if err != nil {
		return promstorage.ErrSeriesSet(err)
	}
	if sortSeries {
		sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].Labels(), out[j].Labels()) < 0 })
	}
	return &seriesSet{series: out, i: -1}
}

func (q *querier) LabelValues(ctx context.Context, name string, _ *promstorage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	set := map[string]struct{}{}
	if len(ms) == 0 {
		q.db.mu.RLock()
		for v := range q.db.postings[name] {
			set[v] = struct{}{}
		}
		q.db.mu.RUnlock()
	} else {
		for _, id := range q.db.matching(ms) {
			if v := q.db.labelsOf(id).Get(name); v != "" {
				set[v] = struct{}{}
			}
		}
	}
	return sortedKeys(set), nil, nil
}

func (q *querier) LabelNames(ctx context.Context, _ *promstorage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	set := map[string]struct{}{}
	if len(ms) == 0 {
		q.db.mu.RLock()
		for n := range q.db.postings {
			set[n] = struct{}{}
		}
		q.db.mu.RUnlock()
	} else {
		for _, id := range q.db.matching(ms) {
			q.db.labelsOf(id).Range(func(l labels.Label) { set[l.Name] = struct{}{} })
		}
	}
	return sortedKeys(set), nil, nil
}

func (q *querier) Close() error { return nil }

func sortedKeys(set map[string]struct{}) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
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

// series is one series' samples in the queried range, read into memory.
type series struct {
	lset labels.Labels
	ts   []int64
	vs   []float64
}

func (s *series) Labels() labels.Labels { return s.lset }

func (s *series) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	if fi, ok := it.(*floatIterator); ok {
		*fi = floatIterator{s: s, i: -1}
		return fi
	}
	return &floatIterator{s: s, i: -1}
}

// floatIterator walks a series' float samples.
type floatIterator struct {
	s *series
	i int
}

func (it *floatIterator) Next() chunkenc.ValueType {
	if it.i+1 >= len(it.s.ts) {
		it.i = len(it.s.ts)
		return chunkenc.ValNone
	}
	it.i++
	return chunkenc.ValFloat
}

func (it *floatIterator) Seek(t int64) chunkenc.ValueType {
	if it.i < 0 {
		it.i = 0
	}
	if it.i >= len(it.s.ts) {
		return chunkenc.ValNone
	}
	if it.s.ts[it.i] >= t {
		return chunkenc.ValFloat
	}
	it.i += sort.Search(len(it.s.ts)-it.i, func(j int) bool { return it.s.ts[it.i+j] >= t })
	if it.i >= len(it.s.ts) {
		return chunkenc.ValNone
	}
	return chunkenc.ValFloat
}

func (it *floatIterator) At() (int64, float64) { return it.s.ts[it.i], it.s.vs[it.i] }
func (it *floatIterator) AtHistogram(*histogram.Histogram) (int64, *histogram.Histogram) {
	panic("storage: AtHistogram on a float series")
}
func (it *floatIterator) AtFloatHistogram(*histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	panic("storage: AtFloatHistogram on a float series")
}
func (it *floatIterator) AtT() int64  { return it.s.ts[it.i] }
func (it *floatIterator) AtST() int64 { return 0 }
func (it *floatIterator) Err() error  { return nil }
