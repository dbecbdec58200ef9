// Package storage keeps archscope's history in one bbolt file and serves it to
// the PromQL engine.
//
// The layout is deliberately plain for now (a later issue replaces the sample
// layout with XOR chunks, rollups and retention behind the same DB type):
//
//   - bucket "series": canonical label bytes → series id (8 bytes, big endian).
//     On Open the whole bucket is read into an in-memory index (id → labels,
//     label name → value → ids) that answers matchers without touching disk.
//   - bucket "samples": one nested bucket per series id; keys are timestamps
//     (8 bytes, big endian, sign bit flipped so negative times sort first),
//     values the float64 bits (so Prometheus' stale-NaN marker survives).
//   - bucket "annotations": time + sequence → JSON.
//
// Append writes a whole scrape in one bbolt transaction: one fsync per scrape,
// not per sample. bbolt's copy-on-write B+tree makes every committed
// transaction survive a crash; an uncommitted one is simply absent.
//
// *DB is a prometheus storage.Queryable, so the real PromQL engine runs on it.
package storage
