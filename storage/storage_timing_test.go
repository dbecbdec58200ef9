package storage

import (
	"context"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"

	bolt "go.etcd.io/bbolt"

	"github.com/archscope/archscope/simulator"
)

// Benchmarks: durable ingest, range queries over raw samples and rollups,
// and bytes on disk per sample. `make bench` runs them into bench.txt.

// BenchmarkIngest appends scrapes (one sample per series, timestamps one
// second apart) as fast as one core allows, while the background flusher
// commits every second, as in production; the last flush is timed too, so
// every sample counted is durable. flushes/op shows how many commits the
// run took.
func BenchmarkIngest(b *testing.B) {
	for _, n := range []int{300, 10_000} {
		b.Run("series="+strconv.Itoa(n), func(b *testing.B) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
			db, err := Open(filepath.Join(b.TempDir(), "h.db"), &Options{FlushInterval: time.Second})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			batch := make([]Sample, n)
			for i := range batch {
				batch[i].Labels = lbl("__name__", "shop_metric_"+strconv.Itoa(i%30), "job", "demo", "instance", "127.0.0.1:7777", "i", strconv.Itoa(i/30))
			}
			rng := rand.New(rand.NewPCG(6, 5))
			vals := make([]float64, n)
			st := db.bolt.Stats()
			b.ReportAllocs()
			b.ResetTimer()
			k := 0
			for b.Loop() {
				for i := range batch {
					vals[i] += float64(rng.IntN(20))
					batch[i].T, batch[i].V = int64(k)*1000, vals[i]
				}
				if err := db.Append(batch); err != nil {
					b.Fatal(err)
				}
				k++
			}
			if err := db.Flush(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			after := db.bolt.Stats()
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "samples/s")
			b.ReportMetric(float64(after.TxStats.GetWrite()-st.TxStats.GetWrite())*4096/float64(b.N*n), "written-bytes/sample")
		})
	}
}

// queryDB is one history shared by the query benchmarks: 100 series
// (counters, one sample a second) over 24 h, flushed, so chunks and rollups
// are on disk as in a running archscope.
var (
	queryDBOnce  sync.Once
	queryDB      *DB
	queryDBDir   string
	queryDBStart = time.Unix(1_700_000_000, 0)
)

const querySeries, queryHours = 100, 24

