package collectors

import (
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	config_util "github.com/prometheus/common/config"
)

func httpConfig(f func(*config_util.HTTPClientConfig)) *config_util.HTTPClientConfig {
	c := config_util.DefaultHTTPClientConfig
	f(&c)
	return &c
}

// waitHealth waits for every listed job to have been scraped and returns
// their health by job.
func waitHealth(t *testing.T, m *Manager, jobs ...string) map[string]TargetHealth {
	t.Helper()
	out := map[string]TargetHealth{}
	waitFor(t, "every target scraped", func() bool {
		for _, h := range m.Targets() {
			out[h.Job] = h
		}
		for _, j := range jobs {
			if out[j].Health == "" || out[j].Health == HealthUnknown {
				return false
			}
		}
		return true
	})
	return out
}

// basic_auth, authorization (credentials and credentials_file) and
// tls_config (ca_file, insecure_skip_verify) through Prometheus' client.
func TestAuthAndTLS(t *testing.T) {
	dir := t.TempDir()
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		switch {
		case ok && u == "u" && p == "p":
			w.Write([]byte("basic_ok 1\n"))
		case r.Header.Get("Authorization") == "Bearer tok-from-file":
			w.Write([]byte("bearer_ok 1\n"))
		default:
			http.Error(w, "who are you", http.StatusUnauthorized)
		}
	}))
	defer auth.Close()
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("tls_ok 1\n")) }))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tlsSrv.Certificate().Raw}), 0o644)
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("tok-from-file\n"), 0o600)

	m, rec := runManager(t, Options{},
		Target{Job: "basic", URL: auth.URL, HTTP: httpConfig(func(c *config_util.HTTPClientConfig) {
			c.BasicAuth = &config_util.BasicAuth{Username: "u", Password: "p"}
		})},
		Target{Job: "basic-wrong", URL: auth.URL + "/x", HTTP: httpConfig(func(c *config_util.HTTPClientConfig) {
			c.BasicAuth = &config_util.BasicAuth{Username: "u", Password: "nope"}
		})},
		Target{Job: "bearer", URL: auth.URL + "/y", HTTP: httpConfig(func(c *config_util.HTTPClientConfig) {
			c.Authorization = &config_util.Authorization{Type: "Bearer", CredentialsFile: tokenFile}
		})},
		Target{Job: "tls-ca", URL: tlsSrv.URL, HTTP: httpConfig(func(c *config_util.HTTPClientConfig) { c.TLSConfig.CAFile = caFile })},
		Target{Job: "tls-insecure", URL: tlsSrv.URL + "/i", HTTP: httpConfig(func(c *config_util.HTTPClientConfig) { c.TLSConfig.InsecureSkipVerify = true })},
		Target{Job: "tls-unknown-ca", URL: tlsSrv.URL + "/u"},
		Target{Job: "missing-ca", URL: tlsSrv.URL + "/m", HTTP: httpConfig(func(c *config_util.HTTPClientConfig) { c.TLSConfig.CAFile = filepath.Join(dir, "absent.pem") })},
	)
	hs := waitHealth(t, m, "basic", "basic-wrong", "bearer", "tls-ca", "tls-insecure", "tls-unknown-ca", "missing-ca")
	for job, metric := range map[string]string{"basic": "basic_ok", "bearer": "bearer_ok", "tls-ca": "tls_ok", "tls-insecure": "tls_ok"} {
		if h := hs[job]; h.Health != HealthUp {
			t.Errorf("%s: %s %q, want up", job, h.Health, h.LastError)
		}
		if v, ok := value(rec.last(job), metric); !ok || v != 1 {
			t.Errorf("%s: %s not stored", job, metric)
		}
	}
	for job, want := range map[string]string{
		"basic-wrong":    "server returned HTTP status 401",
		"tls-unknown-ca": "certificate signed by unknown authority",
		"missing-ca":     "absent.pem",
	} {
		if h := hs[job]; h.Health != HealthDown || !strings.Contains(h.LastError, want) {
			t.Errorf("%s: %s %q, want down with %q", job, h.Health, h.LastError, want)
		}
	}
}

