package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var (
	bucketSeries      = []byte("series")
	bucketHead        = []byte("head")
	bucketAnnotations = []byte("annotations")
	// bucketOldSamples is the first layout's one key per sample; Open
	// migrates it into chunks.
	bucketOldSamples = []byte("samples")
)

// chunkSamples is how many samples a raw chunk holds before it is cut, at
// the next minute boundary, so that a closed chunk holds whole minutes and
// rolls up on its own. Prometheus aims at 120 too: past that, XOR saves
// little more and a read decodes more than it needs.
const chunkSamples = 120

// New files use bbolt's map freelist, not written at each commit (etcd's
// choice too): every flush writes fewer pages, and Open rebuilds the
// freelist by scanning the pages.

// pageSize is bbolt's page size for new files (an existing file keeps its
// own). Slices are appended whole, so page size hardly changes the bytes a
// sample costs (1.32 at 16 KiB, 1.30 at 4 KiB on six hours of the demo
// shop); larger pages mean fewer of them for bbolt to track.
const pageSize = 16 << 10

// Options configure Open; take them once. The zero value is usable.
type Options struct {
	Logger *slog.Logger
	// FlushInterval is how often appended samples are committed; a crash
	// loses at most this much (plus the commit's own time). Each flush is
	// one bbolt transaction and one fsync, so shorter costs more disk
	// writes. Default 1 s; negative: only Flush and Close commit.
	FlushInterval time.Duration
	// Retention deletes samples and rollups older than this, in the
	// background. Zero keeps everything.
	Retention time.Duration
	// RetentionSize bounds the bytes of data in the file; past it the
	// oldest data is deleted first. bbolt reuses freed pages but does not
	// shrink the file, so the file settles near this size. Zero: no bound.
	RetentionSize int64

	retentionEvery time.Duration // how often retention runs; default 1 min
}

