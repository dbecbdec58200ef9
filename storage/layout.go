package storage

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Closed chunks are written in slices: each flush puts every chunk it
// commits of one kind (raw, minute or hour) into one slice under the next
// sequence number (one per hour the chunks start in, after a backlog), stored in parts of a quarter page (keys: sequence, then
// part number), so every write lands at the right edge of one B+tree and fills
// its pages. (A bucket per series, the second layout, cost every
// series a part-filled leaf and a branch page per kind: 1.1 bytes a sample
// at 6 h of the demo shop, as much as its samples. One flat tree keyed by
// series then time fragments instead, since every series appends in its own
// place and bbolt's splits leave the pages behind part-filled.)
//
// A slice (its parts put together):
//
//	uvarint   m, the entries
//	varint    base, the entries' least first time
//	m times   uvarint id − previous id (ids ascending), byte encoding,
//	          uvarint first time − base, uvarint length of the value
//	          the values, in entry order: a stored chunk as appendChunkValue
//	          (raw) or rollupChunk.value (tiers) makes it
//
// A directory bucket per kind holds each slice's time span (sequence →
// least first time, greatest last time), read into memory on Open, so a
// query reads only the slices that overlap it and retention drops whole
// slices that ended before its cutoff.
var (
	sliceBuckets = [numKinds][]byte{[]byte("raw"), []byte("1m"), []byte("1h")}
	dirBuckets   = [numKinds][]byte{[]byte("raw_dir"), []byte("1m_dir"), []byte("1h_dir")}
	// bucketOpen: series id + tier → the tier's open chunk and, for hours,
	// the accumulator of the minutes since the last hour point.
	bucketOpen = []byte("open")
	// nestedBuckets are the second layout's, a nested bucket per series
	// keyed by chunk key; Open moves them into slices.
	nestedBuckets = [numKinds][]byte{[]byte("chunks"), []byte("rollup_1m"), []byte("rollup_1h")}
)

// Kinds of slice: raw chunks, then one per rollup tier.
const (
	kindRaw  = 0
	numKinds = 1 + numTiers
)

func kindOf(tier int) int { return tier + 1 } // rawTier (−1) → kindRaw

// sliceInfo is a slice's directory entry.
type sliceInfo struct {
	seq        uint64
	minT, maxT int64
	firstEnd   int64 // the earliest end of a chunk in it: retention's cue
}

// sliceEntry is one chunk of one series bound for a slice.
type sliceEntry struct {
	id uint64
	c  storedChunk
}

// encodeSlice builds a slice of es, sorting es by id (keeping each series'
// chunks in time order), and returns its directory entry but for the
// sequence.
func encodeSlice(es []sliceEntry) ([]byte, sliceInfo) {
	slices.SortStableFunc(es, func(a, b sliceEntry) int { return cmp.Compare(a.id, b.id) })
	info := sliceInfo{minT: math.MaxInt64, maxT: math.MinInt64, firstEnd: math.MaxInt64}
	size := 0
	for _, e := range es {
		end, _ := valueEnd(e.c.minT, e.c.value)
		info.minT, info.maxT, info.firstEnd = min(info.minT, e.c.minT), max(info.maxT, end), min(info.firstEnd, end)
		size += len(e.c.value)
	}
	dst := make([]byte, 0, 16+len(es)*8+size)
	dst = binary.AppendUvarint(dst, uint64(len(es)))
	dst = binary.AppendVarint(dst, info.minT)
	prev := uint64(0)
	for _, e := range es {
		dst = binary.AppendUvarint(dst, e.id-prev)
		dst = append(dst, e.c.enc)
		dst = binary.AppendUvarint(dst, uint64(e.c.minT-info.minT))
		dst = binary.AppendUvarint(dst, uint64(len(e.c.value)))
		prev = e.id
	}
	for _, e := range es {
		dst = append(dst, e.c.value...)
	}
	return dst, info
}

// partSize is how many bytes of a slice one key holds: a slice is cut into
// parts, keyed by sequence then part number, because bbolt never splits a
// page of four keys or fewer, however large (one key a slice keeps the last
// few slices in one run of pages, rewritten whole at every append), and
// four parts of this size fill a page exactly.
func partSize(pageSize int) int {
	const pageHeader, element, key = 16, 16, 12
	return (pageSize-pageHeader)/4 - element - key
}

