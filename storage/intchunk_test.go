package storage

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// cutOf appends ts, vs to a head chunk and cuts it as Append does.
func cutOf(t *testing.T, ts []int64, vs []float64) (chunkRef, int) {
	t.Helper()
	x := newXORChunk()
	for i := range ts {
		x.append(ts[i], vs[i])
	}
	sc, _ := closedChunk(&x)
	ref, err := parseChunk(sc.minT, sc.enc, sc.value)
	if err != nil {
		t.Fatal(err)
	}
	return ref, len(x.c.Bytes())
}

// readChunk decodes a chunk, failing on an error.
func readChunk(t *testing.T, ref chunkRef) ([]int64, []float64) {
	t.Helper()
	var ts []int64
	var vs []float64
	it := ref.iterator(nil)
	for it.Next() == chunkenc.ValFloat {
		tt, v := it.At()
		ts, vs = append(ts, tt), append(vs, v)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return ts, vs
}

func TestIntChunkRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	regular := func(n int, step int64) []int64 {
		ts := make([]int64, n)
		for i := range ts {
			ts[i] = 1_700_000_000_000 + int64(i)*step
		}
		return ts
	}
	gen := func(n int, f func(i int, prev float64) float64) []float64 {
		vs := make([]float64, n)
		for i := range vs {
			prev := 0.0
			if i > 0 {
				prev = vs[i-1]
			}
			vs[i] = f(i, prev)
		}
		return vs
	}
	for _, tc := range []struct {
		name    string
		ts      []int64
		vs      []float64
		wantEnc byte
	}{
		{"counter", regular(120, 1000), gen(120, func(_ int, p float64) float64 { return p + float64(rng.IntN(300)) }), encInt},
		{"constant", regular(120, 1000), gen(120, func(int, float64) float64 { return 42 }), encInt},
		{"gauge", regular(120, 15000), gen(120, func(int, float64) float64 { return float64(rng.IntN(2000) - 1000) }), encInt},
		{"hundredths", regular(120, 15000), gen(120, func(_ int, p float64) float64 { return math.Round((p+rng.Float64()*15)*100) / 100 }), encInt},
		{"a huge jump", regular(120, 1000), gen(120, func(i int, p float64) float64 {
			if i == 60 {
				return p + 1<<52
			}
			return p + 1
		}), encInt},
		{"huge jumps only", regular(120, 1000), gen(120, func(i int, _ float64) float64 { return float64(int64(i%2) << 52) }), encXOR},
		{"negative", regular(120, 1000), gen(120, func(i int, _ float64) float64 { return -float64(i*i*1000 + 1) }), encInt},
		{"irregular times", func() []int64 {
			ts := regular(120, 1000)
			for i := range ts {
				ts[i] += int64(i*i) + int64(rng.IntN(3))
			}
			ts[60] += 1 << 40 // a gap past every class but the escape
			for i := 61; i < len(ts); i++ {
				ts[i] += 1 << 40
			}
			return ts
		}(), gen(120, func(_ int, p float64) float64 { return p + 1 }), encInt},
		{"nanosecond durations", regular(120, 15000), gen(120, func(int, float64) float64 { return float64(int64(1e6+rng.ExpFloat64()*1e7)) / 1e9 }), encInt},
		{"one sample", regular(1, 1000), []float64{7}, encInt},
		{"full precision", regular(120, 1000), gen(120, func(_ int, p float64) float64 { return p + rng.ExpFloat64() }), encXOR},
		{"negative zero", regular(120, 1000), gen(120, func(i int, _ float64) float64 { return math.Copysign(0, -1) }), encXOR},
		{"stale marker", regular(120, 1000), gen(120, func(i int, _ float64) float64 {
			if i == 100 {
				return math.Float64frombits(value.StaleNaN)
			}
			return float64(i)
		}), encXOR},
		{"NaN", regular(120, 1000), gen(120, func(int, float64) float64 { return math.NaN() }), encXOR},
		{"Inf", regular(120, 1000), gen(120, func(i int, _ float64) float64 { return math.Inf(1) }), encXOR},
		{"beyond 2^53", regular(120, 1000), gen(120, func(i int, _ float64) float64 { return 1 << 60 * float64(i) }), encXOR},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, xorLen := cutOf(t, tc.ts, tc.vs)
			if ref.enc != tc.wantEnc {
				t.Errorf("encoding %d, want %d (XOR %d bytes, stored %d)", ref.enc, tc.wantEnc, xorLen, len(ref.data))
			}
			if len(ref.data) > xorLen {
				t.Errorf("stored %d bytes, more than XOR's %d", len(ref.data), xorLen)
			}
			ts, vs := readChunk(t, ref)
			if len(ts) != len(tc.ts) {
				t.Fatalf("read %d samples, want %d", len(ts), len(tc.ts))
			}
			for i := range ts {
				if ts[i] != tc.ts[i] || math.Float64bits(vs[i]) != math.Float64bits(tc.vs[i]) {
					t.Fatalf("sample %d: (%d, %v), want (%d, %v)", i, ts[i], vs[i], tc.ts[i], tc.vs[i])
				}
			}
			if ref.maxT != tc.ts[len(tc.ts)-1] {
				t.Errorf("maxT %d, want %d", ref.maxT, tc.ts[len(tc.ts)-1])
			}
		})
	}
}

