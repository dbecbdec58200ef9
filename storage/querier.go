package storage

import (
	"context"
	"encoding/binary"
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

// seriesRef is a series as the in-memory index knows it.
type seriesRef struct {
	id   uint64
	lset labels.Labels
}

// matching returns the series whose labels satisfy every matcher, by
// ascending id. Equality matchers with a value narrow through the postings
// (the common `{__name__="x", job="y"}` touches only those series); every
// matcher, all types, is then checked against the candidates' labels, which
// also gives `label=""` its Prometheus meaning of "label absent".
func (db *DB) matching(ms []*labels.Matcher) []seriesRef {
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
	out := make([]seriesRef, 0, len(cand))
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
			out = append(out, seriesRef{id, lset})
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

// Select returns the matching series that have samples in the querier's
// range narrowed by hints.Start/End. With hints.Func "series" (the series
// API) only the labels are wanted, so samples are not read.
func (q *querier) Select(ctx context.Context, sortSeries bool, hints *promstorage.SelectHints, ms ...*labels.Matcher) promstorage.SeriesSet {
	mint, maxt := q.mint, q.maxt
	labelsOnly := false
	if hints != nil {
		mint, maxt = max(mint, hints.Start), min(maxt, hints.End)
		labelsOnly = hints.Func == "series"
	}
	refs := q.db.matching(ms)
	if mint > maxt || len(refs) == 0 {
		return promstorage.EmptySeriesSet()
	}
	if sortSeries {
		slices.SortFunc(refs, func(a, b seriesRef) int { return labels.Compare(a.lset, b.lset) })
	}
	out := make([]promstorage.Series, 0, len(refs))
	err := q.db.bolt.View(func(tx *bolt.Tx) error {
		smp := tx.Bucket(bucketSamples)
		var idBuf, from [8]byte
		putTime(from[:], mint)
		for _, ref := range refs {
			if err := ctx.Err(); err != nil {
				return err
			}
			if hints != nil && hints.Limit > 0 && len(out) == hints.Limit {
				break
			}
			binary.BigEndian.PutUint64(idBuf[:], ref.id)
			b := smp.Bucket(idBuf[:])
			if b == nil {
				continue
			}
			var fs floatSamples
			c := b.Cursor()
			for k, v := c.Seek(from[:]); k != nil; k, v = c.Next() {
				t := getTime(k)
				if t > maxt {
					break
				}
				fs = append(fs, floatSample{t: t, f: math.Float64frombits(binary.BigEndian.Uint64(v))})
				if labelsOnly {
					break
				}
			}
			if len(fs) == 0 {
				continue
			}
			if labelsOnly {
				fs = nil
			}
			out = append(out, newSeries(ref.lset, fs))
		}
		return nil
	})
	if err != nil {
		return promstorage.ErrSeriesSet(fmt.Errorf("select %v in [%d, %d]: %w", ms, mint, maxt, err))
	}
	return &seriesSet{series: out, i: -1}
}

// newSeries wraps samples read into memory in Prometheus' own list iterator.
func newSeries(lset labels.Labels, fs floatSamples) *promstorage.SeriesEntry {
	return &promstorage.SeriesEntry{
		Lset: lset,
		SampleIteratorFn: func(it chunkenc.Iterator) chunkenc.Iterator {
			if r, ok := it.(interface{ Reset(promstorage.Samples) }); ok {
				r.Reset(fs)
				return it
			}
			return promstorage.NewListSeriesIterator(fs)
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
