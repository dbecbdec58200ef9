package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	bolt "go.etcd.io/bbolt"
)

// retentionTxKeys bounds the deletions of one retention transaction, so a
// flush waiting for bbolt's single writer waits for one short transaction,
// not the whole pass.
const retentionTxKeys = 2000

// retentionLoop applies retention at start and then every retentionEvery
// until ctx is done.
func (db *DB) retentionLoop(ctx context.Context) {
	tick := time.NewTicker(db.opts.retentionEvery)
	defer tick.Stop()
	for {
		if err := db.applyRetention(ctx, time.Now()); err != nil && ctx.Err() == nil {
			db.logger.Error("retention failed; trying again later", "err", err)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// applyRetention deletes chunks and rollups that end before now −
// Retention, then, while the data exceed RetentionSize, the oldest tenth of
// the time span held. Series left with no data are forgotten. Annotations
// are never deleted.
func (db *DB) applyRetention(ctx context.Context, now time.Time) error {
	cutoff := int64(math.MinInt64)
	if db.opts.Retention > 0 {
		cutoff = now.Add(-db.opts.Retention).UnixMilli()
		if err := db.deleteBefore(ctx, cutoff); err != nil {
			return err
		}
	}
	if db.opts.RetentionSize > 0 {
		for range 64 {
			size, err := db.dataSize()
			if err != nil {
				return err
			}
			if size <= db.opts.RetentionSize {
				break
			}
			oldest, newest := db.timeSpan()
			if oldest >= newest {
				break
			}
			cutoff = max(cutoff, oldest+max((newest-oldest)/10, tierRes[tierMinute]))
			db.logger.Info("history over its size limit: deleting the oldest data",
				"bytes", size, "limit", db.opts.RetentionSize, "before", time.UnixMilli(cutoff).UTC())
			if err := db.deleteBefore(ctx, cutoff); err != nil {
				return err
			}
			if err := db.pruneSeries(cutoff); err != nil {
				return err
			}
		}
	}
	if cutoff == math.MinInt64 {
		return nil
	}
	return db.pruneSeries(cutoff)
}

// dataSize is the bytes of the file's pages in use: its size less the free
// pages bbolt will reuse.
func (db *DB) dataSize() (int64, error) {
	var size int64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		size = tx.Size()
		return nil
	})
	st := db.bolt.Stats()
	return size - int64(st.FreeAlloc), err
}

// timeSpan is the oldest chunk start and the newest sample over all series.
func (db *DB) timeSpan() (oldest, newest int64) {
	oldest, newest = math.MaxInt64, math.MinInt64
	ids := db.ids()
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		parent := tx.Bucket(bucketChunks)
		for _, id := range ids {
			if b := seriesBucket(parent, id); b != nil {
				if k, _ := b.Cursor().First(); k != nil {
					oldest = min(oldest, getTime(k))
				}
			}
		}
		return nil
	})
	db.mu.RLock()
	for _, s := range db.series {
		newest = max(newest, s.maxT)
	}
	db.mu.RUnlock()
	return oldest, newest
}

func (db *DB) ids() []uint64 {
	db.mu.RLock()
	ids := make([]uint64, 0, len(db.series))
	for id := range db.series {
		ids = append(ids, id)
	}
	db.mu.RUnlock()
	slices.Sort(ids)
	return ids
}

// deleteBefore deletes the raw and rollup chunks that end before cutoff, in
// short transactions. Every series' chunks are ordered by time, so each
// series costs one seek plus its deletions.
func (db *DB) deleteBefore(ctx context.Context, cutoff int64) error {
	ids := db.ids()
	for _, bucket := range [][]byte{bucketChunks, tierBuckets[tierMinute], tierBuckets[tierHour]} {
		for i := 0; i < len(ids); {
			if err := ctx.Err(); err != nil {
				return err
			}
			err := db.bolt.Update(func(tx *bolt.Tx) error {
				parent := tx.Bucket(bucket)
				deleted := 0
				for ; i < len(ids) && deleted < retentionTxKeys; i++ {
					b := seriesBucket(parent, ids[i])
					if b == nil {
						continue
					}
					var doomed [][]byte
					c := b.Cursor()
					for k, v := c.First(); k != nil && len(doomed) < retentionTxKeys; k, v = c.Next() {
						span, n := binary.Uvarint(v)
						if n <= 0 || getTime(k)+int64(span) >= cutoff {
							break
						}
						doomed = append(doomed, slices.Clone(k))
					}
					// Deleting under a cursor skips keys in bbolt; delete by key.
					for _, k := range doomed {
						if err := b.Delete(k); err != nil {
							return err
						}
					}
					deleted += len(doomed)
					if len(doomed) == retentionTxKeys {
						break // this series again in the next transaction
					}
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("retention before %d: %w", cutoff, err)
			}
		}
	}
	return nil
}

// pruneSeries forgets series whose newest sample is older than cutoff and
// that have nothing waiting to be flushed: their key, head chunk and any
// rollup chunks left. It holds flushMu so no flush writes them meanwhile;
// a scrape that brings one back creates it afresh under a new id.
func (db *DB) pruneSeries(cutoff int64) error {
	db.flushMu.Lock()
	defer db.flushMu.Unlock()
	var gone []*memSeries
	db.mu.Lock()
	for _, s := range db.series {
		if s.maxT >= cutoff || s.dirty || len(s.closed) > 0 {
			continue
		}
		gone = append(gone, s)
		delete(db.series, s.id)
		delete(db.byKey, s.key)
		s.lset.Range(func(l labels.Label) {
			vals := db.postings[l.Name]
			ids := slices.DeleteFunc(slices.Clone(vals[l.Value]), func(id uint64) bool { return id == s.id })
			if len(ids) == 0 {
				delete(vals, l.Value)
				if len(vals) == 0 {
					delete(db.postings, l.Name)
				}
			} else {
				vals[l.Value] = ids
			}
		})
	}
	db.mu.Unlock()
	if len(gone) == 0 {
		return nil
	}
	for len(gone) > 0 {
		n := min(len(gone), retentionTxKeys/4)
		batch := gone[:n]
		gone = gone[n:]
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			sb := tx.Bucket(bucketSeries)
			for _, s := range batch {
				idb := binary.BigEndian.AppendUint64(nil, s.id)
				if v := sb.Get([]byte(s.key)); v != nil && bytes.Equal(v, idb) {
					if err := sb.Delete([]byte(s.key)); err != nil {
						return err
					}
				}
				if err := tx.Bucket(bucketHead).Delete(idb); err != nil {
					return err
				}
				for _, bucket := range [][]byte{bucketChunks, tierBuckets[tierMinute], tierBuckets[tierHour]} {
					if seriesBucket(tx.Bucket(bucket), s.id) == nil {
						continue
					}
					if err := tx.Bucket(bucket).DeleteBucket(idb); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("forget %d series: %w", len(batch), err)
		}
	}
	return nil
}
