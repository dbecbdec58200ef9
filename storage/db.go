package storage

import (
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
	annSeq   uint64
}

// Open opens (creating if needed) the history at path. A file held by another
// process is reported as such after one second rather than waited on forever.
func Open(path string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: the file is locked: is another archscope running on this data directory?", path)
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
		db.annSeq = tx.Bucket(bucketAnnotations).Sequence()
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
func (db *DB) index(id uint64, key string, lset labels.Labels) {
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
// error, none.
func (db *DB) Append(samples []Sample) error {
	if len(samples) == 0 {
		return nil
	}
	type newSeries struct {
		id   uint64
		key  string
		lset labels.Labels
	}
	var created []newSeries
	var keyBuf []byte
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		sb, smp := tx.Bucket(bucketSeries), tx.Bucket(bucketSamples)
		local := map[string]uint64{}
		// bbolt keeps the key and value slices given to Put until the
		// transaction ends, so every one gets its own bytes from one arena.
		arena := make([]byte, 16*len(samples))
		var lastKey string
		var lastBucket *bolt.Bucket
		for _, s := range samples {
			keyBuf = encodeLabels(keyBuf[:0], s.Labels)
			if lastBucket == nil || string(keyBuf) != lastKey {
				key := string(keyBuf)
				db.mu.RLock()
				id, ok := db.byKey[key]
				db.mu.RUnlock()
				if !ok {
					if id, ok = local[key]; !ok {
						next, err := sb.NextSequence()
						if err != nil {
							return err
						}
						id = next
						idVal := binary.BigEndian.AppendUint64(nil, id)
						if err := sb.Put([]byte(key), idVal); err != nil {
							return err
						}
						local[key] = id
						created = append(created, newSeries{id, key, s.Labels.Copy()})
					}
				}
				b, err := smp.CreateBucketIfNotExists(binary.BigEndian.AppendUint64(nil, id))
				if err != nil {
					return err
				}
				lastKey, lastBucket = key, b
			}
			kv := arena[:16:16]
			arena = arena[16:]
			putTime(kv[:8], s.T)
			binary.BigEndian.PutUint64(kv[8:], math.Float64bits(s.V))
			if err := lastBucket.Put(kv[:8], kv[8:]); err != nil {
				return err
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
		return err
	}
	return db.bolt.Update(func(tx *bolt.Tx) error {
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
	return out, err
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
