package storage

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/prometheus/prometheus/model/histogram"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// The sample codec is Prometheus' Gorilla/XOR chunk; this file is the only
// place that builds or decodes one, so another codec would change only it.

// xorChunk is a chunk being appended to: samples in time order, at most
// 65535 of them (the chunk's count is 16 bits).
type xorChunk struct {
	c          *chunkenc.XORChunk
	app        chunkenc.Appender
	minT, maxT int64
	n          int
}

func newXORChunk() xorChunk {
	c := chunkenc.NewXORChunk()
	app, _ := c.Appender() // an empty XOR chunk's Appender cannot fail
	return xorChunk{c: c, app: app, minT: math.MaxInt64, maxT: math.MinInt64}
}

// reopenXORChunk continues appending to stored chunk bytes. It re-appends
// the samples to a new chunk: chunkenc does not record how many bits of the
// last byte are in use, so appending to the stored bytes would corrupt them.
func reopenXORChunk(b []byte) (xorChunk, error) {
	old, err := chunkenc.FromData(chunkenc.EncXOR, b)
	if err != nil {
		return xorChunk{}, err
	}
	x := newXORChunk()
	it := old.Iterator(nil)
	for it.Next() == chunkenc.ValFloat {
		x.append(it.At())
	}
	return x, it.Err()
}

func (x *xorChunk) append(t int64, v float64) {
	x.app.Append(0, t, v)
	x.minT, x.maxT = min(x.minT, t), max(x.maxT, t)
	x.n++
}

// bytes returns a copy of the chunk's current bytes: the chunk keeps writing
// into its last byte, so readers and bbolt need their own.
func (x *xorChunk) bytes() []byte { return append([]byte(nil), x.c.Bytes()...) }

// chunkRef is an immutable chunk ready to read or store: raw samples (XOR
// or scaled integers), or one field of a rollup chunk (XOR).
type chunkRef struct {
	minT, maxT int64
	enc        byte
	data       []byte
}

// closedChunk is the stored form of a head chunk being cut: scaled integers
// when they are smaller, else the XOR bytes as they are.
func closedChunk(x *xorChunk) storedChunk {
	ref := chunkRef{minT: x.minT, maxT: x.maxT, enc: encXOR, data: x.c.Bytes()}
	ts, vs := make([]int64, 0, x.n), make([]float64, 0, x.n)
	it := x.c.Iterator(nil)
	for it.Next() == chunkenc.ValFloat {
		t, v := it.At()
		ts, vs = append(ts, t), append(vs, v)
	}
	if data, ok := encodeInt(ts, vs); ok && len(data) < len(ref.data) {
		ref.enc, ref.data = encInt, data
	}
	return storedChunk{minT: ref.minT, enc: ref.enc, value: appendChunkValue(nil, ref)}
}

// appendChunkValue appends the stored form of a raw chunk, the value under
// key series id + minT (+ encoding): uvarint(maxT − minT) then the chunk's
// bytes. Keeping maxT lets reads and retention skip a chunk without
// decoding it.
func appendChunkValue(dst []byte, c chunkRef) []byte {
	dst = binary.AppendUvarint(dst, uint64(c.maxT-c.minT))
	return append(dst, c.data...)
}

// chunkKey appends a raw chunk's key within its series: its first time,
// then, for any encoding but XOR (the first layout's, which had no suffix),
// the encoding.
func chunkKey(dst []byte, minT int64, enc byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(minT)^(1<<63))
	if enc != encXOR {
		dst = append(dst, enc)
	}
	return dst
}

// parseChunk reads a stored raw chunk from its key and value; data aliases v.
func parseChunk(k, v []byte) (chunkRef, error) {
	minT := getTime(k)
	enc := encXOR
	if len(k) > 8 {
		enc = k[8]
	}
	span, n := binary.Uvarint(v)
	if n <= 0 || len(v)-n < 2 || enc > encInt {
		return chunkRef{}, fmt.Errorf("corrupt chunk at %d", minT)
	}
	return chunkRef{minT: minT, maxT: minT + int64(span), enc: enc, data: v[n:]}, nil
}

// iterator reads the chunk's samples; it may reuse old.
func (c chunkRef) iterator(old chunkenc.Iterator) chunkenc.Iterator {
	if c.enc == encInt {
		return newIntIterator(c.minT, c.data)
	}
	xc, err := chunkenc.FromData(chunkenc.EncXOR, c.data)
	if err != nil {
		return chunkenc.NewNopIterator() // not reached: EncXOR is always known
	}
	return xc.Iterator(old)
}

// seriesIterator reads a series' chunks, in time order and not
// overlapping, then a tail of samples, as one float iterator kept to
// [mint, maxt]. Seek skips whole chunks by their time span without
// decoding them.
type seriesIterator struct {
	mint, maxt int64
	chunks     []chunkRef
	tail       floatSamples
	next       int // the chunk to open next; len(chunks): the tail
	cur        chunkenc.Iterator
	curMaxT    int64
	xor        chunkenc.Iterator // kept for reuse
	valid      bool
	err        error
}

