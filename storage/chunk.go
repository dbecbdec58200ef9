package storage

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"

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

// chunkRef is an immutable chunk ready to read or store: raw samples, or one
// field of a rollup chunk, both XOR bytes.
type chunkRef struct {
	minT, maxT int64
	data       []byte
}

// appendChunkValue appends the stored form of a raw chunk, the value under
// key series id + minT: uvarint(maxT − minT) then the XOR bytes. Keeping
// maxT lets reads and retention skip a chunk without decoding it.
func appendChunkValue(dst []byte, c chunkRef) []byte {
	dst = binary.AppendUvarint(dst, uint64(c.maxT-c.minT))
	return append(dst, c.data...)
}

// parseChunkValue reads a stored raw chunk; data aliases v.
func parseChunkValue(minT int64, v []byte) (chunkRef, error) {
	span, n := binary.Uvarint(v)
	if n <= 0 || len(v)-n < 2 {
		return chunkRef{}, fmt.Errorf("corrupt chunk at %d", minT)
	}
	return chunkRef{minT: minT, maxT: minT + int64(span), data: v[n:]}, nil
}

// newIterator reads chunks, then tail, as one float iterator kept to
// [mint, maxt]. It is built from Prometheus' own iterators: chunks wholly in
// range through their XOR iterators, edge chunks decoded and trimmed into
// list iterators, all chained. (This package declares no Seek method of its
// own: go vet would take it for io.Seeker's.)
func newIterator(mint, maxt int64, chunks []chunkRef, tail floatSamples) chunkenc.Iterator {
	its := make([]chunkenc.Iterator, 0, len(chunks)+1)
	for _, c := range chunks {
		if c.maxT < mint || c.minT > maxt {
			continue
		}
		xc, err := chunkenc.FromData(chunkenc.EncXOR, c.data)
		if err != nil {
			continue // not reached: EncXOR is always known
		}
		if c.minT >= mint && c.maxT <= maxt {
			its = append(its, xc.Iterator(nil))
			continue
		}
		if fs := decodeRange(xc, mint, maxt, nil); len(fs) > 0 {
			its = append(its, promstorage.NewListSeriesIterator(fs))
		}
	}
	if fs := trim(tail, mint, maxt); len(fs) > 0 {
		its = append(its, promstorage.NewListSeriesIterator(fs))
	}
	switch len(its) {
	case 0:
		return chunkenc.NewNopIterator()
	case 1:
		return its[0]
	}
	return promstorage.ChainSampleIteratorFromIterators(nil, its)
}

// hasSamples reports whether chunks or tail hold a sample in [mint, maxt].
func hasSamples(mint, maxt int64, chunks []chunkRef, tail floatSamples) (bool, error) {
	for _, c := range chunks {
		if c.maxT < mint || c.minT > maxt {
			continue
		}
		if c.minT >= mint || c.maxT <= maxt {
			return true, nil // its first or last sample is in range
		}
		xc, err := chunkenc.FromData(chunkenc.EncXOR, c.data)
		if err != nil {
			return false, err
		}
		it := xc.Iterator(nil)
		if it.Seek(mint) == chunkenc.ValFloat && it.AtT() <= maxt {
			return true, nil
		}
		if err := it.Err(); err != nil {
			return false, err
		}
	}
	return len(trim(tail, mint, maxt)) > 0, nil
}

// decodeRange appends a chunk's samples in [mint, maxt] to dst.
func decodeRange(c chunkenc.Chunk, mint, maxt int64, dst floatSamples) floatSamples {
	it := c.Iterator(nil)
	for it.Next() == chunkenc.ValFloat {
		t, v := it.At()
		if t > maxt {
			break
		}
		if t >= mint {
			dst = append(dst, floatSample{t, v})
		}
	}
	return dst
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

// bytesOrNil is bytes for a chunk that may not exist yet.
func (x *xorChunk) bytesOrNil() []byte {
	if x.c == nil {
		return nil
	}
	return x.c.Bytes()
}
