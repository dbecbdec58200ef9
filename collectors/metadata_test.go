package collectors

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
)

func md(metric string, typ model.MetricType, help, unit string) MetricMetadata {
	return MetricMetadata{Metric: metric, Type: typ, Help: help, Unit: unit}
}

// Every exposition format yields the families' metadata, named and typed
// as Prometheus reports them.
func TestParseMetadata(t *testing.T) {
	target := labels.FromStrings("job", "j", "instance", "h:1")
	for _, tc := range []struct {
		name, ct string
		body     []byte
		want     []MetricMetadata
	}{
		{
			name: "Prometheus text",
			ct:   textCT,
			body: []byte("# HELP a_total Requests, \\\\ and a\\nsecond line.\n# TYPE a_total counter\na_total 1\n" +
				"# TYPE g gauge\ng 2\n" + // no help
				"# HELP h Latency.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n" +
				"# HELP s S.\n# TYPE s summary\ns_sum 1\ns_count 1\n" +
				"# HELP u Untyped.\n# TYPE u untyped\nu 1\n" +
				"# HELP only_help No type line.\nonly_help 1\n"),
			want: []MetricMetadata{
				md("a_total", model.MetricTypeCounter, "Requests, \\ and a\nsecond line.", ""),
				md("g", model.MetricTypeGauge, "", ""),
				md("h", model.MetricTypeHistogram, "Latency.", ""),
				md("only_help", model.MetricTypeUnknown, "No type line.", ""),
				md("s", model.MetricTypeSummary, "S.", ""),
				md("u", model.MetricTypeUnknown, "Untyped.", ""),
			},
		},
		{
			name: "OpenMetrics",
			ct:   omCT,
			body: []byte("# TYPE req counter\n# HELP req Requests.\nreq_total 3\n" + // the family has no _total
				"# TYPE lat_seconds histogram\n# UNIT lat_seconds seconds\n# HELP lat_seconds Latency.\n" +
				"lat_seconds_bucket{le=\"+Inf\"} 1\nlat_seconds_sum 1\nlat_seconds_count 1\n" +
				"# TYPE build info\nbuild_info{v=\"1\"} 1\n" +
				"# TYPE st stateset\nst{st=\"a\"} 1\n" +
				"# TYPE gh gaugehistogram\ngh_bucket{le=\"+Inf\"} 1\ngh_gcount 1\ngh_gsum 1\n" +
				"# TYPE x unknown\nx 1\n# EOF\n"),
			want: []MetricMetadata{
				md("build", model.MetricTypeInfo, "", ""),
				md("gh", model.MetricTypeGaugeHistogram, "", ""),
				md("lat_seconds", model.MetricTypeHistogram, "Latency.", "seconds"),
				md("req", model.MetricTypeCounter, "Requests.", ""),
				md("st", model.MetricTypeStateset, "", ""),
				md("x", model.MetricTypeUnknown, "", ""),
			},
		},
		{
			name: "protobuf",
			ct:   string(expfmt.NewFormat(expfmt.TypeProtoDelim)),
			body: protobufMetadataBody(t),
			want: []MetricMetadata{
				md("c_total", model.MetricTypeCounter, "Requests.", ""),
				md("g_bytes", model.MetricTypeGauge, "Memory.", "bytes"),
				md("h_seconds", model.MetricTypeHistogram, "Latency.", "seconds"),
				md("s_seconds", model.MetricTypeSummary, "GC pauses.", "seconds"),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newParser()
			if _, err := p.parse(nil, tc.body, tc.ct, 1000, target); err != nil {
				t.Fatal(err)
			}
			if got := p.meta.list(""); !slices.Equal(got, tc.want) {
				t.Errorf("metadata:\n got %q\nwant %q", got, tc.want)
			}
			// One family by name, and a name that is not a family.
			if got := p.meta.list(tc.want[0].Metric); !slices.Equal(got, tc.want[:1]) {
				t.Errorf("list(%q) = %q", tc.want[0].Metric, got)
			}
			if got := p.meta.list("no_such_metric"); got != nil {
				t.Errorf("list(no_such_metric) = %q, want nil", got)
			}
		})
	}
}

// protobufMetadataBody is a client_golang registry's protobuf exposition,
// with units.
func protobufMetadataBody(tb testing.TB) []byte {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total", Help: "Requests."}, []string{"code"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g_bytes", Help: "Memory.", Unit: "bytes"})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h_seconds", Help: "Latency.", Unit: "seconds", Buckets: []float64{1}, NativeHistogramBucketFactor: 1.1})
	s := prometheus.NewSummary(prometheus.SummaryOpts{Name: "s_seconds", Help: "GC pauses.", Unit: "seconds"})
	reg.MustRegister(c, g, h, s)
	c.WithLabelValues("200").Inc()
	h.Observe(0.5)
	s.Observe(0.1)
	return protobufOf(tb, reg)
}