// readSlice calls fn for every entry of a slice, its value aliasing v.
func readSlice(v []byte, fn func(id uint64, minT int64, enc byte, value []byte) error) error {
	m, n := binary.Uvarint(v)
	base, n2 := binary.Varint(v[max(n, 0):])
	if n <= 0 || n2 <= 0 || m > uint64(len(v)) {
		return errCorruptSlice
	}
	hdr := v[n+n2:]
	// The values start where the header ends: walk it once to find out.
	off := 0
	for range m {
		for f := range 4 {
			if f == 1 {
				if off >= len(hdr) {
					return errCorruptSlice
				}
				off++
				continue
			}
			_, w := binary.Uvarint(hdr[off:])
			if w <= 0 {
				return errCorruptSlice
			}
			off += w
		}
	}
	vals := hdr[off:]
	id := uint64(0)
	for range m {
		d, w := binary.Uvarint(hdr)
		enc := hdr[w]
		rel, w2 := binary.Uvarint(hdr[w+1:])
		l, w3 := binary.Uvarint(hdr[w+1+w2:])
		hdr = hdr[w+1+w2+w3:]
		if l > uint64(len(vals)) {
			return errCorruptSlice
		}
		id += d
		if err := fn(id, base+int64(rel), enc, vals[:l]); err != nil {
			return err
		}
		vals = vals[l:]
	}
	return nil
}

var errCorruptSlice = fmt.Errorf("corrupt slice")

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func partKey(seq uint64, part int) []byte {
	return binary.BigEndian.AppendUint32(seqKey(seq), uint32(part))
}

// readParts appends the parts of slice seq in b to dst: the slice, or
// nothing if it was deleted.
func readParts(dst []byte, b *bolt.Bucket, seq uint64) []byte {
	prefix := seqKey(seq)
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		dst = append(dst, v...)
	}
	return dst
}

// deleteSlice deletes every part of slice seq of kind k, and its directory
// entry.
func deleteSlice(tx *bolt.Tx, k int, seq uint64) error {
	b := tx.Bucket(sliceBuckets[k])
	var keys [][]byte
	prefix := seqKey(seq)
	c := b.Cursor()
	for key, _ := c.Seek(prefix); key != nil && bytes.HasPrefix(key, prefix); key, _ = c.Next() {
		keys = append(keys, bytes.Clone(key))
	}
	for _, key := range keys {
		if err := b.Delete(key); err != nil {
			return err
		}
	}
	return tx.Bucket(dirBuckets[k]).Delete(prefix)
}

// sliceWindow groups the chunks of one flush into slices by the hour they
// start in: a flush after hours of backlog (a migration, a long outage)
// would otherwise make one slice spanning all of it, which every query of
// any part of that time would read whole.
const sliceWindow = 3600_000

// addedSlices are the slices a transaction wrote, by kind, for the
// directories once it commits.
type addedSlices [numKinds][]sliceInfo

// putSlices writes es as the next slices of kind k, one per hour the chunks
// start in, with their directory entries.
func putSlices(tx *bolt.Tx, k int, es []sliceEntry) ([]sliceInfo, error) {
	byWindow := map[int64][]sliceEntry{}
	for _, e := range es {
		w := periodEnd(e.c.minT, sliceWindow)
		byWindow[w] = append(byWindow[w], e)
	}
	windows := slices.Sorted(maps.Keys(byWindow))
	var infos []sliceInfo
	for _, w := range windows {
		seq, err := tx.Bucket(sliceBuckets[k]).NextSequence()
		if err != nil {
			return infos, err
		}
		info, err := writeSlice(tx, k, seq, byWindow[w])
		if err != nil {
			return infos, err
		}
		infos = append(infos, info)
	}
	return infos, nil
}

// writeSlice puts es as slice seq of kind k, with its directory entry.
func writeSlice(tx *bolt.Tx, k int, seq uint64, es []sliceEntry) (sliceInfo, error) {
	b, d := tx.Bucket(sliceBuckets[k]), tx.Bucket(dirBuckets[k])
	// Slices are appended (retention rewrites a few in place): fill every
	// page.
	b.FillPercent, d.FillPercent = 1, 1
	v, info := encodeSlice(es)
	info.seq = seq
	ps := partSize(tx.DB().Info().PageSize)
	for i := 0; len(v) > 0; i++ {
		n := min(len(v), ps)
		if err := b.Put(partKey(seq, i), v[:n]); err != nil {
			return info, fmt.Errorf("%s slice %d: %w", sliceBuckets[k], seq, err)
		}
		v = v[n:]
	}
	var dv [24]byte
	putTime(dv[:8], info.minT)
	putTime(dv[8:16], info.maxT)
	putTime(dv[16:], info.firstEnd)
	if err := d.Put(seqKey(seq), dv[:]); err != nil {
		return info, err
	}
	return info, nil
}

