package storage

import (
	"bytes"
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
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var (
	bucketSeries      = []byte("series")
	bucketSamples     = []byte("samples")
	bucketAnnotations = []byte("annotations")
)

// DB is archscope's history: series, samples and annotations in one bbolt
// file. It is safe for concurrent use.
type DB struct {
	bolt   *bolt.DB
	logger *slog.Logger

	mu       sync.RWMutex
	byKey    map[string]uint64              // canonical label bytes → id
	series   map[uint64]labels.Labels       // id → labels
	postings map[string]map[string][]uint64 // name → value → ids, ids ascending
}

// ErrLocked is returned by Open when another process holds the file.
var ErrLocked = errors.New("the file is locked: is another archscope running on this data directory?")

// Open opens (creating if needed) the history at path. A file held by another
// process is reported as ErrLocked after one second rather than waited on
// forever.
func Open(path string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db := &DB{
		bolt:     b,
		logger:   logger,
		byKey:    map[string]uint64{},
		series:   map[uint64]labels.Labels{},
		postings: map[string]map[string][]uint64{},
	}
	if err := db.load(); err != nil {
		b.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	logger.Info("history opened", "path", path, "series", len(db.series))
	return db, nil
}

// load creates the buckets and reads the series index into memory.
func (db *DB) load() error {
	return db.bolt.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketSeries, bucketSamples, bucketAnnotations} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketSeries).ForEach(func(k, v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("series index: corrupt id for %q", k)
			}
			lset, err := decodeLabels(k)
			if err != nil {
				return fmt.Errorf("series index: %w", err)
			}
			db.index(binary.BigEndian.Uint64(v), string(k), lset)
			return nil
		})
	})
}

// index adds a series to the in-memory index; the caller holds mu or owns db.
// Adding a series already there is a no-op, so racing appenders may both
// report one they found on disk.
func (db *DB) index(id uint64, key string, lset labels.Labels) {
	if _, ok := db.series[id]; ok {
		return
	}
	db.byKey[key] = id
	db.series[id] = lset
	lset.Range(func(l labels.Label) {
		vals := db.postings[l.Name]
		if vals == nil {
			vals = map[string][]uint64{}
			db.postings[l.Name] = vals
		}
		ids := vals[l.Value]
		i := sort.Search(len(ids), func(i int) bool { return ids[i] >= id })
		ids = append(ids, 0)
		copy(ids[i+1:], ids[i:])
		ids[i] = id
		vals[l.Value] = ids
	})
}

// Close releases the file.
func (db *DB) Close() error { return db.bolt.Close() }

// Append stores a batch of samples in one transaction: all of them, or, on
// error, none. A sample at a timestamp its series already has replaces it.
func (db *DB) Append(samples []Sample) error {
	if len(samples) == 0 {
		return nil
	}
	var created []seriesKey
	var keyBuf, lastKey []byte
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		sb, smp := tx.Bucket(bucketSeries), tx.Bucket(bucketSamples)
		var local map[string]uint64 // series first seen in this batch
		// bbolt keeps the key and value slices given to Put until the
		// transaction ends, so every one gets its own bytes from one arena.
		arena := make([]byte, 16*len(samples))
		var lastBucket *bolt.Bucket
		for _, s := range samples {
			keyBuf = encodeLabels(keyBuf[:0], s.Labels)
			if lastBucket == nil || !bytes.Equal(keyBuf, lastKey) {
				db.mu.RLock()
				id, ok := db.byKey[string(keyBuf)] // no allocation: the compiler sees through string(b) in a map index
				db.mu.RUnlock()
				if !ok {
					var err error
					if id, err = db.seriesID(sb, keyBuf, &local, &created, s.Labels); err != nil {
						return err
					}
				}
				b, err := smp.CreateBucketIfNotExists(binary.BigEndian.AppendUint64(nil, id))
				if err != nil {
					return fmt.Errorf("series %s: %w", s.Labels, err)
				}
				// Scrapes append at the right edge, where bbolt's default
				// half-full split would leave every page half empty.
				b.FillPercent = 0.95
				lastKey, lastBucket = append(lastKey[:0], keyBuf...), b
			}
			kv := arena[:16:16]
			arena = arena[16:]
			putTime(kv[:8], s.T)
			binary.BigEndian.PutUint64(kv[8:], math.Float64bits(s.V))
			if err := lastBucket.Put(kv[:8], kv[8:]); err != nil {
				return fmt.Errorf("series %s at %d: %w", s.Labels, s.T, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append %d samples: %w", len(samples), err)
	}
	if len(created) > 0 {
		db.mu.Lock()
		for _, s := range created {
			db.index(s.id, s.key, s.lset)
		}
		db.mu.Unlock()
	}
	return nil
}

// seriesKey is a series to add to the in-memory index once its transaction
// has committed.
type seriesKey struct {
	id   uint64
	key  string
	lset labels.Labels
}

// seriesID finds or creates the id of a series the in-memory index does not
// know. It looks on disk first: a concurrent Append may have committed the
// series without having indexed it yet, and bbolt serialises writers, so this
// transaction sees that commit.
func (db *DB) seriesID(sb *bolt.Bucket, key []byte, local *map[string]uint64, created *[]seriesKey, lset labels.Labels) (uint64, error) {
	if id, ok := (*local)[string(key)]; ok {
		return id, nil
	}
	if v := sb.Get(key); v != nil {
		id := binary.BigEndian.Uint64(v)
		*created = append(*created, seriesKey{id, string(key), lset.Copy()})
		return id, nil
	}
	id, err := sb.NextSequence()
	if err != nil {
		return 0, fmt.Errorf("new series %s: %w", lset, err)
	}
	k := string(key)
	if err := sb.Put([]byte(k), binary.BigEndian.AppendUint64(nil, id)); err != nil {
		return 0, fmt.Errorf("new series %s: %w", lset, err)
	}
	if *local == nil {
		*local = map[string]uint64{}
	}
	(*local)[k] = id
	*created = append(*created, seriesKey{id, k, lset.Copy()})
	return id, nil
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
