package storage

import (
	"context"
	"math"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"
)

// fill appends n series of one sample per second over [from, to), flushing
// as it goes.
func fill(t testing.TB, db *DB, n int, from, to time.Time) {
	t.Helper()
	batch := make([]Sample, n)
	for i := range batch {
		batch[i].Labels = lbl("__name__", "m", "i", strconv.Itoa(i))
	}
	for ts := from; ts.Before(to); ts = ts.Add(time.Second) {
		for i := range batch {
			batch[i].T, batch[i].V = ts.UnixMilli(), float64(ts.Unix()%1000)
		}
		if err := db.Append(batch); err != nil {
			t.Fatal(err)
		}
		if ts.Unix()%600 == 0 {
			if err := db.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestRetentionByAge: after a pass at now, no chunk ends before now − 1 h;
// everything newer is intact; a series that stopped before the cutoff is
// forgotten; annotations, however old, stay.
func TestRetentionByAge(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "h.db"), &Options{Retention: time.Hour, FlushInterval: -1, retentionEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Unix(1_700_010_000, 0)
	fill(t, db, 3, now.Add(-3*time.Hour), now)
	gone := lbl("__name__", "gone")
	if err := db.Append([]Sample{{gone, now.Add(-2 * time.Hour).UnixMilli(), 1}}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddAnnotation(Annotation{Time: now.Add(-3 * time.Hour).UnixMilli(), Text: "old"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := db.applyRetention(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	cutoff := now.Add(-time.Hour).UnixMilli()
	m := labels.MustNewMatcher(labels.MatchEqual, "__name__", "m")
	for name, fs := range readAll(t, db, m) {
		// Chunks go whole: the one holding the cutoff stays, so at most one
		// chunk (120 samples, one a second) older than it remains.
		first := int64(fs[0][0])
		if first > cutoff || first < cutoff-chunkSamples*1000 {
			t.Errorf("%s starts at %v, want within one chunk before the cutoff %v", name, time.UnixMilli(first), time.UnixMilli(cutoff))
		}
		if want := (now.UnixMilli() - first) / 1000; int64(len(fs)) != want {
			t.Errorf("%s: %d samples from its first on, want all %d", name, len(fs), want)
		}
	}
	for k := range numTiers {
		pts := selectPoints(t, db, &promstorage.SelectHints{Start: math.MinInt64 + 1, End: now.UnixMilli(), Step: tierRes[k], Range: tierRes[k], Func: "max_over_time"}, m)
		if len(pts) == 0 || pts[0].t < cutoff-tierChunkPoints*tierRes[k] {
			t.Errorf("%s tier starts at %v, want within a chunk of the cutoff", tierNames[k], pts)
		}
	}
	q, _ := db.Querier(math.MinInt64, math.MaxInt64)
	if names, _, _ := q.LabelValues(context.Background(), "__name__", nil); len(names) != 1 || names[0] != "m" {
		t.Errorf("metric names after retention: %v, want [m] (the stopped series forgotten)", names)
	}
	if anns, _ := db.Annotations(math.MinInt64, math.MaxInt64); len(anns) != 1 {
		t.Errorf("annotations after retention: %v, want the old one kept", anns)
	}
	// The forgotten series can come back, as a new series.
	if err := db.Append([]Sample{{gone, now.UnixMilli(), 2}}); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, db, labels.MustNewMatcher(labels.MatchEqual, "__name__", "gone")); len(got[gone.String()]) != 1 {
		t.Errorf("the series that came back: %v", got)
	}
}

// TestRetentionBySize: past the size limit the oldest data goes first, the
// newest stays, and the file's data fit the limit afterwards.
func TestRetentionBySize(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "h.db"), &Options{FlushInterval: -1, retentionEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Unix(1_700_010_000, 0)
	fill(t, db, 20, now.Add(-4*time.Hour), now)
	before, err := db.dataSize()
	if err != nil {
		t.Fatal(err)
	}
	db.opts.RetentionSize = before / 2
	if err := db.applyRetention(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	after, _ := db.dataSize()
	t.Logf("data %d → %d bytes (limit %d)", before, after, before/2)
	if after > before/2 {
		t.Errorf("data %d bytes after retention, limit %d", after, before/2)
	}
	all := readAll(t, db, labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
	if len(all) != 20 {
		t.Fatalf("%d series left, want all 20", len(all))
	}
	for name, fs := range all {
		last, first := int64(fs[len(fs)-1][0]), int64(fs[0][0])
		if last != now.Add(-time.Second).UnixMilli() {
			t.Errorf("%s ends at %v: the newest data went", name, time.UnixMilli(last))
		}
		if first <= now.Add(-4*time.Hour).UnixMilli() {
			t.Errorf("%s still starts at the beginning", name)
		}
	}
}

// TestRetentionRunsBesideIngest lets the background retention loop run every
// millisecond while three hours of scrapes (timed up to now) are appended
// and flushed: under -race it checks the locking, and always that retention
// deletes only what is past its cutoff, leaving every newer sample.
func TestRetentionRunsBesideIngest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	db, err := Open(path, &Options{Retention: time.Hour, FlushInterval: -1, retentionEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	fill(t, db, 20, now.Add(-3*time.Hour), now)
	time.Sleep(20 * time.Millisecond) // a few passes over the finished data
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, path)
	defer db.Close()
	cutoff := time.Now().Add(-time.Hour).UnixMilli()
	all := readAll(t, db, labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
	if len(all) != 20 {
		t.Fatalf("%d series, want 20", len(all))
	}
	for name, fs := range all {
		first := int64(fs[0][0])
		if first < cutoff-2*chunkSamples*1000 {
			t.Errorf("%s still starts at %v, over an hour before %v", name, time.UnixMilli(first), time.UnixMilli(cutoff))
		}
		if want := (now.UnixMilli() - first) / 1000; int64(len(fs)) != want {
			t.Errorf("%s: %d samples from %v on, want all %d", name, len(fs), time.UnixMilli(first), want)
		}
	}
}