// TestIntChunkSmaller checks the point of the encoding on the demo shop's
// commonest series, a histogram bucket counting ~150 requests a second:
// the integers' deltas of deltas take well under XOR's bytes.
func TestIntChunkSmaller(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ts, vs := make([]int64, 120), make([]float64, 120)
	for i := range ts {
		ts[i] = int64(i) * 1000
		if i > 0 {
			vs[i] = vs[i-1] + float64(poisson(rng, 150))
		}
	}
	ref, xorLen := cutOf(t, ts, vs)
	if ref.enc != encInt || float64(len(ref.data)) > 0.8*float64(xorLen) {
		t.Errorf("encoding %d, %d bytes against XOR's %d: want the integer encoding, at most 80 %%", ref.enc, len(ref.data), xorLen)
	}
}

func TestIntIteratorSeek(t *testing.T) {
	ts, vs := make([]int64, 50), make([]float64, 50)
	for i := range ts {
		ts[i], vs[i] = int64(i)*10, float64(i)
	}
	ref, _ := cutOf(t, ts, vs)
	if ref.enc != encInt {
		t.Fatalf("encoding %d, want integers", ref.enc)
	}
	it := ref.iterator(nil)
	if it.Seek(95) != chunkenc.ValFloat || it.AtT() != 100 {
		t.Fatalf("Seek(95) at %d, want 100", it.AtT())
	}
	if it.Seek(20) != chunkenc.ValFloat || it.AtT() != 100 {
		t.Fatalf("Seek back to 20 moved to %d; an iterator never goes back", it.AtT())
	}
	if it.Next() != chunkenc.ValFloat || it.AtT() != 110 {
		t.Fatalf("Next after Seek at %d, want 110", it.AtT())
	}
	if it.Seek(491) != chunkenc.ValNone {
		t.Fatalf("Seek past the end found %d", it.AtT())
	}
}

// FuzzIntChunk decodes arbitrary bytes (no panic, bounded work) and round
// trips arbitrary integer series.
func FuzzIntChunk(f *testing.F) {
	f.Add([]byte{0x10, 3, 2, 0xff, 0x00}, int64(5), int64(1000))
	f.Add([]byte{0x02, 0x80, 0x01}, int64(-3), int64(1))
	f.Fuzz(func(t *testing.T, data []byte, seed, step int64) {
		it := newIntIterator(0, data)
		var slow floatSamples
		for n := 0; it.Next() == chunkenc.ValFloat; n++ {
			if n > math.MaxUint16 {
				t.Fatal("more samples than a chunk holds")
			}
			tt, v := it.At()
			slow = append(slow, floatSample{tt, v})
		}
		fast, err := appendIntSamples(nil, 0, data, math.MinInt64, math.MaxInt64)
		if (err != nil) != (it.Err() != nil) || err == nil && len(fast) != len(slow) {
			t.Fatalf("query decoder: %d samples, %v; iterator: %d, %v", len(fast), err, len(slow), it.Err())
		}
		for i := range fast {
			if err == nil && (fast[i].t != slow[i].t || math.Float64bits(fast[i].f) != math.Float64bits(slow[i].f)) {
				t.Fatalf("sample %d: query decoder %v, iterator %v", i, fast[i], slow[i])
			}
		}
		rng := rand.New(rand.NewPCG(uint64(seed), 0))
		ts, vs := make([]int64, 1+rng.IntN(200)), []float64{}
		for i := range ts {
			ts[i] = int64(i) * step
			vs = append(vs, float64(rng.Int64N(1<<53)-1<<52)/pow10[rng.IntN(3)])
		}
		if step <= 0 {
			return // times must grow
		}
		fs := make(floatSamples, len(ts))
		for i := range ts {
			fs[i] = floatSample{ts[i], vs[i]}
		}
		data, ok := encodeInt(fs)
		if !ok {
			return
		}
		ref := chunkRef{minT: 0, maxT: ts[len(ts)-1], enc: encInt, data: data}
		got, gotV := readChunk(t, ref)
		fast, err = appendIntSamples(nil, 0, data, math.MinInt64, math.MaxInt64)
		if err != nil || len(fast) != len(ts) {
			t.Fatalf("the query decoder read %d samples (%v), want %d", len(fast), err, len(ts))
		}
		for i := range ts {
			if got[i] != ts[i] || math.Float64bits(gotV[i]) != math.Float64bits(vs[i]) {
				t.Fatalf("sample %d: (%d, %v), want (%d, %v)", i, got[i], gotV[i], ts[i], vs[i])
			}
			if fast[i].t != ts[i] || math.Float64bits(fast[i].f) != math.Float64bits(vs[i]) {
				t.Fatalf("query decoder, sample %d: %v, want (%d, %v)", i, fast[i], ts[i], vs[i])
			}
		}
	})
}

