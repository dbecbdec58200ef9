package collectors

import (
	"context"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/archscope/archscope/storage"
)

// TestScrapesRealNodeExporter scrapes Debian's prometheus-node-exporter, a
// real exporter nobody here wrote, into real storage, and finds the
// well-known series with the right labels. Skipped only where the exporter
// is not installed (make test installs it and sets ARCHSCOPE_REQUIRE_TOOLS).
func TestScrapesRealNodeExporter(t *testing.T) {
	bin, err := exec.LookPath("prometheus-node-exporter")
	if err != nil {
		if os.Getenv("ARCHSCOPE_REQUIRE_TOOLS") != "" {
			t.Fatal("prometheus-node-exporter not installed (make deps-test installs it)")
		}
		t.Skip("prometheus-node-exporter not installed; make test installs it")
	}
	addr := freeLoopbackAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--web.listen-address="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	url := "http://" + addr + "/metrics"
	waitListening(t, url)

	db, err := storage.Open(filepath.Join(t.TempDir(), "h.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	scraped := make(chan TargetHealth, 16)
	m := NewManager(Options{Appender: db, OnScrape: func(h TargetHealth) {
		select {
		case scraped <- h:
		default:
		}
	}})
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx, []Target{{Job: "node", URL: url, Interval: time.Second}}) }()
	defer func() { stop(); <-done }()

	for n := 0; n < 2; {
		select {
		case h := <-scraped:
			if h.Health != HealthUp {
				t.Fatalf("node_exporter scrape: %s %q", h.Health, h.LastError)
			}
			n++
		case <-time.After(10 * time.Second):
			t.Fatal("node_exporter was not scraped twice within 10 s")
		}
	}

	q, _ := db.Querier(math.MinInt64, math.MaxInt64)
	defer q.Close()
	count := func(ms ...*labels.Matcher) (series int, sample float64) {
		ss := q.Select(context.Background(), false, nil, ms...)
		for ss.Next() {
			series++
			it := ss.At().Iterator(nil)
			for it.Next() != 0 {
				_, sample = it.At()
			}
		}
		if err := ss.Err(); err != nil {
			t.Fatal(err)
		}
		return series, sample
	}
	eq := func(n, v string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchEqual, n, v) }
	if n, v := count(eq("__name__", "up"), eq("job", "node"), eq("instance", addr)); n != 1 || v != 1 {
		t.Errorf(`up{job="node",instance=%q}: %d series, last value %v; want 1 series at 1`, addr, n, v)
	}
	n, _ := count(eq("__name__", "node_cpu_seconds_total"), eq("job", "node"), eq("instance", addr), eq("mode", "idle"))
	if n < 1 {
		t.Errorf(`no node_cpu_seconds_total{mode="idle",job="node"} series stored`)
	}
	if n, v := count(eq("__name__", "scrape_samples_scraped"), eq("job", "node")); n != 1 || v < 100 {
		t.Errorf("scrape_samples_scraped: %d series, last %v; a node_exporter exposes hundreds of samples", n, v)
	}
	t.Logf("node_exporter at %s: %d node_cpu_seconds_total{mode=idle} series stored", addr, n)
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitListening(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not answer within 10 s", url)
}