// loadDirs reads the slice directories.
func (db *DB) loadDirs(tx *bolt.Tx) error {
	for k := range numKinds {
		db.dirs[k] = db.dirs[k][:0]
		err := tx.Bucket(dirBuckets[k]).ForEach(func(key, v []byte) error {
			if len(key) != 8 || len(v) != 24 {
				return fmt.Errorf("%s: corrupt entry %x", dirBuckets[k], key)
			}
			db.dirs[k] = append(db.dirs[k], sliceInfo{seq: binary.BigEndian.Uint64(key), minT: getTime(v[:8]), maxT: getTime(v[8:16]), firstEnd: getTime(v[16:])})
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// openKey is a series' open record of tier k.
func openKey(id uint64, k int) []byte { return append(binary.BigEndian.AppendUint64(nil, id), byte(k)) }

// Open records: a flags byte, then the accumulator (if openAcc), then the
// open chunk's first time and value (if openChunk).
const (
	openChunk = 1 << iota
	openAcc
)

func appendOpenRecord(dst []byte, open storedChunk, acc *point) []byte {
	flags := byte(0)
	if open.value != nil {
		flags |= openChunk
	}
	if acc != nil {
		flags |= openAcc
	}
	dst = append(dst, flags)
	if acc != nil {
		dst = binary.BigEndian.AppendUint64(dst, uint64(acc.t))
		for _, f := range [...]float64{acc.count, acc.sum, acc.minV, acc.maxV, acc.lv} {
			dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(f))
		}
	}
	if open.value != nil {
		var t [8]byte
		putTime(t[:], open.minT)
		dst = append(append(dst, t[:]...), open.value...)
	}
	return dst
}

// loadOpen reads a series' open record of tier k into s.
func (s *memSeries) loadOpen(k int, v []byte) error {
	if len(v) < 1 {
		return fmt.Errorf("open %s record: empty", tierNames[k])
	}
	flags, v := v[0], v[1:]
	if flags&openAcc != 0 {
		if len(v) < 48 {
			return fmt.Errorf("open %s record: short accumulator", tierNames[k])
		}
		f := func(i int) float64 { return math.Float64frombits(binary.BigEndian.Uint64(v[8+8*i:])) }
		s.hourAcc = point{t: int64(binary.BigEndian.Uint64(v)), count: f(0), sum: f(1), minV: f(2), maxV: f(3), lv: f(4)}
		s.hasAcc = true
		v = v[48:]
	}
	if flags&openChunk != 0 {
		if len(v) < 8 {
			return fmt.Errorf("open %s record: short chunk", tierNames[k])
		}
		r, err := reopenRollupChunk(getTime(v[:8]), v[8:])
		if err != nil {
			return err
		}
		s.tiers[k].open = r
	}
	return nil
}

// unnest moves the second layout's nested buckets (a bucket per series and
// kind) into slices and open records, a batch of series per transaction
// that also deletes their nested buckets, so a crash mid-way loses nothing
// and the next Open carries on. The series index and heads are loaded.
func (db *DB) unnest() error {
	var ids []uint64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		seen := map[uint64]bool{}
		for _, name := range nestedBuckets {
			if b := tx.Bucket(name); b != nil {
				err := b.ForEachBucket(func(id []byte) error {
					if len(id) != 8 {
						return fmt.Errorf("%s: corrupt series id %x", name, id)
					}
					if i := binary.BigEndian.Uint64(id); !seen[i] {
						seen[i] = true
						ids = append(ids, i)
					}
					return nil
				})
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(ids) > 0 {
		db.logger.Info("moving chunks from a bucket per series into slices", "series", len(ids))
	}
	slices.Sort(ids)
	for len(ids) > 0 {
		var added addedSlices
		err := db.bolt.Update(func(tx *bolt.Tx) error {
			var es [numKinds][]sliceEntry
			size := 0
			for size < unnestBatch && len(ids) > 0 {
				id := ids[0]
				ids = ids[1:]
				s := db.series[id]
				idb := binary.BigEndian.AppendUint64(nil, id)
				var lasts [numKinds]storedChunk
				for k, name := range nestedBuckets {
					nb := tx.Bucket(name)
					if nb == nil || nb.Bucket(idb) == nil {
						continue
					}
					err := nb.Bucket(idb).ForEach(func(key, v []byte) error {
						c := storedChunk{value: bytes.Clone(v)}
						c.minT, c.enc = splitNestedKey(key)
						if k != kindRaw && lasts[k].value != nil {
							es[k] = append(es[k], sliceEntry{id, lasts[k]})
						}
						if k == kindRaw {
							es[k] = append(es[k], sliceEntry{id, c})
						} else {
							lasts[k] = c // the last is the open chunk
						}
						size += len(v)
						return nil
					})
					if err != nil {
						return fmt.Errorf("series %d: %w", id, err)
					}
				}
				if s != nil {
					if err := db.legacyHourAcc(tx, s); err != nil {
						return fmt.Errorf("rollups of %s: %w", s.lset, err)
					}
					for k := range numTiers {
						var acc *point
						if k == tierHour && s.hasAcc {
							acc = &s.hourAcc
						}
						if last := lasts[kindOf(k)]; last.value != nil {
							r, err := reopenRollupChunk(last.minT, last.value)
							if err != nil {
								return fmt.Errorf("rollups of %s: %w", s.lset, err)
							}
							s.tiers[k].open = r
						}
						if err := tx.Bucket(bucketOpen).Put(openKey(id, k), appendOpenRecord(nil, lasts[kindOf(k)], acc)); err != nil {
							return err
						}
					}
				}
				for _, name := range nestedBuckets {
					if nb := tx.Bucket(name); nb != nil && nb.Bucket(idb) != nil {
						if err := nb.DeleteBucket(idb); err != nil {
							return err
						}
					}
				}
			}
			for k := range numKinds {
				var err error
				if added[k], err = putSlices(tx, k, es[k]); err != nil {
					return err
				}
			}
			if len(ids) == 0 {
				for _, name := range nestedBuckets {
					if tx.Bucket(name) != nil {
						if err := tx.DeleteBucket(name); err != nil {
							return err
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		db.addSlices(added)
	}
	return nil
}

// unnestBatch bounds the bytes of chunks one unnesting transaction moves.
const unnestBatch = 32 << 20

// addSlices adds committed slices to the directories.
func (db *DB) addSlices(added addedSlices) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.addSlicesLocked(added)
}

// addSlicesLocked is addSlices for a caller holding mu.
func (db *DB) addSlicesLocked(added addedSlices) {
	for k := range numKinds {
		db.dirs[k] = append(db.dirs[k], added[k]...)
	}
}

// legacyHourAcc refolds, for a series in the second layout, the minute
// points after its last hour point into the hour accumulator: from the
// minute tier, or for a sparse series from the minutes of its raw chunks.
func (db *DB) legacyHourAcc(tx *bolt.Tx, s *memSeries) error {
	idb := binary.BigEndian.AppendUint64(nil, s.id)
	bucket := func(name []byte) *bolt.Bucket {
		if nb := tx.Bucket(name); nb != nil {
			return nb.Bucket(idb)
		}
		return nil
	}
	lastHour := int64(math.MinInt64)
	if b := bucket(nestedBuckets[kindOf(tierHour)]); b != nil {
		if key, v := b.Cursor().Last(); key != nil {
			r, err := reopenRollupChunk(getTime(key), v)
			if err != nil {
				return err
			}
			lastHour = r.maxT()
		}
	}
	src := nestedBuckets[kindOf(tierMinute)]
	if s.mode == modeSparse {
		src = nestedBuckets[kindRaw]
	}
	b := bucket(src)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	var pts []point
	for key, v := legacySeek(c, lastHour+1); key != nil; key, v = c.Next() {
		var err error
		if s.mode == modeSparse {
			pts, err = rawMinutePoints(key, v, pts[:0])
		} else {
			pts, err = pointsOf(getTime(key), v, pts[:0])
		}
		if err != nil {
			return err
		}
		for _, p := range pts {
			if p.t <= lastHour {
				continue
			}
			if !s.hasAcc {
				s.hourAcc, s.hasAcc = newPoint(), true
			}
			s.hourAcc.merge(p)
		}
	}
	return nil
}

// splitNestedKey reads a chunk's key in the second layout's nested
// buckets: its first time, then, for a chunk not in XOR, its encoding.
func splitNestedKey(k []byte) (minT int64, enc byte) {
	if len(k) > 8 {
		enc = k[8]
	}
	return getTime(k), enc
}

// legacySeek positions c, on a nested series bucket, on the last chunk
// starting before t, or else the first starting at or after it.
func legacySeek(c *bolt.Cursor, t int64) ([]byte, []byte) {
	var from [8]byte
	putTime(from[:], t)
	k, _ := c.Seek(from[:])
	var pk, pv []byte
	if k == nil {
		pk, pv = c.Last()
	} else {
		pk, pv = c.Prev()
	}
	if pk != nil {
		return pk, pv
	}
	return c.Seek(from[:])
}

// forEachSlice calls fn with every slice of kind k, parts put together, in
// sequence order.
func forEachSlice(tx *bolt.Tx, k int, fn func(v []byte) error) error {
	var buf []byte
	var seq uint64
	c := tx.Bucket(sliceBuckets[k]).Cursor()
	for key, v := c.First(); ; key, v = c.Next() {
		if key == nil || len(buf) > 0 && binary.BigEndian.Uint64(key) != seq {
			if len(buf) > 0 {
				if err := fn(buf); err != nil {
					return err
				}
			}
			buf = buf[:0]
		}
		if key == nil {
			return nil
		}
		seq = binary.BigEndian.Uint64(key)
		buf = append(buf, v...)
	}
}