// Metadata changes with the exposition, outlives a family's absence for
// ten parses as in Prometheus, and a failed parse adds nothing.
func TestMetadataFollowsTheExposition(t *testing.T) {
	p := newParser()
	target := labels.FromStrings("job", "j", "instance", "h:1")
	parse := func(body string) error {
		_, err := p.parse(nil, []byte(body), textCT, 1, target)
		return err
	}
	if err := parse("# HELP a Old.\n# TYPE a gauge\na 1\n# HELP b B.\nb 1\n"); err != nil {
		t.Fatal(err)
	}
	if err := parse("# HELP a New.\n# TYPE a counter\na 1\n"); err != nil {
		t.Fatal(err)
	}
	want := []MetricMetadata{md("a", model.MetricTypeCounter, "New.", ""), md("b", model.MetricTypeUnknown, "B.", "")}
	if got := p.meta.list(""); !slices.Equal(got, want) {
		t.Fatalf("after a change: %q, want %q", got, want)
	}
	// A broken body: its new family goes, a known family's change stays
	// (as in Prometheus, which updates metadata as it parses).
	if err := parse("# HELP a Newer.\n# HELP c C.\nc 1\nbroken {\n"); err == nil {
		t.Fatal("a broken body parsed")
	}
	want[0].Help = "Newer."
	if got := p.meta.list(""); !slices.Equal(got, want) {
		t.Fatalf("after a failed parse: %q, want %q", got, want)
	}
	// b was last seen in parse 1; it is kept while missing from at most
	// ten parses (2 to 11) and forgotten at the twelfth.
	for i := 4; i <= 11; i++ {
		if err := parse("# HELP a Newer.\na 1\n"); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.meta.list("b"); len(got) != 1 {
		t.Fatalf("b forgotten after 10 parses without it")
	}
	if err := parse("# HELP a Newer.\na 1\n"); err != nil {
		t.Fatal(err)
	}
	if got := p.meta.list(""); !slices.Equal(got, want[:1]) {
		t.Fatalf("after 11 parses without b: %q, want only a", got)
	}
	if want := len("a") + metaEntryCost + len("Newer."); p.meta.bytes != want {
		t.Errorf("account %d bytes, want %d", p.meta.bytes, want)
	}
}

func TestClipText(t *testing.T) {
	long := strings.Repeat("x", maxMetadataText-1) + "é" + "tail" // é straddles the limit
	if got := clipText([]byte(long)); len(got) != maxMetadataText-1 || !utf8.Valid(got) {
		t.Errorf("clipped to %d bytes (valid UTF-8: %v), want %d", len(got), utf8.Valid(got), maxMetadataText-1)
	}
	exact := strings.Repeat("y", maxMetadataText) + "z"
	if got := clipText([]byte(exact)); string(got) != exact[:maxMetadataText] {
		t.Errorf("clipped to %d bytes, want %d", len(got), maxMetadataText)
	}
	if got := clipText([]byte("short")); string(got) != "short" {
		t.Errorf("short text changed to %q", got)
	}
}

// manyHelpLines is n distinct # HELP lines and one sample, about 20 bytes
// a line.
func manyHelpLines(n int) []byte {
	b := make([]byte, 0, n*20)
	for i := range n {
		b = append(b, "# HELP m"...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, " x\n"...)
	}
	return append(b, "m0 1\n"...)
}

// A million distinct # HELP lines (19 MB, under the body limit) parse, and
// the metadata kept stays within its bounds: the byte account holds, and
// the heap retained agrees with the account.
func TestMetadataBounded(t *testing.T) {
	body := manyHelpLines(1_000_000)
	target := labels.FromStrings("job", "j", "instance", "h:1")

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	p := newParser()
	out, err := p.parse(nil, body, textCT, 1, target)
	if err != nil || len(out) != 1 {
		t.Fatalf("%d samples, %v; want the one sample", len(out), err)
	}
	out = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(body) // in both figures, so out of the difference
	retained := int64(after.HeapAlloc) - int64(before.HeapAlloc)

	n := len(p.meta.entries)
	wantN := metadataBytesLimit / (len("m123456") + metaEntryCost + len("x")) // about 61 000
	if n < wantN*9/10 || p.meta.bytes > metadataBytesLimit {
		t.Errorf("%d families, %d bytes accounted; want about %d within %d bytes", n, p.meta.bytes, wantN, metadataBytesLimit)
	}
	if d := p.meta.takeDropped(); d != 1_000_000-n {
		t.Errorf("%d lines counted as dropped, want %d", d, 1_000_000-n)
	}
	t.Logf("%d families kept, %d bytes accounted, heap retained %d bytes (%.0f a family)", n, p.meta.bytes, retained, float64(retained)/float64(n))
	// The account is what the bound is about: the heap must not hold much
	// more than it says (the body and the parse's buffers are garbage now,
	// but the series cache's one entry and the parser are not).
	if !raceEnabled && retained > int64(metadataBytesLimit)*5/4 {
		t.Errorf("heap retained %d bytes for %d bytes of account: metaEntryCost is too low", retained, p.meta.bytes)
	}
	runtime.KeepAlive(p)

	// A lower sample_limit bounds the families too, and a name longer than
	// label_value_length_limit is not kept (no series of it could be).
	p = newParser()
	p.limits.SampleLimit, p.limits.LabelValueLengthLimit = 100, 64
	long := "# HELP " + strings.Repeat("n", 65) + " Too long.\n"
	if _, err := p.parse(nil, append([]byte(long), manyHelpLines(1000)...), textCT, 1, target); err != nil {
		t.Fatal(err)
	}
	if n := len(p.meta.entries); n != 100 {
		t.Errorf("sample_limit 100: %d families kept", n)
	}
	if got := p.meta.list(strings.Repeat("n", 65)); got != nil {
		t.Errorf("a 65-byte name was kept under a 64-byte label value limit")
	}
	if d := p.meta.takeDropped(); d != 1+900 {
		t.Errorf("%d lines dropped, want 901", d)
	}

	// Help text is cut at maxMetadataText.
	p = newParser()
	if _, err := p.parse(nil, []byte("# HELP big "+strings.Repeat("h", 1<<20)+"\nbig 1\n"), textCT, 1, target); err != nil {
		t.Fatal(err)
	}
	if got := p.meta.list("big"); len(got) != 1 || len(got[0].Help) != maxMetadataText {
		t.Errorf("a 1 MiB help kept as %d bytes, want %d", len(got[0].Help), maxMetadataText)
	}
}

// A scrape loop keeps its target's metadata, Manager.Metadata serves it
// with the target's labels while the loop goes on scraping (the race
// detector watches the two), a changed target keeps it, and the families
// refused by the bounds are counted.
func TestManagerMetadata(t *testing.T) {
	var mu sync.Mutex
	help := "Requests."
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := help
		mu.Unlock()
		w.Header().Set("Content-Type", omCT)
		fmt.Fprintf(w, "# TYPE req counter\n# HELP req %s\nreq_total 1\n# TYPE lat_seconds gauge\n# UNIT lat_seconds seconds\nlat_seconds 0.1\n# EOF\n", h)
	}))
	defer srv.Close()
	reg := newTestRegistry()
	// Three families but one sample: with sample_limit 1, one family fits.
	few := textServer(t, func() string { return "# HELP f1 One.\n# HELP f2 Two.\n# HELP f3 Three.\nf1 1\n" })
	tg := Target{Job: "api", URL: srv.URL + "/metrics", Labels: map[string]string{"env": "prod"}}
	m, _ := runManager(t, Options{Registerer: reg}, tg, Target{Job: "few", URL: few.URL, Limits: Limits{SampleLimit: 1}})
	waitFor(t, "metadata", func() bool {
		ts := m.Metadata("")
		return len(ts) == 2 && len(ts[0].Metadata) == 2 && len(ts[1].Metadata) == 1
	})

	ctx, cancel := context.WithCancel(context.Background())
	var readers sync.WaitGroup
	readers.Go(func() {
		for ctx.Err() == nil {
			m.Metadata("")
			m.Metadata("req")
		}
	})
	mu.Lock()
	help = "Requests served."
	mu.Unlock()
	waitFor(t, "the new help", func() bool { l := m.Metadata("req")[0].Metadata; return len(l) == 1 && l[0].Help == "Requests served." })
	cancel()
	readers.Wait()

	got := m.Metadata("")[:1]
	want := []TargetMetadata{{
		Job: "api", ScrapeURL: tg.URL,
		Labels: labels.FromStrings("env", "prod", "instance", strings.TrimPrefix(srv.URL, "http://"), "job", "api"),
		Metadata: []MetricMetadata{
			md("lat_seconds", model.MetricTypeGauge, "", "seconds"),
			md("req", model.MetricTypeCounter, "Requests served.", ""),
		},
	}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Metadata:\n got %v\nwant %v", got, want)
	}

	if got := m.Metadata("")[1]; got.Job != "few" || fmt.Sprint(got.Metadata) != fmt.Sprint([]MetricMetadata{md("f1", model.MetricTypeUnknown, "One.", "")}) {
		t.Errorf("sample_limit 1: %v, want f1 alone", got)
	}
	// Two lines refused per scrape.
	if d := counterValue(t, reg, "archscope_scrape_metadata_dropped_total", "few"); d < 2 || int(d)%2 != 0 {
		t.Errorf("archscope_scrape_metadata_dropped_total{job=\"few\"} = %v, want 2 a scrape", d)
	}

	// A changed target (a new loop) starts with the old one's metadata.
	tg.Interval, tg.Timeout = 150*time.Millisecond, 80*time.Millisecond
	if err := m.SetTargets(SourceStatic, []Target{tg}); err != nil {
		t.Fatal(err)
	}
	if got := m.Metadata(""); len(got) != 1 || len(got[0].Metadata) != 2 {
		t.Fatalf("after the change: %v, want the two families kept", got)
	}
}
