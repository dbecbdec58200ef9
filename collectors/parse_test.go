package collectors

import (
	"bytes"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/archscope/archscope/storage"
)

const (
	textCT = "text/plain; version=0.0.4; charset=utf-8"
	omCT   = "application/openmetrics-text; version=1.0.0; charset=utf-8"
)

func TestParse(t *testing.T) {
	target := labels.FromStrings("job", "shop", "instance", "127.0.0.1:9", "env", "test")
	for _, tc := range []struct {
		name, ct, body string
		want           []string // series as labels.String(), in exposition order; nil with wantErr
		wantV          []float64
		wantErr        string
	}{
		{
			name: "text counter and gauge",
			ct:   textCT,
			body: "# TYPE a_total counter\na_total{code=\"200\"} 3\nb 2.5\n",
			want: []string{
				`{__name__="a_total", code="200", env="test", instance="127.0.0.1:9", job="shop"}`,
				`{__name__="b", env="test", instance="127.0.0.1:9", job="shop"}`,
			},
			wantV: []float64{3, 2.5},
		},
		{
			name: "classic histogram becomes bucket, sum and count series",
			ct:   textCT,
			body: "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 4\nh_sum 1.5\nh_count 4\n",
			want: []string{
				`{__name__="h_bucket", env="test", instance="127.0.0.1:9", job="shop", le="0.1"}`,
				`{__name__="h_bucket", env="test", instance="127.0.0.1:9", job="shop", le="+Inf"}`,
				`{__name__="h_sum", env="test", instance="127.0.0.1:9", job="shop"}`,
				`{__name__="h_count", env="test", instance="127.0.0.1:9", job="shop"}`,
			},
			wantV: []float64{1, 4, 1.5, 4},
		},
		{
			name: "summary quantiles",
			ct:   textCT,
			body: "# TYPE s summary\ns{quantile=\"0.5\"} 0.2\ns_sum 3\ns_count 9\n",
			want: []string{
				`{__name__="s", env="test", instance="127.0.0.1:9", job="shop", quantile="0.5"}`,
				`{__name__="s_sum", env="test", instance="127.0.0.1:9", job="shop"}`,
				`{__name__="s_count", env="test", instance="127.0.0.1:9", job="shop"}`,
			},
			wantV: []float64{0.2, 3, 9},
		},
		{
			name: "target labels win, scraped ones kept as exported_",
			ct:   textCT,
			body: "x{job=\"inner\",instance=\"pod-1\",env=\"prod\",zone=\"a\"} 1\n",
			want: []string{
				`{__name__="x", env="test", exported_env="prod", exported_instance="pod-1", exported_job="inner", instance="127.0.0.1:9", job="shop", zone="a"}`,
			},
			wantV: []float64{1},
		},
		{
			name:  "explicit timestamps are ignored",
			ct:    textCT,
			body:  "x 1 1600000000000\n",
			want:  []string{`{__name__="x", env="test", instance="127.0.0.1:9", job="shop"}`},
			wantV: []float64{1},
		},
		{
			name:  "special values",
			ct:    textCT,
			body:  "x +Inf\ny -Inf\n",
			want:  []string{`{__name__="x", env="test", instance="127.0.0.1:9", job="shop"}`, `{__name__="y", env="test", instance="127.0.0.1:9", job="shop"}`},
			wantV: []float64{math.Inf(1), math.Inf(-1)},
		},
		{
			name: "openmetrics with exemplar and _created",
			ct:   omCT,
			body: "# TYPE o counter\no_total 2 # {trace_id=\"a\"} 1 1.5\no_created 1.7e9\n# EOF\n",
			want: []string{
				`{__name__="o_total", env="test", instance="127.0.0.1:9", job="shop"}`,
				`{__name__="o_created", env="test", instance="127.0.0.1:9", job="shop"}`,
			},
			wantV: []float64{2, 1.7e9},
		},
		{
			name:  "no content type falls back to the text format",
			ct:    "",
			body:  "x 1\n",
			want:  []string{`{__name__="x", env="test", instance="127.0.0.1:9", job="shop"}`},
			wantV: []float64{1},
		},
		{name: "openmetrics without EOF", ct: omCT, body: "x 1\n", wantErr: "EOF"},
		{name: "exemplar is not text format", ct: textCT, body: "ok 1\no_total 2 # {trace_id=\"a\"} 1\n", wantErr: "parse"},
		{name: "garbage after good lines drops them all", ct: textCT, body: "good 1\nthis is { not valid\n", wantErr: "parse"},
		{name: "empty body", ct: textCT, body: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newParser()
			prefix := []storage.Sample{{T: 1}} // parse appends; it must not touch what was there
			out, err := p.parse(prefix, []byte(tc.body), tc.ct, 1234, target)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				if len(out) != 1 {
					t.Fatalf("a failed parse left %d samples, want only the 1 that was there (all or nothing)", len(out))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := out[1:]
			if len(got) != len(tc.want) {
				t.Fatalf("got %d samples %v, want %d", len(got), got, len(tc.want))
			}
			for i, s := range got {
				if s.Labels.String() != tc.want[i] || s.V != tc.wantV[i] || s.T != 1234 {
					t.Errorf("sample %d = %s %v @%d, want %s %v @1234", i, s.Labels, s.V, s.T, tc.want[i], tc.wantV[i])
				}
			}
		})
	}
}