// TestSeriesIterator checks the chunk-concatenating iterator against a plain
// list of the same samples, over random ranges and random Next/Seek walks.
func TestSeriesIterator(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var chunks []chunkRef
	var all floatSamples
	tm := int64(0)
	for c := range 4 {
		x := newXORChunk()
		for range 30 {
			tm += 1 + rng.Int64N(20)
			v := float64(rng.IntN(100))
			if c == 2 {
				v += rng.Float64() // a full-precision chunk: XOR
			}
			x.append(tm, v)
			all = append(all, floatSample{tm, v})
		}
		sc, _ := closedChunk(&x)
		ref, err := parseChunk(sc.minT, sc.enc, sc.value)
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, ref)
	}
	var tail floatSamples
	for range 10 {
		tm += 7
		tail = append(tail, floatSample{tm, float64(tm)})
		all = append(all, floatSample{tm, float64(tm)})
	}
	for trial := range 2000 {
		mint, maxt := rng.Int64N(tm+20)-10, rng.Int64N(tm+20)-10
		want := trim(all, mint, maxt)
		it := newIterator(mint, maxt, chunks, tail, nil)
		i := 0 // want[i] is where a correct iterator stands after its next move
		for step := 0; ; step++ {
			var vt chunkenc.ValueType
			if rng.IntN(3) == 0 {
				to := rng.Int64N(tm+20) - 10
				vt = it.Seek(to)
				// Seek stays put when already at or past to.
				if step == 0 || want[i-1].t < to {
					for i < len(want) && want[i].t < to {
						i++
					}
				} else {
					i--
				}
			} else {
				vt = it.Next()
			}
			if i >= len(want) {
				if vt != chunkenc.ValNone {
					t.Fatalf("trial %d [%d, %d]: sample at %d past the end", trial, mint, maxt, it.AtT())
				}
				break
			}
			if vt != chunkenc.ValFloat {
				t.Fatalf("trial %d [%d, %d] step %d: ended early, want t=%d", trial, mint, maxt, step, want[i].t)
			}
			if gt, gv := it.At(); gt != want[i].t || gv != want[i].f {
				t.Fatalf("trial %d [%d, %d] step %d: (%d, %v), want (%d, %v)", trial, mint, maxt, step, gt, gv, want[i].t, want[i].f)
			}
			i++
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkDecodeChunk decodes a 120-sample counter chunk growing by about
// five a second, as the integer encoding stores it and as XOR would: the
// per-sample cost a query pays, and the bytes each takes.
func BenchmarkDecodeChunk(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := newXORChunk()
	v := 0.0
	for i := range 120 {
		v += float64(poisson(rng, 5))
		x.append(int64(i)*1000, v)
	}
	sc, _ := closedChunk(&x)
	ref, err := parseChunk(sc.minT, sc.enc, sc.value)
	if err != nil || ref.enc != encInt {
		b.Fatalf("encoding %d, %v: want integers", ref.enc, err)
	}
	xor := chunkRef{minT: x.minT, maxT: x.maxT, enc: encXOR, data: x.c.Bytes()}
	for _, c := range []chunkRef{ref, xor} {
		b.Run([]string{"xor", "int"}[c.enc], func(b *testing.B) {
			var dst floatSamples
			for b.Loop() {
				dst = newIterator(math.MinInt64, math.MaxInt64, []chunkRef{c}, nil, &sampleIterator{fs: dst}).(*sampleIterator).fs
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*120), "ns/sample")
			b.ReportMetric(float64(len(c.data))/120, "bytes/sample")
		})
	}
}
