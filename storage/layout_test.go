package storage

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	bolt "go.etcd.io/bbolt"
)

// writeFirstLayout writes a file as the first storage layout did: series
// bucket (labels → id, ids from its sequence), one nested bucket of samples
// per series id (time → float bits), annotations.
func writeFirstLayout(t *testing.T, path string, series map[string][]floatSample, lsets map[string]labels.Labels) {
	t.Helper()
	b, err := bolt.Open(path, 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.Update(func(tx *bolt.Tx) error {
		sb, _ := tx.CreateBucket(bucketSeries)
		smp, _ := tx.CreateBucket(bucketOldSamples)
		ab, _ := tx.CreateBucket(bucketAnnotations)
		for name, fs := range series {
			id, _ := sb.NextSequence()
			idb := binary.BigEndian.AppendUint64(nil, id)
			if err := sb.Put(encodeLabels(nil, lsets[name]), idb); err != nil {
				return err
			}
			nb, err := smp.CreateBucket(idb)
			if err != nil {
				return err
			}
			for _, s := range fs {
				k := make([]byte, 8)
				putTime(k, s.t)
				if err := nb.Put(k, binary.BigEndian.AppendUint64(nil, math.Float64bits(s.f))); err != nil {
					return err
				}
			}
		}
		var k [16]byte
		putTime(k[:8], 5000)
		binary.BigEndian.PutUint64(k[8:], 1)
		return ab.Put(k[:], []byte(`{"time":5000,"text":"from the first layout"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpenMigratesTheFirstLayout: a file from before chunks opens with
// every sample, bit for bit (stale markers and times before the epoch
// included), its annotations, rollups built from the old samples, and room
// for new series; the old bucket is gone and bbolt's own check passes.
func TestOpenMigratesTheFirstLayout(t *testing.T) {
	defer func(n int) { migrateBatch = n }(migrateBatch)
	migrateBatch = 500 // several transactions, as a big file would take
	path := filepath.Join(t.TempDir(), "h.db")
	series, lsets := map[string][]floatSample{}, map[string]labels.Labels{}
	for i := range 5 {
		l := lbl("__name__", "m", "i", strconv.Itoa(i))
		n := 10 + 400*i // from one short chunk to several
		var fs []floatSample
		for j := range n {
			v := float64(j * i)
			if j == n/2 {
				v = staleNaN
			}
			fs = append(fs, floatSample{int64(j-5) * 1000, v})
		}
		series[l.String()], lsets[l.String()] = fs, l
	}
	writeFirstLayout(t, path, series, lsets)

	db := open(t, path)
	got := readAll(t, db)
	if len(got) != len(series) {
		t.Fatalf("%d series after migration, want %d", len(got), len(series))
	}
	for name, want := range series {
		g := got[name]
		if len(g) != len(want) {
			t.Fatalf("%s: %d samples after migration, want %d", name, len(g), len(want))
		}
		for j, w := range want {
			if int64(g[j][0]) != w.t || math.Float64bits(g[j][1]) != math.Float64bits(w.f) {
				t.Fatalf("%s[%d] = %v, want %v", name, j, g[j], w)
			}
		}
	}
	anns, err := db.Annotations(0, 10_000)
	if err != nil || len(anns) != 1 || anns[0].Text != "from the first layout" {
		t.Errorf("annotations after migration: %+v %v", anns, err)
	}
	// The minute tier was built from the old samples too.
	// Series 4 holds v = 4j at t = (j−5) s: the minute before the epoch
	// ends at j = 4, the next at j = 64.
	pts := selectPoints(t, db, &promstorage.SelectHints{Start: -5000, End: 2_000_000, Step: 60_000, Range: 600_000, Func: "max_over_time"},
		labels.MustNewMatcher(labels.MatchEqual, "i", "4"))
	if len(pts) < 2 || pts[0] != (floatSample{-1, 16}) || pts[1] != (floatSample{59_999, 256}) {
		t.Errorf("minute maxima after migration start %v, want [{-1 16} {59999 256}]", pts[:min(2, len(pts))])
	}
	fresh := lbl("__name__", "m", "i", "new")
	if err := db.Append([]Sample{{fresh, 1_000_000, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, path)
	defer db.Close()
	if got := readAll(t, db); len(got) != len(series)+1 || len(got[fresh.String()]) != 1 {
		t.Errorf("after reopening: %d series, new one %v", len(got), got[fresh.String()])
	}
	err = db.bolt.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketOldSamples) != nil {
			t.Error("the old samples bucket is still there")
		}
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if one := lbl("__name__", "m", "i", "1").String(); !value.IsStaleNaN(readAll(t, db)[one][len(series[one])/2][1]) {
		t.Error("the stale marker did not survive migration")
	}
}

// TestFlushIsDurable copies the file of a live DB, as a crash would leave
// it: what Flush committed is there, what came after is not, and the copy
// opens cleanly.
func TestFlushIsDurable(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(filepath.Join(dir, "h.db"), &Options{FlushInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s := lbl("__name__", "c")
	for i := range 1000 { // several chunk cuts and minute points
		if err := db.Append([]Sample{{s, int64(i) * 1000, float64(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.Append([]Sample{{s, 1_000_000, 1}, {lbl("__name__", "unflushed"), 0, 1}}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	crashed := filepath.Join(dir, "crashed.db")
	if err := os.WriteFile(crashed, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	c := open(t, crashed)
	defer c.Close()
	got := readAll(t, c)
	if len(got) != 1 || len(got[s.String()]) != 1000 {
		t.Fatalf("after the crash: %d series, %d samples of c; want 1 series, 1000 samples", len(got), len(got[s.String()]))
	}
	for i, g := range got[s.String()] {
		if g != [2]float64{float64(i) * 1000, float64(i)} {
			t.Fatalf("sample %d = %v", i, g)
		}
	}
	if !bytes.Contains(raw, []byte("unflushed")) {
		return
	}
	t.Error("a series appended after the flush reached the file")
}

// nestedKey is a chunk's key in the second layout's nested buckets, which
// splitNestedKey reads.
func nestedKey(minT int64, enc byte) []byte {
	k := make([]byte, 8, 9)
	putTime(k, minT)
	if enc != encXOR {
		k = append(k, enc)
	}
	return k
}

// nestSlices turns a file written in slices back into the second layout: a
// nested bucket per series and kind keyed by chunk key, each tier's open
// chunk as its last key, no open records, slices or directories.
func nestSlices(t *testing.T, path string) {
	t.Helper()
	b, err := bolt.Open(path, 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.Update(func(tx *bolt.Tx) error {
		var nested [numKinds]*bolt.Bucket
		for k := range numKinds {
			nested[k], _ = tx.CreateBucket(nestedBuckets[k])
			err := forEachSlice(tx, k, func(sv []byte) error {
				return readSlice(sv, func(id uint64, minT int64, enc byte, v []byte) error {
					nb, err := nested[k].CreateBucketIfNotExists(binary.BigEndian.AppendUint64(nil, id))
					if err != nil {
						return err
					}
					return nb.Put(nestedKey(minT, enc), bytes.Clone(v))
				})
			})
			if err != nil {
				return err
			}
		}
		err := tx.Bucket(bucketOpen).ForEach(func(k, v []byte) error {
			if v[0]&openAcc != 0 {
				v = append([]byte{v[0]}, v[49:]...) // the second layout refolds it
			}
			if v[0]&openChunk == 0 {
				return nil
			}
			nb, err := nested[kindOf(int(k[8]))].CreateBucketIfNotExists(bytes.Clone(k[:8]))
			if err != nil {
				return err
			}
			return nb.Put(bytes.Clone(v[1:9]), bytes.Clone(v[9:]))
		})
		if err != nil {
			return err
		}
		for _, name := range append(append([][]byte{bucketOpen}, sliceBuckets[:]...), dirBuckets[:]...) {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpenUnnestsTheSecondLayout: a file with a bucket per series opens
// with the same samples, rollups and hour accumulators as the file in
// slices it was made from, and goes on taking samples.
func TestOpenUnnestsTheSecondLayout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	db := open(t, path)
	start := int64(1_700_000_000_000)
	for s := range 3 * 3600 {
		var batch []Sample
		for i := range 4 {
			batch = append(batch, Sample{lbl("__name__", "dense", "i", strconv.Itoa(i)), start + int64(s)*1000, float64(s * i)})
			if s%15 == 0 { // sparse: no minute tier
				batch = append(batch, Sample{lbl("__name__", "sparse", "i", strconv.Itoa(i)), start + int64(s)*1000, float64(s) / 3})
			}
		}
		if err := db.Append(batch); err != nil {
			t.Fatal(err)
		}
		if s%300 == 0 {
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	hints := []*promstorage.SelectHints{
		nil,
		{Start: start, End: start + 3*3600_000, Step: 60_000, Range: 600_000, Func: "rate"},
		{Start: start, End: start + 3*3600_000, Step: 3600_000, Range: 12 * 3600_000, Func: "max_over_time"},
	}
	read := func(db *DB) []map[string][]floatSample {
		var out []map[string][]floatSample
		for _, h := range hints {
			m := map[string][]floatSample{}
			for _, name := range []string{"dense", "sparse"} {
				for i := range 4 {
					l := lbl("__name__", name, "i", strconv.Itoa(i))
					hh := h
					if hh == nil {
						hh = &promstorage.SelectHints{Start: math.MinInt64, End: math.MaxInt64}
					}
					m[l.String()] = selectPoints(t, db, hh, labels.MustNewMatcher(labels.MatchEqual, "__name__", name), labels.MustNewMatcher(labels.MatchEqual, "i", strconv.Itoa(i)))
				}
			}
			out = append(out, m)
		}
		return out
	}
	want := read(db)
	accs := map[uint64]point{}
	for id, s := range db.series {
		accs[id] = s.hourAcc
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	nestSlices(t, path)

	db = open(t, path)
	got := read(db)
	for i := range want {
		for name, w := range want[i] {
			g := got[i][name]
			if len(g) != len(w) || len(w) == 0 {
				t.Fatalf("hints %v, %s: %d points after unnesting, want %d (> 0)", hints[i], name, len(g), len(w))
			}
			for j := range w {
				if g[j].t != w[j].t || math.Float64bits(g[j].f) != math.Float64bits(w[j].f) {
					t.Fatalf("hints %v, %s[%d] = %v, want %v", hints[i], name, j, g[j], w[j])
				}
			}
		}
	}
	// Three hours moved in one transaction: a slice for each hour, so a
	// query of one hour reads one hour's slice, not all three.
	if n := len(db.dirs[kindRaw]); n < 3 {
		t.Errorf("%d raw slices after unnesting three hours, want one an hour", n)
	}
	for _, si := range db.dirs[kindRaw] {
		if si.maxT-si.minT > 2*sliceWindow {
			t.Errorf("raw slice %d spans %v", si.seq, time.Duration(si.maxT-si.minT)*time.Millisecond)
		}
	}
	for id, s := range db.series {
		if s.hourAcc != accs[id] {
			t.Errorf("%s: hour accumulator %+v after unnesting, want %+v", s.lset, s.hourAcc, accs[id])
		}
	}
	if err := db.Append([]Sample{{lbl("__name__", "dense", "i", "0"), start + 3*3600_000, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, path)
	defer db.Close()
	err := db.bolt.View(func(tx *bolt.Tx) error {
		for _, name := range nestedBuckets {
			if tx.Bucket(name) != nil {
				t.Errorf("bucket %s is still there", name)
			}
		}
		for err := range tx.Check() {
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzReadSlice reads arbitrary bytes as a slice, and every chunk in it as
// a query would: a corrupt file gives errors, never a panic.
func FuzzReadSlice(f *testing.F) {
	x := newXORChunk()
	for i := range 130 {
		x.append(int64(i)*1000, float64(i*i))
	}
	sc, _ := closedChunk(&x)
	v, _ := encodeSlice([]sliceEntry{{7, sc}, {9, sc}})
	f.Add(v)
	f.Add([]byte{2, 0, 1, 1, 0, 3})
	f.Fuzz(func(t *testing.T, v []byte) {
		_ = readSlice(v, func(id uint64, minT int64, enc byte, value []byte) error {
			ref, err := parseChunk(minT, enc, value)
			if err != nil {
				return nil
			}
			it := newIterator(math.MinInt64, math.MaxInt64, []chunkRef{ref}, nil, nil)
			for n := 0; it.Next() == chunkenc.ValFloat; n++ {
				if n > 1<<20 {
					t.Fatal("a chunk read on and on")
				}
			}
			return nil
		})
	})
}