// DB is archscope's history: series, chunked samples, rollups and
// annotations in one bbolt file. It is safe for concurrent use.
type DB struct {
	bolt   *bolt.DB
	logger *slog.Logger
	opts   Options

	mu       sync.RWMutex
	byKey    map[string]*memSeries          // canonical label bytes → series
	series   map[uint64]*memSeries          // id → series
	postings map[string]map[string][]uint64 // name → value → ids, ids ascending
	nextID   uint64                         // the last id handed out
	dirty    []*memSeries                   // series changed since the last flush
	dirs     [numKinds][]sliceInfo          // committed slices, by sequence

	flushMu sync.Mutex // one flush (or series pruning) at a time

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// memSeries is one series: its labels, and the parts of its data that live
// in memory: the open head chunk, chunks cut but not yet committed, and the
// open rollup chunks.
type memSeries struct {
	id     uint64
	key    string // canonical label bytes
	lset   labels.Labels
	onDisk bool // the series key has been committed

	maxT   int64   // newest sample; Append refuses older ones
	lastV  float64 // its value, to tell a harmless re-append from a conflict
	head   xorChunk
	closed []storedChunk // cut, waiting for the next flush
	tiers  [numTiers]tierState
	// hourAcc folds the minute points since the last hour point.
	hourAcc point
	hasAcc  bool
	dirty   bool
	mode    uint8 // whether the series has a minute tier: decided at its first cut
}

// Series modes. A minute point costs five XOR values; for a series scraped
// less often than every denseInterval that is more than the raw samples it
// summarises, so such a series keeps no minute tier (queries that would read
// it read the raw samples instead) and rolls straight up into hours.
const (
	modeUndecided = iota
	modeDense
	modeSparse

	denseInterval = 6_000 // ms: ten samples a minute
)

// storedChunk is a chunk in its stored form: key minT, value as in the
// chunks or rollup bucket.
type storedChunk struct {
	minT  int64
	enc   byte // raw chunks only: their encoding
	value []byte
}

type tierState struct {
	open   *rollupChunk // nil before the first point
	closed []storedChunk
	dirty  bool
}

// ErrLocked is returned by Open when another process holds the file.
var ErrLocked = errors.New("the file is locked: is another archscope running on this data directory?")

// ErrOutOfOrder is wrapped by Append's error when samples were refused for
// being no newer than their series' newest sample.
var ErrOutOfOrder = errors.New("out of order")

// Open opens (creating if needed) the history at path; opts may be nil. A
// file held by another process is reported as ErrLocked after one second
// rather than waited on forever. A file in the first layout (one key per
// sample) is migrated to chunks, one batch of series per transaction, so an
// interrupted migration resumes on the next Open.
func Open(path string, opts *Options) (*DB, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = time.Second
	}
	if o.retentionEvery == 0 {
		o.retentionEvery = time.Minute
	}
	if o.Retention < 0 || o.RetentionSize < 0 {
		return nil, fmt.Errorf("open %s: negative retention (%v, %d bytes): want zero (keep all) or more", path, o.Retention, o.RetentionSize)
	}
	b, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: time.Second, PageSize: pageSize, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// bbolt grows a file past 16 MiB in steps of AllocSize (16 MiB): a
	// history grows by kilobytes a second, so grow it by one.
	b.AllocSize = 1 << 20
	db := &DB{
		bolt:     b,
		logger:   o.Logger,
		opts:     o,
		byKey:    map[string]*memSeries{},
		series:   map[uint64]*memSeries{},
		postings: map[string]map[string][]uint64{},
	}
	if err := db.load(); err != nil {
		b.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := db.unnest(); err != nil {
		b.Close()
		return nil, fmt.Errorf("open %s: move chunks into slices: %w", path, err)
	}
	if err := db.migrate(); err != nil {
		b.Close()
		return nil, fmt.Errorf("open %s: migrate: %w", path, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	db.cancel = cancel
	if o.FlushInterval > 0 {
		db.wg.Go(func() { db.flushLoop(ctx) })
	}
	if o.Retention > 0 || o.RetentionSize > 0 {
		db.wg.Go(func() { db.retentionLoop(ctx) })
	}
	o.Logger.Info("history opened", "path", path, "series", len(db.series))
	return db, nil
}

// load creates the buckets and reads into memory the series index, every
// series' head chunk, open rollup chunks and hour accumulator, and the
// slice directories.
func (db *DB) load() error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		names := [][]byte{bucketSeries, bucketHead, bucketAnnotations, bucketOpen}
		names = append(append(names, sliceBuckets[:]...), dirBuckets[:]...)
		for _, name := range names {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		sb := tx.Bucket(bucketSeries)
		db.nextID = sb.Sequence()
		err := sb.ForEach(func(k, v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("series index: corrupt id for %q", k)
			}
			lset, err := decodeLabels(k)
			if err != nil {
				return fmt.Errorf("series index: %w", err)
			}
			s := &memSeries{id: binary.BigEndian.Uint64(v), key: string(k), lset: lset, onDisk: true, maxT: math.MinInt64}
			db.index(s)
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketHead).ForEach(func(k, v []byte) error {
			s := db.series[binary.BigEndian.Uint64(k)]
			if s == nil || len(v) < headHeader {
				return fmt.Errorf("head chunk %x: no such series or corrupt", k)
			}
			s.maxT, s.lastV = getTime(v[:8]), math.Float64frombits(binary.BigEndian.Uint64(v[8:16]))
			s.mode = v[16]
			if len(v) > headHeader {
				var err error
				if s.head, err = reopenXORChunk(v[headHeader:]); err != nil {
					return fmt.Errorf("head chunk of %s: %w", s.lset, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketOpen).ForEach(func(k, v []byte) error {
			if len(k) != 9 || int(k[8]) >= numTiers {
				return fmt.Errorf("open rollups: corrupt key %x", k)
			}
			s := db.series[binary.BigEndian.Uint64(k)]
			if s == nil {
				return nil // forgotten by retention mid-way
			}
			if err := s.loadOpen(int(k[8]), v); err != nil {
				return fmt.Errorf("rollups of %s: %w", s.lset, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return db.loadDirs(tx)
	})
}

// rawMinutePoints rolls a stored raw chunk up by minute.
func rawMinutePoints(k, v []byte, dst []point) ([]point, error) {
	minT, enc := splitNestedKey(k)
	ref, err := parseChunk(minT, enc, v)
	if err != nil {
		return dst, err
	}
	return minutePoints(ref.iterator(nil), dst, true), nil
}

// index adds a series to the in-memory index; the caller holds mu or owns db.
func (db *DB) index(s *memSeries) {
	db.byKey[s.key] = s
	db.series[s.id] = s
	s.lset.Range(func(l labels.Label) {
		vals := db.postings[l.Name]
		if vals == nil {
			vals = map[string][]uint64{}
			db.postings[l.Name] = vals
		}
		ids := vals[l.Value]
		i := sort.Search(len(ids), func(i int) bool { return ids[i] >= s.id })
		ids = append(ids, 0)
		copy(ids[i+1:], ids[i:])
		ids[i] = s.id
		vals[l.Value] = ids
	})
}

// Close stops the background work, commits what is still in memory and
// releases the file.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.cancel()
		db.wg.Wait()
		ferr := db.Flush()
		db.closeErr = errors.Join(ferr, db.bolt.Close())
	})
	return db.closeErr
}

// Append adds a batch of samples, one scrape's worth, to the series' head
// chunks in memory; the next flush commits them. As in Prometheus, a sample
// no newer than its series' newest is refused (the same value at the same
// time is accepted as a no-op): the others are stored, and the error wraps
// ErrOutOfOrder with the count.
func (db *DB) Append(samples []Sample) error {
	if len(samples) == 0 {
		return nil
	}
	var keyBuf, lastKey []byte
	var last *memSeries
	refused := 0
	db.mu.Lock()
	for i := range samples {
		smp := &samples[i]
		keyBuf = encodeLabels(keyBuf[:0], smp.Labels)
		if last == nil || !bytes.Equal(keyBuf, lastKey) {
			last = db.byKey[string(keyBuf)] // no allocation: the compiler sees through string(b) in a map index
			if last == nil {
				db.nextID++
				last = &memSeries{id: db.nextID, key: string(keyBuf), lset: smp.Labels.Copy(), maxT: math.MinInt64}
				db.index(last)
			}
			lastKey = append(lastKey[:0], keyBuf...)
		}
		if !db.appendSample(last, smp.T, smp.V) {
			refused++
		}
	}
	db.mu.Unlock()
	if refused > 0 {
		return fmt.Errorf("append: %d of %d samples refused: %w (no newer than their series' newest)", refused, len(samples), ErrOutOfOrder)
	}
	return nil
}

// appendSample adds one sample to s; the caller holds mu.
func (db *DB) appendSample(s *memSeries, t int64, v float64) bool {
	if t <= s.maxT {
		return t == s.maxT && math.Float64bits(v) == math.Float64bits(s.lastV)
	}
	if s.head.n >= chunkSamples && periodEnd(t, tierRes[tierMinute]) != periodEnd(s.head.maxT, tierRes[tierMinute]) {
		s.cut()
	}
	if s.head.c == nil {
		s.head = newXORChunk()
	}
	s.head.append(t, v)
	s.maxT, s.lastV = t, v
	if !s.dirty {
		s.dirty = true
		db.dirty = append(db.dirty, s)
	}
	return true
}

// cut closes the head chunk, queues it for the next flush and rolls its
// minutes up. The head ends at a minute boundary, so all its minutes are
// complete.
func (s *memSeries) cut() {
	h := s.head
	c, fs := closedChunk(&h)
	s.closed = append(s.closed, c)
	if s.mode == modeUndecided {
		s.mode = modeSparse
		if int64(h.n-1)*denseInterval >= h.maxT-h.minT {
			s.mode = modeDense
		}
	}
	for _, p := range minutePoints(&sampleIterator{fs: fs, i: -1}, nil, true) {
		if s.mode == modeDense {
			s.addPoint(tierMinute, p)
		} else {
			s.feedHour(p)
		}
	}
	s.head = xorChunk{}
}

// minutePoints rolls a raw chunk up by minute. With complete, every minute
// is labelled at its end; otherwise the last one, still in progress, at its
// last sample.
func minutePoints(it chunkenc.Iterator, dst []point, complete bool) []point {
	res := tierRes[tierMinute]
	cur, has := newPoint(), false
	for it.Next() == chunkenc.ValFloat {
		t, v := it.At()
		if has && periodEnd(t, res) != periodEnd(cur.t, res) {
			cur.t = periodEnd(cur.t, res)
			dst = append(dst, cur)
			cur = newPoint()
		}
		cur.add(t, v)
		has = true
	}
	if has {
		if complete {
			cur.t = periodEnd(cur.t, res)
		}
		dst = append(dst, cur)
	}
	return dst
}

// addPoint appends a point to tier k, closing its open chunk when full; a
// minute point also feeds the hour tier.
func (s *memSeries) addPoint(k int, p point) {
	ts := &s.tiers[k]
	if ts.open != nil && ts.open.n() >= tierChunkPoints {
		ts.closed = append(ts.closed, storedChunk{minT: ts.open.minT(), value: ts.open.value()})
		ts.open = nil
	}
	if ts.open == nil {
		ts.open = newRollupChunk()
	}
	ts.open.append(p)
	ts.dirty = true
	if k == tierMinute {
		s.feedHour(p)
	}
}

// feedHour folds a minute point into the hour accumulator, first closing
// the hour before it into the hour tier.
func (s *memSeries) feedHour(p point) {
	s.tiers[tierHour].dirty = true // the accumulator is in its open record
	hour := tierRes[tierHour]
	if s.hasAcc && periodEnd(s.hourAcc.t, hour) != periodEnd(p.t, hour) {
		hp := s.hourAcc
		hp.t = periodEnd(hp.t, hour)
		s.addPoint(tierHour, hp)
		s.hasAcc = false
	}
	if !s.hasAcc {
		s.hourAcc, s.hasAcc = newPoint(), true
	}
	s.hourAcc.merge(p)
}

// headHeader is the head record's fixed part: the newest sample's time and
// value, and the series mode; the head chunk's bytes follow.
const headHeader = 17

// seriesWrite is what one flush writes for one series, copied under mu.
type seriesWrite struct {
	s      *memSeries
	newKey bool
	head   []byte // maxT, lastV, mode, head chunk bytes
	closed []storedChunk
	tiers  [numTiers]tierWrite
	acc    *point // the hour accumulator, when the hour tier is dirty
}

type tierWrite struct {
	dirty  bool
	closed []storedChunk
	open   storedChunk // value nil: none
}

// Flush commits everything appended so far in one transaction. The
// background loop calls it every FlushInterval; call it to make a batch
// durable now.
func (db *DB) Flush() error {
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	ws, nextID := db.collect()
	if len(ws) == 0 {
		return nil
	}
	var added addedSlices
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		var err error
		added, err = writeSeries(tx, ws, nextID)
		return err
	})
	db.committed(ws, added, err)
	if err != nil {
		return fmt.Errorf("flush %d series: %w", len(ws), err)
	}
	return nil
}

// collect copies, under mu, what the dirty series need written.
func (db *DB) collect() ([]seriesWrite, uint64) {
	db.mu.Lock()
	defer db.mu.Unlock()
	ws := make([]seriesWrite, len(db.dirty))
	for i, s := range db.dirty {
		w := &ws[i]
		w.s, w.newKey, w.closed = s, !s.onDisk, s.closed
		hb := s.head.bytesOrNil()
		w.head = make([]byte, headHeader, headHeader+len(hb))
		putTime(w.head[:8], s.maxT)
		binary.BigEndian.PutUint64(w.head[8:], math.Float64bits(s.lastV))
		w.head[16] = s.mode
		w.head = append(w.head, hb...)
		for k := range s.tiers {
			ts := &s.tiers[k]
			if !ts.dirty {
				continue
			}
			w.tiers[k] = tierWrite{dirty: true, closed: ts.closed}
			if ts.open != nil {
				w.tiers[k].open = storedChunk{minT: ts.open.minT(), value: ts.open.value()}
			}
			if k == tierHour && s.hasAcc {
				acc := s.hourAcc
				w.acc = &acc
			}
			ts.dirty = false
		}
		s.dirty = false
	}
	clear(db.dirty)
	db.dirty = db.dirty[:0]
	return ws, db.nextID
}

// writeSeries puts what collect copied into tx: series keys, heads and open
// rollup records by series, and the closed chunks as one slice per kind.
func writeSeries(tx *bolt.Tx, ws []seriesWrite, nextID uint64) (added addedSlices, err error) {
	sb, hb, ob := tx.Bucket(bucketSeries), tx.Bucket(bucketHead), tx.Bucket(bucketOpen)
	if sb.Sequence() < nextID {
		if err := sb.SetSequence(nextID); err != nil {
			return added, err
		}
	}
	var es [numKinds][]sliceEntry
	for i := range ws {
		w := &ws[i]
		id := w.s.id
		idb := binary.BigEndian.AppendUint64(nil, id)
		if w.newKey {
			if err := sb.Put([]byte(w.s.key), idb); err != nil {
				return added, fmt.Errorf("series %s: %w", w.s.lset, err)
			}
		}
		if err := hb.Put(idb, w.head); err != nil {
			return added, fmt.Errorf("head of %s: %w", w.s.lset, err)
		}
		for _, c := range w.closed {
			es[kindRaw] = append(es[kindRaw], sliceEntry{id, c})
		}
		for k, tw := range w.tiers {
			if !tw.dirty {
				continue
			}
			for _, c := range tw.closed {
				es[kindOf(k)] = append(es[kindOf(k)], sliceEntry{id, c})
			}
			var acc *point
			if k == tierHour {
				acc = w.acc
			}
			if err := ob.Put(openKey(id, k), appendOpenRecord(nil, tw.open, acc)); err != nil {
				return added, fmt.Errorf("%s rollup of %s: %w", tierNames[k], w.s.lset, err)
			}
		}
	}
	for k := range numKinds {
		if added[k], err = putSlices(tx, k, es[k]); err != nil {
			return added, err
		}
	}
	return added, nil
}

// committed drops from memory the chunks a successful write committed, or
// marks everything dirty again after a failed one.
func (db *DB) committed(ws []seriesWrite, added addedSlices, err error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err == nil {
		db.addSlicesLocked(added)
	}
	for i := range ws {
		w := &ws[i]
		s := w.s
		if err != nil {
			for k, tw := range w.tiers {
				if tw.dirty {
					s.tiers[k].dirty = true
				}
			}
			if !s.dirty {
				s.dirty = true
				db.dirty = append(db.dirty, s)
			}
			continue
		}
		s.onDisk = true
		// Reslice, never shift: a query may hold the old slice.
		if s.closed = s.closed[len(w.closed):]; len(s.closed) == 0 {
			s.closed = nil
		}
		for k, tw := range w.tiers {
			ts := &s.tiers[k]
			if ts.closed = ts.closed[len(tw.closed):]; len(ts.closed) == 0 {
				ts.closed = nil
			}
		}
	}
}

// flushLoop commits every FlushInterval until ctx is done.
func (db *DB) flushLoop(ctx context.Context) {
	tick := time.NewTicker(db.opts.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := db.Flush(); err != nil {
				db.logger.Error("flush failed; retrying on the next tick", "err", err)
			}
		case <-ctx.Done():
			return
		}
	}
}

// Annotation marks a moment on every chart: a knob change, a fault, a note.
type Annotation struct {
	Time int64    `json:"time"` // ms since epoch
	Text string   `json:"text"`
	Tags []string `json:"tags,omitempty"`
}

// AddAnnotation stores an annotation.
func (db *DB) AddAnnotation(a Annotation) error {
	v, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("annotation %q: %w", a.Text, err)
	}
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAnnotations)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		var k [16]byte
		putTime(k[:8], a.Time)
		binary.BigEndian.PutUint64(k[8:], seq)
		return b.Put(k[:], v)
	})
	if err != nil {
		return fmt.Errorf("add annotation %q: %w", a.Text, err)
	}
	return nil
}