func newIterator(mint, maxt int64, chunks []chunkRef, tail floatSamples) chunkenc.Iterator {
	return &seriesIterator{mint: mint, maxt: maxt, chunks: chunks, tail: trim(tail, mint, maxt)}
}

// open moves to the next chunk (or the tail) that may hold samples ≥ t.
func (it *seriesIterator) open(t int64) bool {
	for it.next < len(it.chunks) {
		c := it.chunks[it.next]
		it.next++
		if c.maxT < t {
			continue
		}
		if c.minT > it.maxt {
			it.next = len(it.chunks) + 1
			return false
		}
		it.cur, it.curMaxT = c.iterator(it.xor), c.maxT
		if c.enc == encXOR {
			it.xor = it.cur
		}
		return true
	}
	if it.next == len(it.chunks) {
		it.next++
		if len(it.tail) > 0 {
			it.cur, it.curMaxT = promstorage.NewListSeriesIterator(it.tail), it.tail[len(it.tail)-1].t
			return true
		}
	}
	return false
}

// settle checks the sample the current iterator stopped on, vt: a sample
// past maxt ends the iteration; an exhausted chunk moves on to the next.
func (it *seriesIterator) settle(vt chunkenc.ValueType, t int64) chunkenc.ValueType {
	for {
		if vt == chunkenc.ValFloat {
			if it.cur.AtT() > it.maxt {
				break
			}
			it.valid = true
			return vt
		}
		if err := it.cur.Err(); err != nil {
			it.err = err
			break
		}
		if !it.open(t) {
			break
		}
		vt = it.cur.Seek(t)
	}
	it.valid, it.cur, it.next = false, nil, len(it.chunks)+1
	return chunkenc.ValNone
}

func (it *seriesIterator) Next() chunkenc.ValueType {
	if it.cur == nil {
		if it.next > len(it.chunks) || !it.open(it.mint) {
			return chunkenc.ValNone
		}
		return it.settle(it.cur.Seek(it.mint), it.mint)
	}
	return it.settle(it.cur.Next(), it.mint)
}

func (it *seriesIterator) Seek(t int64) chunkenc.ValueType {
	t = max(t, it.mint)
	if it.valid && it.cur.AtT() >= t {
		return chunkenc.ValFloat
	}
	if it.cur == nil || it.curMaxT < t {
		if it.next > len(it.chunks) || !it.open(t) {
			it.valid, it.cur = false, nil
			return chunkenc.ValNone
		}
	}
	return it.settle(it.cur.Seek(t), t)
}

func (it *seriesIterator) At() (int64, float64) { return it.cur.At() }
func (it *seriesIterator) AtHistogram(h *histogram.Histogram) (int64, *histogram.Histogram) {
	return it.cur.AtHistogram(h)
}
func (it *seriesIterator) AtFloatHistogram(fh *histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	return it.cur.AtFloatHistogram(fh)
}
func (it *seriesIterator) AtT() int64  { return it.cur.AtT() }
func (it *seriesIterator) AtST() int64 { return 0 }
func (it *seriesIterator) Err() error  { return it.err }

// hasSamples reports whether chunks or tail hold a sample in [mint, maxt].
func hasSamples(mint, maxt int64, chunks []chunkRef, tail floatSamples) (bool, error) {
	for _, c := range chunks {
		if c.maxT < mint || c.minT > maxt {
			continue
		}
		if c.minT >= mint || c.maxT <= maxt {
			return true, nil // its first or last sample is in range
		}
		it := c.iterator(nil)
		if it.Seek(mint) == chunkenc.ValFloat && it.AtT() <= maxt {
			return true, nil
		}
		if err := it.Err(); err != nil {
			return false, err
		}
	}
	return len(trim(tail, mint, maxt)) > 0, nil
}

// trim returns the samples of fs (in time order) in [mint, maxt].
func trim(fs floatSamples, mint, maxt int64) floatSamples {
	lo, _ := slices.BinarySearchFunc(fs, mint, func(s floatSample, t int64) int { return cmp.Compare(s.t, t) })
	hi, found := slices.BinarySearchFunc(fs, maxt, func(s floatSample, t int64) int { return cmp.Compare(s.t, t) })
	if found {
		hi++
	}
	if lo >= hi {
		return nil
	}
	return fs[lo:hi]
}

// iterator reads the chunk's samples so far; empty before the first.
func (x *xorChunk) iterator() chunkenc.Iterator {
	if x.c == nil {
		return chunkenc.NewNopIterator()
	}
	return x.c.Iterator(nil)
}

// bytesOrNil is bytes for a chunk that may not exist yet.
func (x *xorChunk) bytesOrNil() []byte {
	if x.c == nil {
		return nil
	}
	return x.c.Bytes()
}