// honor_labels and honor_timestamps, and each limit failing the scrape
// whole with up = 0 and a lastError that names it.
func TestHonorOptionsAndLimits(t *testing.T) {
	srv := textServer(t, func() string {
		return "m{job=\"inner\",instance=\"x\",a=\"1\",b=\"2\",c=\"3\"} 1 1700000000000\nn 2\nlong{" + strings.Repeat("l", 40) + "=\"v\"} 3\n"
	})
	reg := prometheus.NewPedanticRegistry()
	m, rec := runManager(t, Options{Registerer: reg},
		Target{Job: "default", URL: srv.URL + "/d"},
		Target{Job: "honor", URL: srv.URL + "/h", HonorLabels: true, HonorTimestamps: true},
		Target{Job: "samples", URL: srv.URL + "/s", Limits: Limits{SampleLimit: 2}},
		Target{Job: "labels", URL: srv.URL + "/l", Limits: Limits{LabelLimit: 7}},
		Target{Job: "name", URL: srv.URL + "/n", Limits: Limits{LabelNameLengthLimit: 32}},
		Target{Job: "value", URL: srv.URL + "/v", Limits: Limits{LabelValueLengthLimit: 2}},
		Target{Job: "body", URL: srv.URL + "/b", Limits: Limits{BodySizeLimit: 64}},
		Target{Job: "roomy", URL: srv.URL + "/r", Limits: Limits{SampleLimit: 3, LabelLimit: 8, LabelNameLengthLimit: 40, LabelValueLengthLimit: 20, BodySizeLimit: 1 << 10}},
	)
	hs := waitHealth(t, m, "default", "honor", "samples", "labels", "name", "value", "body", "roomy")

	d := rec.last("default")
	if v, ok := value(d, "m", "job", "default", "exported_job", "inner", "exported_instance", "x"); !ok || v != 1 {
		t.Errorf("without honor_labels, m's clashing labels should be exported_*: %v", d)
	}
	if d[0].T == 1700000000000 {
		t.Error("without honor_timestamps the explicit timestamp was used")
	}
	h := rec.last("honor")
	var found bool
	for _, s := range h {
		if s.Labels.Get("__name__") == "m" {
			found = true
			if s.Labels.Get("job") != "inner" || s.Labels.Get("instance") != "x" || s.T != 1700000000000 {
				t.Errorf("with honor_labels and honor_timestamps, m = %v at %d", s.Labels, s.T)
			}
		}
		if s.Labels.Get("__name__") == "n" && (s.Labels.Get("job") != "honor" || s.T == 1700000000000) {
			t.Errorf("n, without clashing labels or a timestamp: %v at %d", s.Labels, s.T)
		}
	}
	if !found {
		t.Error("honor: m not stored")
	}

	for job, want := range map[string]string{
		"samples": "sample_limit exceeded: more than 2 samples",
		"labels":  "label_limit exceeded: m has 8 labels, limit 7",
		"name":    "label_name_length_limit exceeded",
		"value":   "label_value_length_limit exceeded",
		"body":    "body_size_limit exceeded",
	} {
		hh := hs[job]
		if hh.Health != HealthDown || !strings.Contains(hh.LastError, want) {
			t.Errorf("%s: %s %q, want down with %q", job, hh.Health, hh.LastError, want)
		}
		if n := limitCount(t, reg, job); n < 1 {
			t.Errorf("%s: archscope_scrape_limit_exceeded_total for it = %v, want >= 1", job, n)
		}
		if b := rec.last(job); len(b) != 5 {
			t.Errorf("%s: %d samples stored, want only the 5 of the scrape's own (the scrape is all or nothing)", job, len(b))
		} else if up, _ := value(b, "up"); up != 0 {
			t.Errorf("%s: up = %v, want 0", job, up)
		}
	}
	if hh := hs["roomy"]; hh.Health != HealthUp {
		t.Errorf("roomy: limits at the scrape's size should pass: %s %q", hh.Health, hh.LastError)
	}
}

// Protobuf is asked for first with NativeHistogramProtocols; storage keeps
// floats, so a native histogram arrives as its classic series, and one with
// no classic buckets as its +Inf bucket, _count and _sum.
func TestProtobufNativeHistograms(t *testing.T) {
	reg := prometheus.NewRegistry()
	both := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "both_seconds", Help: "h", Buckets: []float64{0.1, 1}, NativeHistogramBucketFactor: 1.1})
	native := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "native_seconds", Help: "h", NativeHistogramBucketFactor: 1.1})
	reg.MustRegister(both, native)
	for _, v := range []float64{0.05, 0.5, 2} {
		both.Observe(v)
		native.Observe(v)
	}
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
	var mu sync.Mutex
	var ct string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.ServeHTTP(w, r)
		mu.Lock()
		ct = w.Header().Get("Content-Type")
		mu.Unlock()
	}))
	defer srv.Close()
	m, rec := runManager(t, Options{}, Target{Job: "pb", URL: srv.URL, Protocols: NativeHistogramProtocols})
	if h := waitHealth(t, m, "pb")["pb"]; h.Health != HealthUp {
		t.Fatalf("pb: %s %q", h.Health, h.LastError)
	}
	// Three scrapes: the later ones find their labels in the series cache.
	waitFor(t, "three scrapes", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.batches) >= 3
	})
	mu.Lock()
	if !strings.HasPrefix(ct, "application/vnd.google.protobuf") {
		t.Errorf("Content-Type %q, want protobuf", ct)
	}
	mu.Unlock()
	b := rec.last("pb")
	for _, tc := range []struct {
		name string
		kv   []string
		want float64
	}{
		{"both_seconds_bucket", []string{"le", "0.1"}, 1},
		{"both_seconds_bucket", []string{"le", "1.0"}, 2},
		{"both_seconds_bucket", []string{"le", "+Inf"}, 3},
		{"both_seconds_count", nil, 3},
		{"both_seconds_sum", nil, 2.55},
		{"native_seconds_bucket", []string{"le", "+Inf"}, 3},
		{"native_seconds_count", nil, 3},
		{"native_seconds_sum", nil, 2.55},
	} {
		if got, ok := value(b, tc.name, tc.kv...); !ok || got != tc.want {
			t.Errorf("%s%v = %v (found %v), want %v", tc.name, tc.kv, got, ok, tc.want)
		}
	}
}

// limitCount reads archscope_scrape_limit_exceeded_total for a job whose
// name is the start of the limit's ("samples" → sample_limit, "body" →
// body_size_limit, …).
func limitCount(t *testing.T, reg prometheus.Gatherer, job string) float64 {
	t.Helper()
	limit := map[string]string{"samples": "sample_limit", "labels": "label_limit", "name": "label_name_length_limit",
		"value": "label_value_length_limit", "body": "body_size_limit"}[job]
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "archscope_scrape_limit_exceeded_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			if got["job"] == job && got["limit"] == limit {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
