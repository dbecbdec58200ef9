package storage

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// Closed raw chunks whose values are all integers once multiplied by a power
// of ten (counters, histogram bucket counts, gauges of items, CPU seconds in
// hundredths, durations in nanoseconds: most of what exporters send; of the
// 117 series that changed between two scrapes of Debian's node_exporter, 58
// held integers, 7 hundredths and 50 up to nine decimals) are stored as those integers'
// deltas or deltas of deltas, not as Gorilla XOR. XOR spends a control code,
// a window and the changed mantissa bits on every changed value, about 14
// bits for a counter growing by a few hundred a second; the integer's
// delta of deltas takes 6 to 10 (BenchmarkBytesPerSample). The head chunk
// stays XOR, since Prometheus' appender is incremental; cut transcodes it
// when that is smaller, and keeps XOR for everything else (full-precision
// floats, stale markers, -0).
//
// A chunk of n samples, its first time kept beside it (its slice entry's):
//
//	byte      scale e (low 4 bits: values are k / 10^e) | 0x10 if deltas of deltas
//	uvarint   n
//	varint    k of the first sample
//	bits      per later sample: its time's delta of delta (the first: its delta),
//	          then its k's delta (or delta of delta) in the classes below
//
// Time classes: 0 (zero), 10+14 bits, 110+17, 1110+20, 1111+64.
// Value classes: 0 (zero), 10+4 bits, 110+7, 1110+10, 11110+16, 111110+32,
// 111111+64.
// Every class holds a signed two's complement number.

const (
	encXOR byte = iota // Prometheus' XOR chunk
	encInt             // this file's scaled integers
)

const (
	intDod      = 0x10
	maxIntScale = 9 // nanoseconds: Go's Duration.Seconds() printed as text
)

var (
	timeClasses  = []bitClass{{1, 0}, {2, 14}, {3, 17}, {4, 20}, {4, 64}}
	valueClasses = []bitClass{{1, 0}, {2, 4}, {3, 7}, {4, 10}, {5, 16}, {6, 32}, {6, 64}}
	pow10        = [maxIntScale + 1]float64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}
)

// bitClass is one class of a prefix code: a prefix of n bits (n−1 ones then
// a zero, except that the last class drops the zero) and a payload.
type bitClass struct{ prefix, payload uint8 }

// encodeInt returns the scaled-integer encoding of fs (fs[0].t is the
// chunk's first time, kept beside it), or ok false if a value is no
// integer at any scale.
func encodeInt(fs floatSamples) (data []byte, ok bool) {
	ks := make([]int64, len(fs))
	e, ok := intScale(fs, ks)
	if !ok {
		return nil, false
	}
	// Deltas suit gauges, deltas of deltas counters at a steady rate; take
	// the smaller.
	var w [2]bitWriter
	for mode := range w {
		w[mode].b = binary.AppendVarint(binary.AppendUvarint(append(make([]byte, 0, 64), byte(e)|byte(mode*intDod)), uint64(len(ks))), ks[0])
		var pt, pk int64
		for i := 1; i < len(ks); i++ {
			dt, dk := fs[i].t-fs[i-1].t, ks[i]-ks[i-1]
			w[mode].put(timeClasses, dt-pt)
			if mode == 1 {
				w[mode].put(valueClasses, dk-pk)
			} else {
				w[mode].put(valueClasses, dk)
			}
			pt, pk = dt, dk
		}
	}
	if len(w[1].b) < len(w[0].b) {
		return w[1].b, true
	}
	return w[0].b, true
}

// intScale finds the smallest e for which every value is an integer k over
// 10^e that reads back bit for bit, filling ks.
func intScale(fs floatSamples, ks []int64) (int, bool) {
next:
	for e, p := range pow10 {
		for i, s := range fs {
			v := s.f
			k := math.Round(v * p)
			if !(math.Abs(k) <= 1<<53) { // NaN too
				continue next
			}
			// -0 and any value the division would not give back exactly
			// stay XOR.
			if ks[i] = int64(k); math.Float64bits(float64(ks[i])/p) != math.Float64bits(v) {
				continue next
			}
		}
		return e, true
	}
	return 0, false
}

