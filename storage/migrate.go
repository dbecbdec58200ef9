package storage

import (
	"encoding/binary"
	"fmt"
	"math"

	bolt "go.etcd.io/bbolt"
)

// migrateBatch is about how many old samples one migration transaction
// moves: big enough that fsyncs do not dominate, small enough that a
// transaction's dirty pages stay in the tens of MiB.
var migrateBatch = 1 << 20

// migrate moves the first layout's samples (bucket "samples": a nested
// bucket per series id, one key per sample) into chunks and rollups. Each
// transaction writes a batch of series' chunks and deletes those series' old
// buckets, so a crash mid-way loses nothing and the next Open carries on.
// The old layout held at most one sample per timestamp, in order, so every
// sample is accepted.
func (db *DB) migrate() error {
	var ids []uint64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		old := tx.Bucket(bucketOldSamples)
		if old == nil {
			return nil
		}
		return old.ForEachBucket(func(k []byte) error {
			ids = append(ids, binary.BigEndian.Uint64(k))
			return nil
		})
	})
	if err != nil {
		return err
	}
	if len(ids) > 0 {
		db.logger.Info("migrating samples to chunks", "series", len(ids))
	}
	moved := 0
	for len(ids) > 0 {
		var ws []seriesWrite
		var added addedSlices
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			old := tx.Bucket(bucketOldSamples)
			n := 0
			for n < migrateBatch && len(ids) > 0 {
				id := ids[0]
				idb := binary.BigEndian.AppendUint64(nil, id)
				s := db.series[id]
				if s == nil {
					return fmt.Errorf("samples of series %d, which the index lacks", id)
				}
				c := old.Bucket(idb).Cursor()
				for k, v := c.First(); k != nil; k, v = c.Next() {
					if len(k) != 8 || len(v) != 8 {
						return fmt.Errorf("series %s: corrupt old sample %x", s.lset, k)
					}
					if !db.appendSample(s, getTime(k), math.Float64frombits(binary.BigEndian.Uint64(v))) {
						return fmt.Errorf("series %s: old sample at %d out of order", s.lset, getTime(k))
					}
					n++
				}
				if err := old.DeleteBucket(idb); err != nil {
					return err
				}
				ids = ids[1:]
			}
			var nextID uint64
			ws, nextID = db.collect()
			moved += n
			var err error
			added, err = writeSeries(tx, ws, nextID)
			return err
		})
		db.committed(ws, added, err)
		if err != nil {
			return err
		}
	}
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketOldSamples) == nil {
			return nil
		}
		return tx.DeleteBucket(bucketOldSamples)
	})
	if moved > 0 {
		db.logger.Info("migrated samples to chunks", "samples", moved)
	}
	return err
}