// Annotations returns the annotations with mint ≤ time ≤ maxt, oldest first.
func (db *DB) Annotations(mint, maxt int64) ([]Annotation, error) {
	var out []Annotation
	err := db.bolt.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAnnotations).Cursor()
		var from [8]byte
		putTime(from[:], mint)
		for k, v := c.Seek(from[:]); k != nil && getTime(k[:8]) <= maxt; k, v = c.Next() {
			var a Annotation
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("annotation at %d: %w", getTime(k[:8]), err)
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("annotations in [%d, %d]: %w", mint, maxt, err)
	}
	return out, nil
}

// putTime encodes a timestamp so that byte order is time order, negative
// times included.
func putTime(dst []byte, t int64) { binary.BigEndian.PutUint64(dst, uint64(t)^(1<<63)) }

func getTime(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }

// encodeLabels appends the canonical form of lset: name\xffvalue\xff… in
// label order, the key of the series index.
func encodeLabels(dst []byte, lset labels.Labels) []byte {
	lset.Range(func(l labels.Label) {
		dst = append(dst, l.Name...)
		dst = append(dst, 0xff)
		dst = append(dst, l.Value...)
		dst = append(dst, 0xff)
	})
	return dst
}

func decodeLabels(b []byte) (labels.Labels, error) {
	builder := labels.NewScratchBuilder(8)
	for len(b) > 0 {
		var name, value []byte
		var ok bool
		if name, b, ok = cut(b); !ok {
			return labels.EmptyLabels(), fmt.Errorf("truncated label name in %q", b)
		}
		if value, b, ok = cut(b); !ok {
			return labels.EmptyLabels(), fmt.Errorf("truncated label value in %q", b)
		}
		builder.Add(string(name), string(value))
	}
	builder.Sort()
	return builder.Labels(), nil
}

func cut(b []byte) (before, after []byte, ok bool) {
	for i, c := range b {
		if c == 0xff {
			return b[:i], b[i+1:], true
		}
	}
	return nil, nil, false
}
