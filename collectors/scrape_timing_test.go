package collectors

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/archscope/archscope/storage"
)

// Benchmarks of the scrape path. Run them on one core, as `make bench`
// does (-cpu 1), so samples/s is per core:
//
//	go test -run '^$' -bench . -cpu 1 ./collectors/

// seriesBody is a node_exporter-like exposition of n series: a few metric
// families with two or three labels each.
func seriesBody(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fam := i % 20
		if i < 20 {
			fmt.Fprintf(&b, "# HELP fam%d_total A family.\n# TYPE fam%d_total counter\n", fam, fam)
		}
		fmt.Fprintf(&b, "fam%d_total{device=\"dev%d\",mode=\"m%d\",cpu=\"%d\"} %d.5\n", fam, i/20, i%7, i%64, i*3)
	}
	return b.Bytes()
}

type discard struct{}

func (discard) Append([]storage.Sample) error { return nil }

// BenchmarkParse10k parses a 10k-series body with Prometheus' text parser
// and builds each sample's labels: the parse half of a scrape.
func BenchmarkParse10k(b *testing.B) { benchParse10k(b, seriesBody(10_000)) }

// benchParse10k parses body, 10k series, again and again with one parser.
func benchParse10k(b *testing.B, body []byte) {
	p := newParser()
	target := labels.FromStrings("job", "node", "instance", "10.0.0.1:9100")
	var out []storage.Sample
	var err error
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		out, err = p.parse(out[:0], body, textCT, 1000, target)
		if err != nil || len(out) != 10_000 {
			b.Fatal(len(out), err)
		}
	}
	b.ReportMetric(float64(b.N*len(out))/b.Elapsed().Seconds(), "samples/s")
}

// benchLoop is a loop scraping a loopback server that serves body.
func benchLoop(b *testing.B, body []byte, app Appender) *loop {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write(body)
	}))
	b.Cleanup(srv.Close)
	tg, err := Target{Job: "bench", URL: srv.URL + "/metrics", Interval: time.Second}.withDefaults()
	if err != nil {
		b.Fatal(err)
	}
	m := NewManager(Options{Appender: app})
	return m.newLoop(tg, "bench")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// scrapeBench runs whole scrapes (HTTP GET over loopback, read, parse,
// staleness tracking, Append) of a 10k-series target and reports samples/s
// and the process CPU one scrape costs, as a share of one core for a target
// scraped every second. The loopback server is in the same process, so its
// share (writing 500 KB) is counted too: the figure is an upper bound.
func scrapeBench(b *testing.B, app Appender) {
	l := benchLoop(b, seriesBody(10_000), app)
	ctx := context.Background()
	l.scrapeOnce(ctx) // series creation is not the steady state
	if h := l.snapshot(); h.Health != HealthUp {
		b.Fatal(h.LastError)
	}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		l.scrapeOnce(ctx)
	}
	cpu := cpuTime() - cpu0
	if h := l.snapshot(); h.Health != HealthUp {
		b.Fatal(h.LastError)
	}
	b.ReportMetric(float64(b.N*10_000)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(100*cpu.Seconds()/float64(b.N), "%core@1s")
}

// BenchmarkScrape10k: scrape + parse, into an Appender that keeps nothing.
func BenchmarkScrape10k(b *testing.B) { scrapeBench(b, discard{}) }

// BenchmarkScrape10kStorage: scrape + parse + Append into archscope's
// bbolt storage, the whole cost of a 10k-series target.
func BenchmarkScrape10kStorage(b *testing.B) {
	db, err := storage.Open(filepath.Join(b.TempDir(), "h.db"), &storage.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	scrapeBench(b, db)
}

// BenchmarkParse10kFirstScrape is BenchmarkParse10k with an empty series
// cache each time: every series' labels are built, as on a target's first
// scrape (and for series that change every scrape).
func BenchmarkParse10kFirstScrape(b *testing.B) {
	body := seriesBody(10_000)
	target := labels.FromStrings("job", "node", "instance", "10.0.0.1:9100")
	var out []storage.Sample
	var err error
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p := newParser()
		out, err = p.parse(out[:0], body, textCT, 1000, target)
		if err != nil || len(out) != 10_000 {
			b.Fatal(len(out), err)
		}
	}
	b.ReportMetric(float64(b.N*len(out))/b.Elapsed().Seconds(), "samples/s")
}

// familiesBody is n series in n/10 metric families, each with a # HELP and
// a # TYPE line, as exporters with many small families (node_exporter,
// kube-state-metrics) look: one metadata line per five samples.
func familiesBody(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fam := i / 10
		if i%10 == 0 {
			fmt.Fprintf(&b, "# HELP family%d_total Family %d: what it counts, in a sentence.\n# TYPE family%d_total counter\n", fam, fam, fam)
		}
		fmt.Fprintf(&b, "family%d_total{device=\"dev%d\"} %d\n", fam, i%10, i)
	}
	return b.Bytes()
}

// BenchmarkParse10kFamilies is BenchmarkParse10k's steady state with 1000
// families' metadata lines to read, so that their cost shows.
func BenchmarkParse10kFamilies(b *testing.B) { benchParse10k(b, familiesBody(10_000)) }