type bitWriter struct {
	b    []byte
	free uint8 // unused low bits of the last byte
}

func (w *bitWriter) writeBits(v uint64, n uint8) {
	for n > 0 {
		if w.free == 0 {
			w.b = append(w.b, 0)
			w.free = 8
		}
		take := min(n, w.free)
		chunk := byte(v>>(n-take)) & (1<<take - 1)
		w.b[len(w.b)-1] |= chunk << (w.free - take)
		w.free -= take
		n -= take
	}
}

// put writes x in the first class of cs that holds it.
func (w *bitWriter) put(cs []bitClass, x int64) {
	for i, c := range cs {
		if !fits(x, c.payload) {
			continue
		}
		prefix := uint64(1)<<c.prefix - 2 // ones then a zero
		if i == len(cs)-1 {
			prefix |= 1
		}
		w.writeBits(prefix, c.prefix)
		if c.payload > 0 {
			w.writeBits(uint64(x), c.payload)
		}
		return
	}
}

// fits reports whether x is a signed number of n bits.
func fits(x int64, n uint8) bool {
	switch n {
	case 0:
		return x == 0
	case 64:
		return true
	}
	return x >= -(1<<(n-1)) && x < 1<<(n-1)
}

// bitReader reads what bitWriter wrote, 64 bits at a time.
type bitReader struct {
	b     []byte // bytes not yet in buf
	buf   uint64 // the next bits, most significant first
	valid uint8  // how many of buf's bits are the stream's
}

var errIntChunk = errors.New("corrupt integer chunk")

func (r *bitReader) fill() {
	if n := (64 - r.valid) / 8; len(r.b) >= 8 && n > 0 {
		w := binary.BigEndian.Uint64(r.b) >> (64 - 8*n) // the n bytes that fit
		r.buf |= w << (64 - r.valid - 8*n)
		r.b = r.b[n:]
		r.valid += 8 * n
		return
	}
	for r.valid <= 56 && len(r.b) > 0 {
		r.buf |= uint64(r.b[0]) << (56 - r.valid)
		r.b = r.b[1:]
		r.valid += 8
	}
}

// readBits reads n ≤ 32 bits.
func (r *bitReader) readBits(n uint8) (uint64, bool) {
	if r.valid < n {
		if r.fill(); r.valid < n {
			return 0, false
		}
	}
	v := r.buf >> (64 - n)
	r.buf <<= n
	r.valid -= n
	return v, true
}

// get reads a number written by put with the same classes.
func (r *bitReader) get(cs []bitClass) (int64, bool) {
	if r.valid < 8 {
		r.fill()
	}
	// Bits past valid are zero, so the count of leading ones stops there.
	i := min(bits.LeadingZeros64(^r.buf), len(cs)-1)
	c := cs[i]
	if c.prefix > r.valid {
		return 0, false
	}
	r.buf <<= c.prefix
	r.valid -= c.prefix
	switch c.payload {
	case 0:
		return 0, true
	case 64:
		hi, ok1 := r.readBits(32)
		lo, ok2 := r.readBits(32)
		return int64(hi<<32 | lo), ok1 && ok2
	}
	v, ok := r.readBits(c.payload)
	return int64(v<<(64-c.payload)) >> (64 - c.payload), ok // sign-extend
}

// intIterator reads an encInt chunk as a chunkenc.Iterator.
type intIterator struct {
	r      bitReader
	scale  float64
	dod    bool
	n, i   int
	t, k   int64
	dt, dk int64
	err    error
}