func sharedQueryDB(b *testing.B) *DB {
	queryDBOnce.Do(func() {
		var err error
		if queryDBDir, err = os.MkdirTemp("", "archscope-bench"); err != nil {
			b.Fatal(err)
		}
		if queryDB, err = Open(filepath.Join(queryDBDir, "h.db"), &Options{FlushInterval: -1}); err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(6, 6))
		batch := make([]Sample, querySeries)
		for i := range batch {
			batch[i].Labels = lbl("__name__", "req_total", "svc", strconv.Itoa(i%5), "i", strconv.Itoa(i))
		}
		for s := range queryHours * 3600 {
			for i := range batch {
				batch[i].T = queryDBStart.Add(time.Duration(s) * time.Second).UnixMilli()
				batch[i].V += float64(poisson(rng, float64(1+i%10)))
			}
			if err := queryDB.Append(batch); err != nil {
				b.Fatal(err)
			}
			if s%600 == 0 {
				if err := queryDB.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := queryDB.Flush(); err != nil {
			b.Fatal(err)
		}
	})
	if queryDB == nil {
		b.Fatal("no query history")
	}
	return queryDB
}

func TestMain(m *testing.M) {
	code := m.Run()
	if queryDB != nil {
		queryDB.Close()
		os.RemoveAll(queryDBDir)
	}
	os.Exit(code)
}

func benchEngine() *promql.Engine {
	return promql.NewEngine(promql.EngineOpts{MaxSamples: 50e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
}

// BenchmarkQueryRange runs dashboard range queries over 100 series through
// the real PromQL engine: the last hour at a 15 s step (raw samples:
// 360 000 of them), and the last 24 h at a 60 s step (the minute tier:
// 144 000 points instead of 8.6 million samples). samples/op is what the
// selects handed the engine.
func BenchmarkQueryRange(b *testing.B) {
	db, engine, end := sharedQueryDB(b), benchEngine(), queryDBStart.Add(queryHours*time.Hour)
	for _, tc := range []struct {
		name   string
		q      string
		span   time.Duration
		step   time.Duration
		tier   int
		range_ time.Duration
	}{
		{"1h-raw", `sum by (svc) (rate(req_total[1m]))`, time.Hour, 15 * time.Second, rawTier, time.Minute},
		// The dashboard's own shape for an hour: a 6 s step, rate over 10 s.
		{"1h-raw-ui", `sum by (svc) (rate(req_total[10s]))`, time.Hour, 6 * time.Second, rawTier, 10 * time.Second},
		{"24h-rollup", `sum by (svc) (rate(req_total[10m]))`, 24 * time.Hour, time.Minute, tierMinute, 10 * time.Minute},
	} {
		b.Run(tc.name, func(b *testing.B) {
			hints := &promstorage.SelectHints{Start: end.Add(-tc.span - tc.range_).UnixMilli(), End: end.UnixMilli(), Step: tc.step.Milliseconds(), Range: tc.range_.Milliseconds(), Func: "rate"}
			if tier, _ := pickTier(hints); tier != tc.tier {
				b.Fatalf("reads tier %d, want %d", tier, tc.tier)
			}
			read := countSamples(b, db, hints)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				q, err := engine.NewRangeQuery(ctx, db, nil, tc.q, end.Add(-tc.span), end, tc.step)
				if err != nil {
					b.Fatal(err)
				}
				res := q.Exec(ctx)
				if res.Err != nil {
					b.Fatal(res.Err)
				}
				if m, err := res.Matrix(); err != nil || len(m) != 5 {
					b.Fatalf("%d series, %v", len(m), err)
				}
				q.Close()
			}
			b.ReportMetric(float64(read), "samples/op")
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
		})
	}
}

// BenchmarkQueryRangeEngineOnly runs BenchmarkQueryRange's hour over the
// same samples decoded beforehand into memory, behind a plain walk over a
// slice: what the PromQL engine costs when storage costs nothing, the
// floor of any storage under it.
func BenchmarkQueryRangeEngineOnly(b *testing.B) {
	db, engine, end := sharedQueryDB(b), benchEngine(), queryDBStart.Add(queryHours*time.Hour)
	for _, tc := range []struct {
		name string
		q    string
		step time.Duration
	}{
		{"1h-raw", `sum by (svc) (rate(req_total[1m]))`, 15 * time.Second},
		{"1h-raw-ui", `sum by (svc) (rate(req_total[10s]))`, 6 * time.Second},
	} {
		b.Run(tc.name, func(b *testing.B) {
			mem := decodedQueryable{}
			q, _ := db.Querier(end.Add(-time.Hour-time.Minute).UnixMilli(), end.UnixMilli())
			ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "req_total"))
			var it chunkenc.Iterator
			for ss.Next() {
				var fs floatSamples
				it = ss.At().Iterator(it)
				for it.Next() == chunkenc.ValFloat {
					t, v := it.At()
					fs = append(fs, floatSample{t, v})
				}
				mem = append(mem, decodedSeries{ss.At().Labels(), fs})
			}
			ctx := context.Background()
			for b.Loop() {
				q, err := engine.NewRangeQuery(ctx, mem, nil, tc.q, end.Add(-time.Hour), end, tc.step)
				if err != nil {
					b.Fatal(err)
				}
				res := q.Exec(ctx)
				if m, err := res.Matrix(); err != nil || len(m) != 5 {
					b.Fatalf("%d series, %v %v", len(m), err, res.Err)
				}
				q.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
		})
	}
}

type decodedSeries struct {
	lset labels.Labels
	fs   floatSamples
}

// decodedQueryable serves its series, all of them, to any select.
type decodedQueryable []decodedSeries

func (d decodedQueryable) Querier(int64, int64) (promstorage.Querier, error) { return d, nil }
func (d decodedQueryable) Select(context.Context, bool, *promstorage.SelectHints, ...*labels.Matcher) promstorage.SeriesSet {
	out := make([]promstorage.Series, len(d))
	for i, s := range d {
		fs := s.fs
		out[i] = &promstorage.SeriesEntry{Lset: s.lset, SampleIteratorFn: func(chunkenc.Iterator) chunkenc.Iterator { return &sliceIterator{fs: fs, i: -1} }}
	}
	return &seriesSet{series: out, i: -1}
}
func (d decodedQueryable) LabelValues(context.Context, string, *promstorage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}
func (d decodedQueryable) LabelNames(context.Context, *promstorage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}
func (d decodedQueryable) Close() error { return nil }

// sliceIterator is about the cheapest iterator there can be: a walk over
// decoded samples in a slice.
type sliceIterator struct {
	fs floatSamples
	i  int
}

func (it *sliceIterator) Next() chunkenc.ValueType {
	if it.i++; it.i < len(it.fs) {
		return chunkenc.ValFloat
	}
	return chunkenc.ValNone
}

func (it *sliceIterator) Seek(t int64) chunkenc.ValueType {
	if it.i < 0 {
		it.i = 0
	}
	for it.i < len(it.fs) && it.fs[it.i].t < t {
		it.i++
	}
	if it.i < len(it.fs) {
		return chunkenc.ValFloat
	}
	return chunkenc.ValNone
}

func (it *sliceIterator) At() (int64, float64) { return it.fs[it.i].t, it.fs[it.i].f }
func (it *sliceIterator) AtHistogram(*histogram.Histogram) (int64, *histogram.Histogram) {
	return 0, nil
}
func (it *sliceIterator) AtFloatHistogram(*histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	return 0, nil
}
func (it *sliceIterator) AtT() int64  { return it.fs[it.i].t }
func (it *sliceIterator) AtST() int64 { return 0 }
func (it *sliceIterator) Err() error  { return nil }

// BenchmarkSelect reads the same data as BenchmarkQueryRange without the
// engine: the storage's share of a query.
func BenchmarkSelect(b *testing.B) {
	db := sharedQueryDB(b)
	end := queryDBStart.Add(queryHours * time.Hour).UnixMilli()
	for _, tc := range []struct {
		name  string
		hints *promstorage.SelectHints
	}{
		{"1h-raw", &promstorage.SelectHints{Start: end - 3600_000, End: end, Step: 15_000, Range: 60_000, Func: "rate"}},
		{"24h-rollup", &promstorage.SelectHints{Start: end - 24*3600_000, End: end, Step: 60_000, Range: 600_000, Func: "rate"}},
		{"24h-raw", &promstorage.SelectHints{Start: end - 24*3600_000, End: end, Step: 0, Range: 600_000, Func: "rate"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				n = countSamples(b, db, tc.hints)
			}
			b.ReportMetric(float64(n), "samples/op")
		})
	}
}

