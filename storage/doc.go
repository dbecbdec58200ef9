// Package storage keeps archscope's history in one bbolt file and serves it to
// the PromQL engine.
//
// The layout is deliberately plain for now (a later issue replaces the sample
// layout with XOR chunks, rollups and retention behind the same DB type):
//
//   - bucket "series": canonical label bytes (name 0xff value 0xff …, in label
//     order; 0xff never occurs in UTF-8) → series id (8 bytes, big endian, from
//     the bucket's sequence). On Open the whole bucket is read into an
//     in-memory index (id → labels, label name → value → ascending ids) that
//     answers matchers without touching disk; equality matchers narrow
//     through it, every matcher type is then checked on the candidates.
//   - bucket "samples": one nested bucket per series id; keys are timestamps
//     (8 bytes, big endian, sign bit flipped so negative times sort first),
//     values the float64 bits, so Prometheus' stale-NaN marker survives. A
//     range read is one cursor Seek and a walk; a second sample at the same
//     timestamp overwrites the first.
//   - bucket "annotations": time + sequence (16 bytes) → JSON, so annotations
//     at the same instant keep their order.
//
// Append writes a whole scrape in one bbolt transaction: one fsync per scrape,
// not per sample. bbolt's copy-on-write B+tree makes every committed
// transaction survive a crash; an uncommitted one is simply absent. The cost
// of this layout is write amplification: a scrape touches every series'
// bucket, so it rewrites about two 4 KiB pages per series (BenchmarkAppend
// reports pages/tx), which the chunked layout is meant to remove.
//
// *DB is a prometheus storage.Queryable, so the real PromQL engine runs on it:
// Select reads each matching series' samples in range into memory in one read
// transaction and hands them out through Prometheus' own list iterator.
package storage