func newIntIterator(minT int64, data []byte) *intIterator {
	it := &intIterator{t: minT}
	if len(data) < 1 || data[0]&0x0f > maxIntScale {
		it.err = errIntChunk
		return it
	}
	it.scale, it.dod = pow10[data[0]&0x0f], data[0]&intDod != 0
	n, w := binary.Uvarint(data[1:])
	k, w2 := binary.Varint(data[1+max(w, 0):])
	if w <= 0 || w2 <= 0 || n == 0 || n > math.MaxUint16 {
		it.err = errIntChunk
		return it
	}
	it.n, it.k, it.i = int(n), k, -1
	it.r = bitReader{b: data[1+w+w2:]}
	return it
}

func (it *intIterator) Next() chunkenc.ValueType {
	if it.err != nil || it.i+1 >= it.n {
		return chunkenc.ValNone
	}
	it.i++
	if it.i == 0 {
		return chunkenc.ValFloat
	}
	ddt, ok1 := it.r.get(timeClasses)
	x, ok2 := it.r.get(valueClasses)
	if !ok1 || !ok2 {
		it.err = errIntChunk
		return chunkenc.ValNone
	}
	it.dt += ddt
	it.t += it.dt
	if it.dod {
		it.dk += x
	} else {
		it.dk = x
	}
	it.k += it.dk
	return chunkenc.ValFloat
}

func (it *intIterator) Seek(t int64) chunkenc.ValueType {
	if it.err != nil {
		return chunkenc.ValNone
	}
	if it.i < 0 && it.Next() == chunkenc.ValNone {
		return chunkenc.ValNone
	}
	for it.t < t {
		if it.Next() == chunkenc.ValNone {
			return chunkenc.ValNone
		}
	}
	return chunkenc.ValFloat
}

func (it *intIterator) At() (int64, float64) { return it.t, float64(it.k) / it.scale }
func (it *intIterator) AtHistogram(*histogram.Histogram) (int64, *histogram.Histogram) {
	panic("intIterator holds floats only")
}
func (it *intIterator) AtFloatHistogram(*histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	panic("intIterator holds floats only")
}
func (it *intIterator) AtT() int64  { return it.t }
func (it *intIterator) AtST() int64 { return 0 }
func (it *intIterator) Err() error  { return it.err }

// appendIntSamples decodes an encInt chunk, appending its samples in
// [mint, maxt] to dst: intIterator's work in one loop with the bit reader
// in locals, for queries, which decode whole chunks. A time on schedule
// (one zero bit) and a value outside the wide escape are read inline; the
// rest through the bitReader.
func appendIntSamples(dst floatSamples, minT int64, data []byte, mint, maxt int64) (floatSamples, error) {
	it := newIntIterator(minT, data)
	if it.err != nil {
		return dst, it.err
	}
	n, dod, scale := it.n, it.dod, it.scale
	t, k, dt, dk := it.t, it.k, int64(0), int64(0)
	r := it.r
	for i := 0; i < n; i++ {
		if i > 0 {
			if r.valid < 48 {
				r.fill()
			}
			if r.valid > 0 && r.buf>>63 == 0 {
				r.buf <<= 1
				r.valid--
			} else {
				ddt, ok := r.get(timeClasses)
				if !ok {
					return dst, errIntChunk
				}
				dt += ddt
				if r.valid < 40 {
					r.fill()
				}
			}
			t += dt
			c := valueClasses[min(bits.LeadingZeros64(^r.buf), len(valueClasses)-1)]
			var x int64
			if need := c.prefix + c.payload; c.payload < 64 && need <= r.valid {
				buf := r.buf << c.prefix
				if c.payload > 0 {
					x = int64(buf) >> (64 - c.payload) // sign-extend
				}
				r.buf = buf << c.payload
				r.valid -= need
			} else {
				var ok bool
				if x, ok = r.get(valueClasses); !ok {
					return dst, errIntChunk
				}
			}
			if dod {
				dk += x
			} else {
				dk = x
			}
			k += dk
		}
		if t > maxt {
			break
		}
		if t >= mint {
			v := float64(k)
			if scale != 1 {
				v /= scale
			}
			dst = append(dst, floatSample{t, v})
		}
	}
	return dst, nil
}