func countSamples(b *testing.B, db *DB, hints *promstorage.SelectHints) int {
	q, _ := db.Querier(hints.Start, hints.End)
	defer q.Close()
	ss := q.Select(context.Background(), false, hints, labels.MustNewMatcher(labels.MatchEqual, "__name__", "req_total"))
	n := 0
	var it chunkenc.Iterator
	for ss.Next() {
		it = ss.At().Iterator(it)
		for it.Next() == chunkenc.ValFloat {
			n++
		}
	}
	if err := ss.Err(); err != nil {
		b.Fatal(err)
	}
	return n
}

// metricKind generates one kind of series' values, scrape after scrape.
type metricKind func(rng *rand.Rand, prev float64) float64

// nodeExporterMix is shaped after two scrapes 15 s apart of Debian's
// prometheus-node-exporter on the build machine: of 505 series, 353 were
// unchanged (sizes, info, limits, idle devices), 46 were per-collector scrape
// durations (Go's Duration.Seconds(): nanoseconds over 1e9, printed with up
// to nine decimals, e.g. 5.3673e-05), and the rest CPU seconds (hundredths),
// byte and operation counters, and memory gauges in pages.
var nodeExporterMix = []struct {
	share float64
	kind  metricKind
}{
	{0.70, func(r *rand.Rand, p float64) float64 { return 1 }},                                            // unchanged
	{0.09, func(r *rand.Rand, p float64) float64 { return float64(int64(1e6+r.ExpFloat64()*1e7)) / 1e9 }}, // *_duration_seconds
	{0.06, func(r *rand.Rand, p float64) float64 { return math.Round((p+r.Float64()*15)*100) / 100 }},     // node_cpu_seconds_total
	{0.10, func(r *rand.Rand, p float64) float64 { return p + float64(poisson(r, 30)*512) }},              // bytes, packets, ops
	{0.05, func(r *rand.Rand, p float64) float64 { return p + float64(r.IntN(200)-100)*4096 }},            // memory, free bytes
}

// mixSource makes one scrape after another: samples at time t.
type mixSource func(dst []Sample, t int64) []Sample

