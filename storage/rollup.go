package storage

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// Rollup tiers: per minute and per hour, each point the count, sum, min, max
// and last value of the raw samples (or finer points) in its period. A tier
// point carries the timestamp of its period's last millisecond, so aligned
// points cost the XOR encoding one bit of timestamp each; a period still in
// progress (only ever computed for a query, never stored) carries its last
// sample's time instead, so a query never sees a value before it happened.
const (
	tierMinute = iota
	tierHour
	numTiers
)

var (
	tierRes   = [numTiers]int64{60_000, 3_600_000}
	tierNames = [numTiers]string{"1m", "1h"}
)

// tierChunkPoints is how many points a tier chunk holds before it is
// closed: two hours of minutes, five days of hours.
const tierChunkPoints = 120

// Fields of a rollup point, in their stored order.
const (
	fieldCount = iota
	fieldSum
	fieldMin
	fieldMax
	fieldLast
	numFields
)

var staleNaN = math.Float64frombits(value.StaleNaN)

// point is one rollup point. Stale markers are not values: they count only
// as "last", so a series that ended shows as ended in the tier too. A point
// with count 0 (only stale markers) has stale sum, min and max.
type point struct {
	t                          int64
	count, sum, minV, maxV, lv float64
}

func newPoint() point { return point{sum: staleNaN, minV: staleNaN, maxV: staleNaN} }

// add folds one raw sample into p; samples come in time order.
func (p *point) add(t int64, v float64) {
	p.t, p.lv = t, v
	if value.IsStaleNaN(v) {
		return
	}
	if p.count == 0 {
		p.sum, p.minV, p.maxV = 0, v, v
	}
	p.count++
	p.sum += v
	// As Prometheus' min/max_over_time: a NaN gives way to any number.
	if v < p.minV || math.IsNaN(p.minV) {
		p.minV = v
	}
	if v > p.maxV || math.IsNaN(p.maxV) {
		p.maxV = v
	}
}

// merge folds the later point q into p.
func (p *point) merge(q point) {
	p.t, p.lv = q.t, q.lv
	if q.count == 0 {
		return
	}
	if p.count == 0 {
		p.sum, p.minV, p.maxV = 0, q.minV, q.maxV
	}
	p.count += q.count
	p.sum += q.sum
	if q.minV < p.minV || math.IsNaN(p.minV) {
		p.minV = q.minV
	}
	if q.maxV > p.maxV || math.IsNaN(p.maxV) {
		p.maxV = q.maxV
	}
}

// periodEnd is the last millisecond of the period of length res holding t.
func periodEnd(t, res int64) int64 {
	start := t - t%res
	if t%res < 0 { // floor for times before the epoch
		start -= res
	}
	return start + res - 1
}

// rollupChunk is an open tier chunk: one XOR chunk per field, all sharing
// the points' timestamps.
type rollupChunk struct {
	f [numFields]xorChunk
}

func newRollupChunk() *rollupChunk {
	r := &rollupChunk{}
	for i := range r.f {
		r.f[i] = newXORChunk()
	}
	return r
}

func (r *rollupChunk) append(p point) {
	for i, v := range [numFields]float64{p.count, p.sum, p.minV, p.maxV, p.lv} {
		r.f[i].append(p.t, v)
	}
}

func (r *rollupChunk) minT() int64 { return r.f[0].minT }
func (r *rollupChunk) maxT() int64 { return r.f[0].maxT }
func (r *rollupChunk) n() int      { return r.f[0].n }

// value returns the stored form: uvarint(maxT − minT), then per field
// uvarint(length) and its XOR bytes. A reader decodes only the fields it
// serves.
func (r *rollupChunk) value() []byte {
	dst := binary.AppendUvarint(nil, uint64(r.maxT()-r.minT()))
	for i := range r.f {
		b := r.f[i].c.Bytes()
		dst = binary.AppendUvarint(dst, uint64(len(b)))
		dst = append(dst, b...)
	}
	return dst
}

// reopenRollupChunk continues appending to a stored open tier chunk.
func reopenRollupChunk(minT int64, v []byte) (*rollupChunk, error) {
	fields, _, err := parseRollupValue(minT, v)
	if err != nil {
		return nil, err
	}
	r := &rollupChunk{}
	for i := range r.f {
		if r.f[i], err = reopenXORChunk(fields[i]); err != nil {
			return nil, fmt.Errorf("rollup chunk at %d: %w", minT, err)
		}
	}
	return r, nil
}

// parseRollupValue splits a stored tier chunk into its fields (aliasing v).
func parseRollupValue(minT int64, v []byte) (fields [numFields][]byte, maxT int64, err error) {
	span, n := binary.Uvarint(v)
	if n <= 0 {
		return fields, 0, fmt.Errorf("corrupt rollup chunk at %d", minT)
	}
	v = v[n:]
	for i := range fields {
		l, n := binary.Uvarint(v)
		if n <= 0 || uint64(len(v)-n) < l {
			return fields, 0, fmt.Errorf("corrupt rollup chunk at %d", minT)
		}
		fields[i], v = v[n:n+int(l)], v[n+int(l):]
	}
	return fields, minT + int64(span), nil
}

// pointsOf decodes every point of a stored tier chunk, for rebuilding the
// hour accumulator on open.
func pointsOf(minT int64, v []byte, dst []point) ([]point, error) {
	fields, _, err := parseRollupValue(minT, v)
	if err != nil {
		return dst, err
	}
	var its [numFields]chunkenc.Iterator
	for i := range fields {
		c, err := chunkenc.FromData(chunkenc.EncXOR, fields[i])
		if err != nil {
			return dst, err
		}
		its[i] = c.Iterator(nil)
	}
	for its[0].Next() == chunkenc.ValFloat {
		var vals [numFields]float64
		var t int64
		t, vals[0] = its[0].At()
		for i := 1; i < numFields; i++ {
			if its[i].Next() != chunkenc.ValFloat {
				return dst, fmt.Errorf("rollup chunk at %d: field %d ends early", minT, i)
			}
			_, vals[i] = its[i].At()
		}
		dst = append(dst, point{t: t, count: vals[0], sum: vals[1], minV: vals[2], maxV: vals[3], lv: vals[4]})
	}
	return dst, its[0].Err()
}

// servedValue is the sample a tier point stands for under a PromQL
// function: its max for max_over_time, min for min_over_time, its mean for
// avg_over_time, and otherwise its last value, which keeps counters exact
// for rate/increase between the points.
func servedValue(p point, field int) float64 {
	switch field {
	case fieldMin:
		return p.minV
	case fieldMax:
		return p.maxV
	case fieldSum: // served as the mean
		if p.count == 0 {
			return staleNaN
		}
		return p.sum / p.count
	}
	return p.lv
}
