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
	db.mu.RLock()
	defer db.mu.RUnlock()
	for _, si := range db.dirs[kindRaw] {
		oldest = min(oldest, si.minT)
	}
	for _, s := range db.series {
		newest = max(newest, s.maxT)
	}
	return oldest, newest
}

// deleteBefore deletes the raw and rollup chunks that end before cutoff, in
// short transactions: whole slices whose chunks all end before it, and
// slices holding some such chunks rewritten without them. A slice holds one
// flush's chunks, so there are few of the latter.
func (db *DB) deleteBefore(ctx context.Context, cutoff int64) error {
	for k := range numKinds {
		db.mu.RLock()
		var doomed []sliceInfo
		for _, si := range db.dirs[k] {
			if si.firstEnd < cutoff {
				doomed = append(doomed, si)
			}
		}
		db.mu.RUnlock()
		for len(doomed) > 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			batch := doomed[:min(len(doomed), retentionTxKeys)]
			doomed = doomed[len(batch):]
			kept := map[uint64]sliceInfo{} // rewritten slices' new entries
			err := db.bolt.Update(func(tx *bolt.Tx) error {
				clear(kept)
				for _, si := range batch {
					if si.maxT >= cutoff {
						info, ok, err := trimSlice(tx, k, si.seq, cutoff)
						if err != nil {
							return err
						}
						if ok {
							kept[si.seq] = info
							continue
						}
					}
					if err := deleteSlice(tx, k, si.seq); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("retention before %d: %w", cutoff, err)
			}
			// A new array: a query may be reading the old one.
			db.mu.Lock()
			gone := map[uint64]bool{}
			for _, si := range batch {
				gone[si.seq] = true
			}
			dir := make([]sliceInfo, 0, len(db.dirs[k]))
			for _, si := range db.dirs[k] {
				if info, ok := kept[si.seq]; ok {
					dir = append(dir, info)
				} else if !gone[si.seq] {
					dir = append(dir, si)
				}
			}
			db.dirs[k] = dir
			db.mu.Unlock()
		}
	}
	return nil
}

// trimSlice rewrites slice seq of kind k without its chunks that end before
// cutoff; ok is false if none is left (the caller deletes it).
func trimSlice(tx *bolt.Tx, k int, seq uint64, cutoff int64) (sliceInfo, bool, error) {
	var es []sliceEntry
	v := readParts(nil, tx.Bucket(sliceBuckets[k]), seq)
	if len(v) == 0 {
		return sliceInfo{}, false, nil
	}
	err := readSlice(v, func(id uint64, minT int64, enc byte, value []byte) error {
		if end, ok := valueEnd(minT, value); ok && end >= cutoff {
			es = append(es, sliceEntry{id, storedChunk{minT: minT, enc: enc, value: value}})
		}
		return nil
	})
	if err != nil || len(es) == 0 {
		return sliceInfo{}, false, err
	}
	if err := deleteSlice(tx, k, seq); err != nil {
		return sliceInfo{}, false, err
	}
	info, err := writeSlice(tx, k, seq, es)
	return info, err == nil, err
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
				for k := range numTiers {
					if err := tx.Bucket(bucketOpen).Delete(openKey(s.id, k)); err != nil {
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