// demoShopSource scrapes the real demo shop: the simulator at its
// defaults, advanced by interval between scrapes, its exposition parsed as
// a scrape loop would.
func demoShopSource(b *testing.B, interval time.Duration) mixSource {
	shop, err := simulator.New(simulator.DefaultConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	h := shop.Handler()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	cache := map[string]labels.Labels{}
	return func(dst []Sample, t int64) []Sample {
		shop.Advance(interval)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/demo/metrics", nil))
		mfs, err := parser.TextToMetricFamilies(rec.Body)
		if err != nil {
			b.Fatal(err)
		}
		add := func(name string, m *dto.Metric, v float64, extra ...string) {
			kv := []string{"__name__", name, "job", "demo", "instance", "127.0.0.1:7777"}
			for _, lp := range m.GetLabel() {
				kv = append(kv, lp.GetName(), lp.GetValue())
			}
			kv = append(kv, extra...)
			key := strings.Join(kv, "\xff")
			l, ok := cache[key]
			if !ok {
				l = labels.FromStrings(kv...)
				cache[key] = l
			}
			dst = append(dst, Sample{l, t, v})
		}
		for name, mf := range mfs {
			for _, m := range mf.GetMetric() {
				switch {
				case m.Counter != nil:
					add(name, m, m.GetCounter().GetValue())
				case m.Gauge != nil:
					add(name, m, m.GetGauge().GetValue())
				case m.Histogram != nil:
					for _, bk := range m.GetHistogram().GetBucket() {
						add(name+"_bucket", m, float64(bk.GetCumulativeCount()), "le", strconv.FormatFloat(bk.GetUpperBound(), 'g', -1, 64))
					}
					add(name+"_bucket", m, float64(m.GetHistogram().GetSampleCount()), "le", "+Inf")
					add(name+"_sum", m, m.GetHistogram().GetSampleSum())
					add(name+"_count", m, float64(m.GetHistogram().GetSampleCount()))
				case m.Summary != nil:
					add(name+"_sum", m, m.GetSummary().GetSampleSum())
					add(name+"_count", m, float64(m.GetSummary().GetSampleCount()))
				case m.Untyped != nil:
					add(name, m, m.GetUntyped().GetValue())
				}
			}
		}
		return dst
	}
}

// nodeExporterSource makes n series of nodeExporterMix.
func nodeExporterSource(n int) mixSource {
	rng := rand.New(rand.NewPCG(6, 7))
	series := make([]Sample, n)
	kinds := make([]metricKind, n)
	for i := range series {
		series[i].Labels = lbl("__name__", "node_metric_"+strconv.Itoa(i%50), "job", "node", "instance", "host:9100", "i", strconv.Itoa(i/50))
		x := float64(i) / float64(n)
		for _, m := range nodeExporterMix {
			if x < m.share {
				kinds[i] = m.kind
				break
			}
			x -= m.share
		}
	}
	return func(dst []Sample, t int64) []Sample {
		for i := range series {
			series[i].T, series[i].V = t, kinds[i](rng, series[i].V)
		}
		return append(dst, series...)
	}
}

// BenchmarkBytesPerSample ingests hours of a mix, committing once a second
// of scrape time, and reports the bytes of bbolt pages in use per sample
// (raw chunks, rollups, index, heads: everything but free pages), the
// file's size per sample, and the keys and values of the chunk and rollup
// buckets per sample: what the data costs before page slack, the figure a
// long history tends to (a series' last, part-filled page and the heads
// weigh less as it grows). Scrape timestamps are exact multiples of the
// interval, as Prometheus' scrape loop makes them (it snaps timestamps
// within 2 ms of the schedule); the jittered variant adds the 1–3 ms of
// timer jitter archscope's collectors keep today, which costs the XOR
// encoding two bytes a sample.
func BenchmarkBytesPerSample(b *testing.B) {
	for _, tc := range []struct {
		name     string
		source   func(b *testing.B) mixSource
		hours    int
		interval time.Duration
		jitter   bool
	}{
		{"demo-shop", func(b *testing.B) mixSource { return demoShopSource(b, time.Second) }, 6, time.Second, false},
		{"demo-shop-jittered", func(b *testing.B) mixSource { return demoShopSource(b, time.Second) }, 6, time.Second, true},
		{"node-exporter", func(*testing.B) mixSource { return nodeExporterSource(500) }, 24, 15 * time.Second, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				path := filepath.Join(b.TempDir(), "h.db")
				db, err := Open(path, &Options{FlushInterval: -1})
				if err != nil {
					b.Fatal(err)
				}
				src := tc.source(b)
				rng := rand.New(rand.NewPCG(6, 8))
				scrapes := int(time.Duration(tc.hours) * time.Hour / tc.interval)
				start := time.Unix(1_700_000_000, 0)
				var batch []Sample
				n := 0
				for k := range scrapes {
					t := start.Add(time.Duration(k) * tc.interval).UnixMilli()
					if tc.jitter {
						t += int64(1 + rng.IntN(3))
					}
					batch = src(batch[:0], t)
					n += len(batch)
					if err := db.Append(batch); err != nil {
						b.Fatal(err)
					}
					if k%int(time.Second/min(tc.interval, time.Second)) == 0 {
						if err := db.Flush(); err != nil {
							b.Fatal(err)
						}
					}
				}
				if err := db.Flush(); err != nil {
					b.Fatal(err)
				}
				used, err := db.dataSize()
				if err != nil {
					b.Fatal(err)
				}
				var content int
				err = db.bolt.View(func(tx *bolt.Tx) error {
					for _, name := range sliceBuckets {
						err := tx.Bucket(name).ForEach(func(k, v []byte) error {
							content += len(k) + len(v)
							return nil
						})
						if err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
				if err := db.Close(); err != nil {
					b.Fatal(err)
				}
				fi, err := os.Stat(path)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(used)/float64(n), "bytes/sample")
				b.ReportMetric(float64(content)/float64(n), "chunk-bytes/sample")
				b.ReportMetric(float64(fi.Size())/float64(n), "file-bytes/sample")
				b.ReportMetric(float64(n/scrapes), "series")
			}
		})
	}
}

// BenchmarkFlushCost compares the two ways to make a scrape durable within
// one flush: rewriting the changed head chunks (what Flush does), and a
// write-ahead log that appends the scrape's samples (series id, time, value)
// to a bucket, to be replayed on open and truncated as chunks are cut (the
// truncation is not counted, which flatters the log). One scrape of 300
// series per flush, as the demo at 1 s; written-bytes/sample is bbolt's
// pages written per sample.
func BenchmarkFlushCost(b *testing.B) {
	const n = 300
	b.Run("head-rewrite", func(b *testing.B) {
		db, err := Open(filepath.Join(b.TempDir(), "h.db"), &Options{FlushInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		src := demoShopSource(b, time.Second)
		var batch []Sample
		for k := range 600 { // ten minutes first: heads of a steady state
			batch = src(batch[:0], int64(k)*1000)
			if err := db.Append(batch); err != nil {
				b.Fatal(err)
			}
		}
		if err := db.Flush(); err != nil {
			b.Fatal(err)
		}
		st := db.bolt.Stats()
		before := st.TxStats.GetWrite()
		samples := 0
		k := 600
		for b.Loop() {
			batch = src(batch[:0], int64(k)*1000)
			k++
			samples += len(batch)
			if err := db.Append(batch); err != nil {
				b.Fatal(err)
			}
			if err := db.Flush(); err != nil {
				b.Fatal(err)
			}
		}
		st = db.bolt.Stats()
		b.ReportMetric(float64((st.TxStats.GetWrite()-before)*pageSize)/float64(samples), "written-bytes/sample")
	})
	b.Run("wal", func(b *testing.B) {
		bdb, err := bolt.Open(filepath.Join(b.TempDir(), "w.db"), 0o644, &bolt.Options{PageSize: pageSize, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
		if err != nil {
			b.Fatal(err)
		}
		defer bdb.Close()
		if err := bdb.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("wal")); return err }); err != nil {
			b.Fatal(err)
		}
		src := demoShopSource(b, time.Second)
		ids := map[string]uint64{}
		var batch []Sample
		st := bdb.Stats()
		before := st.TxStats.GetWrite()
		samples, k := 0, 0
		for b.Loop() {
			batch = src(batch[:0], int64(k)*1000)
			k++
			samples += len(batch)
			var rec []byte
			for _, s := range batch {
				key := s.Labels.String()
				id, ok := ids[key]
				if !ok {
					id = uint64(len(ids) + 1)
					ids[key] = id
				}
				rec = binary.AppendUvarint(rec, id)
				rec = binary.AppendVarint(rec, s.T)
				rec = binary.BigEndian.AppendUint64(rec, math.Float64bits(s.V))
			}
			err := bdb.Update(func(tx *bolt.Tx) error {
				w := tx.Bucket([]byte("wal"))
				w.FillPercent = 1
				seq, _ := w.NextSequence()
				return w.Put(binary.BigEndian.AppendUint64(nil, seq), rec)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		st = bdb.Stats()
		b.ReportMetric(float64((st.TxStats.GetWrite()-before)*pageSize)/float64(samples), "written-bytes/sample")
	})
}
