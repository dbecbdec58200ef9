// Package storage keeps archscope's history in one bbolt file and serves it to
// the PromQL engine.
//
// Samples live in chunks of about 120 samples, cut at a minute boundary so
// that a closed chunk holds whole minutes. The open head chunk is
// Prometheus' Gorilla/XOR chunk (tsdb/chunkenc); when it is cut, a chunk
// whose values are all integers at some power of ten (counters, bucket
// counts, item gauges, hundredths) is stored as those integers' deltas or
// deltas of deltas if that is smaller (intchunk.go), and as XOR otherwise.
// The file's buckets:
//
//   - "series": canonical label bytes (name 0xff value 0xff …, in label
//     order; 0xff never occurs in UTF-8) → series id (8 bytes, big endian).
//     Open reads it into an in-memory index (id → series, label name → value
//     → ascending ids) that answers matchers without touching disk.
//   - "raw", "1m", "1h": closed chunks in slices, one per flush and kind:
//     every chunk the flush commits, of every series, under the next
//     sequence number, in parts of a few KiB (layout.go has the format). Writes land at
//     the right edge of one B+tree, so pages fill; a bucket per series left
//     every series a part-filled page and a branch page per kind, as many
//     bytes as six hours of its samples. "raw_dir", "1m_dir", "1h_dir" hold
//     each slice's time span, read into memory on Open: a query reads the
//     slices that overlap it and picks its series' chunks out of them.
//     A raw chunk is its first time, encoding, and uvarint(end − start)
//     then the chunk's bytes.
//   - "head": series id → the newest sample's time and value, whether the
//     series has a minute tier, and the open head chunk's bytes.
//   - "open": series id + tier → the tier's open chunk and, for hours, the
//     minutes folded since the last hour point.
//   - Rollup tiers: per series, chunks of 120 points (two hours of
//     minutes, five days of hours), each point the count, sum, min, max
//     and last value of its period as five XOR streams sharing timestamps
//     (the period's last millisecond). A series scraped less often than
//     every 6 s keeps no minute tier: its points would cost more than its
//     samples.
//   - "annotations": time + sequence (16 bytes) → JSON; retention leaves
//     them alone.
//
// Append adds to the series' head chunks in memory; Flush, run every
// FlushInterval (1 s) by a goroutine that Close stops, commits in one bbolt
// transaction every changed head chunk (rewritten whole: a few KiB of pages
// for hundreds of series), the slices of every chunk cut since, and the
// rollup chunks those cuts produced. bbolt's copy-on-write B+tree makes every committed
// transaction survive a crash and an uncommitted one vanish, so a crash loses
// at most the samples of the last FlushInterval, and what survives is
// consistent: rollups always match the chunks they came from. A write-ahead
// log (the scrape's samples appended to a bucket, replayed on Open,
// truncated as chunks are cut) was measured against the head rewrite
// (BenchmarkFlushCost, the demo shop's 131 series a flush): the log writes
// about a third fewer bytes per flush (510 against 786 per sample; bbolt's
// per-commit pages dominate both) before counting its truncation. The head
// rewrite was kept: it has nothing to replay, no log to bound, and Open
// reads the heads directly.
//
// A sample no newer than its series' newest is refused (ErrOutOfOrder), as
// Prometheus does.
//
// *DB is a prometheus storage.Queryable. A select reads the series' chunks in
// range (memory first, then one read transaction) and hands them out through
// Prometheus' own chunk and chain iterators. When the query's step is a
// minute or more and its function can be answered from per-period
// aggregates, it reads a rollup tier instead of the raw samples; pickTier
// says which functions and why. Retention (by age and by size) deletes whole
// slices (rewriting the few that straddle its cutoff) in short transactions
// in the background and forgets series left with no data.
//
// A file in the first layout (one key per sample) is migrated on Open, and
// one in the second (a bucket per series) moved into slices.
package storage