// A parser is reused across scrapes; samples from an earlier scrape must not
// change when the next one is parsed.
func TestParseReuseKeepsEarlierSamples(t *testing.T) {
	p := newParser()
	target := labels.FromStrings("job", "j", "instance", "h:1")
	first, err := p.parse(nil, []byte("a{x=\"1\"} 1\n"), textCT, 1, target)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.parse(nil, []byte("b{y=\"2\"} 2\n"), textCT, 2, target); err != nil {
		t.Fatal(err)
	}
	if got := first[0].Labels.String(); got != `{__name__="a", instance="h:1", job="j", x="1"}` {
		t.Errorf("first scrape's labels became %s", got)
	}
}

func FuzzParseExposition(f *testing.F) {
	for _, name := range []string{"testdata/shop.prom", "testdata/openmetrics.txt", "testdata/broken.prom"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, textCT)
		f.Add(b, omCT)
	}
	f.Add(protobufBody(f), string(expfmt.NewFormat(expfmt.TypeProtoDelim)))
	target := labels.FromStrings("job", "fuzz", "instance", "x:1")
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		p := newParser()
		out, err := p.parse(nil, body, ct, 1000, target)
		if err != nil && len(out) != 0 {
			t.Fatalf("a failed parse returned %d samples; a scrape is all or nothing", len(out))
		}
		for _, s := range out {
			if s.Labels.Get("job") != "fuzz" || s.Labels.Get("instance") != "x:1" || s.T != 1000 {
				t.Fatalf("sample lost its target labels or timestamp: %v %d", s.Labels, s.T)
			}
			if s.Labels.Get("__name__") == "" {
				t.Fatalf("sample without a metric name: %v", s.Labels)
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	body, err := os.ReadFile("testdata/shop.prom")
	if err != nil {
		b.Fatal(err)
	}
	p := newParser()
	target := labels.FromStrings("job", "demo", "instance", "127.0.0.1:7777")
	var out []storage.Sample
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		out, err = p.parse(out[:0], body, textCT, 1000, target)
		if err != nil {
			b.Fatal(err)
		}
		n += len(out)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(len(out)), "samples/scrape")
}

// The series cache: a series seen again reuses its labels, one that went is
// forgotten after a good parse, and a failed parse leaves no junk behind.
func TestParseSeriesCache(t *testing.T) {
	p := newParser()
	target := labels.FromStrings("job", "j", "instance", "h:1")
	out, err := p.parse(nil, []byte("a 1\nb 2\n"), textCT, 1, target)
	if err != nil || len(out) != 2 || len(p.cache) != 2 {
		t.Fatalf("first parse: %d samples, %d cached, %v", len(out), len(p.cache), err)
	}
	out2, err := p.parse(nil, []byte("a 3\nc 4\n"), textCT, 2, target)
	if err != nil || len(out2) != 2 || out2[0].V != 3 || out2[0].Labels.String() != out[0].Labels.String() {
		t.Fatalf("second parse: %v %v", out2, err)
	}
	if _, ok := p.cache["b"]; ok || len(p.cache) != 2 {
		t.Errorf("after b went, cache has %d entries (b kept: %v)", len(p.cache), ok)
	}
	if _, err := p.parse(nil, []byte("a 5\nnew_one 6\nbroken {\n"), textCT, 3, target); err == nil {
		t.Fatal("a broken body parsed")
	}
	if _, ok := p.cache["new_one"]; ok || len(p.cache) != 2 {
		t.Errorf("a failed parse left %d entries (new_one kept: %v)", len(p.cache), ok)
	}
	// Another target's labels invalidate the cache.
	other := labels.FromStrings("job", "k", "instance", "h:2")
	out3, _ := p.parse(nil, []byte("a 1\n"), textCT, 4, other)
	if out3[0].Labels.Get("job") != "k" {
		t.Errorf("with another target, a = %v", out3[0].Labels)
	}
}

// protobufBody is a client_golang registry's delimited protobuf exposition,
// with a classic and native histogram, a native-only one and a counter.
func protobufBody(tb testing.TB) []byte {
	reg := prometheus.NewRegistry()
	both := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "both_seconds", Help: "h", Buckets: []float64{0.1, 1}, NativeHistogramBucketFactor: 1.1})
	native := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "native_seconds", Help: "h", NativeHistogramBucketFactor: 1.1})
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total", Help: "h"}, []string{"code"})
	reg.MustRegister(both, native, c)
	both.Observe(0.5)
	native.Observe(0.5)
	c.WithLabelValues("200").Inc()
	return protobufOf(tb, reg)
}

// protobufOf is what reg gathers, as a delimited protobuf exposition.
func protobufOf(tb testing.TB, reg *prometheus.Registry) []byte {
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeProtoDelim))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			tb.Fatal(err)
		}
	}
	return buf.Bytes()
}
