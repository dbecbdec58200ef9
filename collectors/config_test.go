package collectors

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

func TestLoadConfigReadsAPrometheusYml(t *testing.T) {
	targets, warnings, err := LoadConfig("testdata/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		job, url          string
		interval, timeout time.Duration
		env               string
	}
	wants := []want{
		{"prometheus", "http://localhost:9090/metrics", 15 * time.Second, 10 * time.Second, ""},
		{"node", "http://10.0.0.1:9100/metrics", 5 * time.Second, 2 * time.Second, "prod"},
		{"node", "http://10.0.0.2:9100/metrics", 5 * time.Second, 2 * time.Second, "prod"},
		{"blackbox", "https://probe.internal:9115/probe?module=http_2xx", 15 * time.Second, 10 * time.Second, ""},
	}
	if len(targets) != len(wants) {
		t.Fatalf("%d targets, want %d: %+v", len(targets), len(wants), targets)
	}
	for i, w := range wants {
		g := targets[i]
		if g.Job != w.job || g.URL != w.url || g.Interval != w.interval || g.Timeout != w.timeout || g.Labels["env"] != w.env {
			t.Errorf("target %d = %+v, want %+v", i, g, w)
		}
	}
	// relabel_configs copied __address__ into host.
	if h := targets[2].Labels["host"]; h != "10.0.0.2:9100" {
		t.Errorf("node target's host label %q, want its address from relabel_configs", h)
	}
	all := strings.Join(warnings, "\n")
	for _, field := range []string{"global.evaluation_interval", "global.external_labels", "rule_files",
		"scrape_configs[1].track_timestamps_staleness", "scrape_configs[3].kubernetes_sd_configs"} {
		if !strings.Contains(all, field+" is not supported yet") {
			t.Errorf("no warning for %s in:\n%s", field, all)
		}
	}
	if strings.Contains(all, "honor_labels") || !targets[1].HonorLabels {
		t.Errorf("honor_labels: warned about or not applied (%v):\n%s", targets[1].HonorLabels, all)
	}
	if !strings.Contains(all, "line ") {
		t.Errorf("warnings do not say where: %s", all)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct{ yml, want string }{
		{"scrape_configs:\n  - job_name: a\n    scrape_interval: 10s\n    scrape_timeout: 20s\n    static_configs: [{targets: ['h:1']}]\n",
			`scrape_configs[0] (job "a"): scrape_timeout 20s exceeds scrape_interval 10s`},
		{"global: {scrape_interval: 5s, scrape_timeout: 6s}\n", "global: scrape_timeout 6s exceeds scrape_interval 5s"},
		{"scrape_configs:\n  - job_name: a\n    scrape_interval: soon\n", "soon"},
		{"scrape_configs:\n  - {job_name: a, static_configs: [{targets: ['h:1']}]}\n  - {job_name: a, static_configs: [{targets: ['h:2']}]}\n", "job_name is used twice"},
		{"scrape_configs:\n  - {job_name: a, static_configs: [{targets: ['http://h:1/metrics']}]}\n", "must be host:port"},
		{"scrape_configs:\n  - {static_configs: [{targets: ['h:1']}]}\n", "job_name is empty"},
		{"scrape_configs: [\n", "yaml"},
	} {
		_, _, err := ParseConfig([]byte(tc.yml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.yml, err, tc.want)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("scrape_configs:\n  - {job_name: a, static_configs: [{targets: ['h:1']}]}\n"))
	f.Add([]byte("global: {scrape_interval: 5s}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// parseConfig and targets without file_sd files: a fuzzed glob
		// must not wander the disk.
		cfg, _, err := parseConfig(data, "")
		if err != nil {
			return
		}
		targets, err := cfg.targets(newFileSD())
		if err != nil {
			return
		}
		for _, tg := range targets {
			if _, err := tg.withDefaults(); err != nil {
				t.Fatalf("ParseConfig returned a target Run would refuse: %+v: %v", tg, err)
			}
		}
	})
}

// TestMetricRelabelConfigs: a prometheus.yml's metric_relabel_configs reach
// the target and act on scraped series as in Prometheus: here dropping the
// go_* series and renaming a label, with the before and after counts.
func TestMetricRelabelConfigs(t *testing.T) {
	targets, _, err := LoadConfig("testdata/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(targets[1].MetricRelabel); targets[1].Job != "node" || n != 1 {
		t.Fatalf("node target has %d metric relabel configs, want 1", n)
	}
	more, _, err := ParseConfig([]byte(`scrape_configs:
  - job_name: a
    static_configs: [{targets: ['h:1']}]
    metric_relabel_configs:
      - {source_labels: [__name__], regex: 'go_.*', action: drop}
      - {source_labels: [code], target_label: status}
      - {regex: code, action: labeldrop}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := newParser()
	p.relabel = more[0].MetricRelabel
	body := "go_goroutines 12\ngo_threads 7\nhttp_requests_total{code=\"200\"} 5\n"
	out, err := p.parse(nil, []byte(body), "text/plain; version=0.0.4", 1000, labels.FromStrings("job", "a", "instance", "h:1"))
	if err != nil {
		t.Fatal(err)
	}
	if p.seen != 3 || len(out) != 1 {
		t.Fatalf("%d series seen, %d kept; want 3 and 1 (the go_* dropped)", p.seen, len(out))
	}
	if l := out[0].Labels; l.Get("status") != "200" || l.Has("code") || l.Get("__name__") != "http_requests_total" {
		t.Errorf("relabelled series %v, want status=\"200\" and no code label", l)
	}
	if _, _, err := ParseConfig([]byte("scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['h:1']}]\n    metric_relabel_configs: [{action: replace}]\n")); err == nil || !strings.Contains(err.Error(), "metric_relabel_configs[0]") {
		t.Errorf("a replace without target_label: %v, want an error naming metric_relabel_configs[0]", err)
	}
}

// TestRelabelConfigsShapeTargets: relabel_configs act on the labels
// Prometheus gives a target: drop one by address, rename the instance, move
// the metrics path and set a URL parameter.
func TestRelabelConfigsShapeTargets(t *testing.T) {
	targets, _, err := ParseConfig([]byte(`scrape_configs:
  - job_name: web
    static_configs: [{targets: ['a:80', 'b:80', 'skip:80'], labels: {team: shop}}]
    relabel_configs:
      - {source_labels: [__address__], regex: 'skip:.*', action: drop}
      - {source_labels: [__address__], regex: '(.*):80', target_label: instance, replacement: '${1}.internal'}
      - {target_label: __metrics_path__, replacement: /stats}
      - {target_label: __param_format, replacement: prometheus}
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 2 {
		t.Fatalf("%d targets, want 2 (skip:80 dropped): %+v", len(targets), targets)
	}
	for i, want := range []struct{ url, instance string }{
		{"http://a:80/stats?format=prometheus", "a.internal"},
		{"http://b:80/stats?format=prometheus", "b.internal"},
	} {
		g := targets[i]
		if g.URL != want.url || g.instance() != want.instance || g.Labels["team"] != "shop" || g.Job != "web" {
			t.Errorf("target %d: %+v (instance %q), want %s as %s with team=shop", i, g, g.instance(), want.url, want.instance)
		}
		if _, err := g.withDefaults(); err != nil {
			t.Errorf("target %d would be refused by Run: %v", i, err)
		}
	}
}

// Per-job options reach the targets with Prometheus' meanings; relative
// file names are relative to the config file.
func TestPerJobOptions(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/prometheus.yml"
	writeFile(t, file, `scrape_configs:
  - job_name: full
    honor_labels: true
    honor_timestamps: true
    sample_limit: 1000
    label_limit: 30
    label_name_length_limit: 100
    label_value_length_limit: 200
    body_size_limit: 10MB
    scrape_protocols: [PrometheusProto, PrometheusText0.0.4]
    basic_auth: {username: u, password: p}
    tls_config: {ca_file: ca.pem, insecure_skip_verify: false}
    static_configs: [{targets: ['h:1']}]
  - job_name: bearer
    authorization: {credentials_file: token.txt}
    static_configs: [{targets: ['h:2']}]
  - job_name: plain
    static_configs: [{targets: ['h:3']}]
`)
	targets, warnings, err := LoadConfig(file)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("LoadConfig: %v %v", err, warnings)
	}
	full, bearer, plain := targets[0], targets[1], targets[2]
	if !full.HonorLabels || !full.HonorTimestamps || plain.HonorLabels || plain.HonorTimestamps {
		t.Errorf("honor_labels/honor_timestamps: full %v %v, plain %v %v", full.HonorLabels, full.HonorTimestamps, plain.HonorLabels, plain.HonorTimestamps)
	}
	if want := (Limits{SampleLimit: 1000, LabelLimit: 30, LabelNameLengthLimit: 100, LabelValueLengthLimit: 200, BodySizeLimit: 10 << 20}); full.Limits != want {
		t.Errorf("limits %+v, want %+v", full.Limits, want)
	}
	if strings.Join(full.Protocols, ",") != "PrometheusProto,PrometheusText0.0.4" {
		t.Errorf("protocols %v", full.Protocols)
	}
	if full.HTTP == nil || full.HTTP.BasicAuth == nil || full.HTTP.BasicAuth.Username != "u" || full.HTTP.TLSConfig.CAFile != dir+"/ca.pem" || !full.HTTP.FollowRedirects {
		t.Errorf("full's HTTP config %+v", full.HTTP)
	}
	if bearer.HTTP == nil || bearer.HTTP.Authorization == nil || bearer.HTTP.Authorization.Type != "Bearer" || bearer.HTTP.Authorization.CredentialsFile != dir+"/token.txt" {
		t.Errorf("bearer's HTTP config %+v", bearer.HTTP)
	}
	if plain.HTTP != nil {
		t.Errorf("plain job got an HTTP config %+v; it shares the Manager's client", plain.HTTP)
	}
}

func TestNewConfigFieldErrors(t *testing.T) {
	job := "scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['h:1']}]\n"
	for _, tc := range []struct{ extra, want string }{
		{"    sample_limit: -1\n", "sample_limit -1 must not be negative"},
		{"    body_size_limit: lots\n", `body_size_limit "lots"`},
		{"    body_size_limit: 10XB\n", `body_size_limit "10XB"`},
		{"    scrape_protocols: [Gopher]\n", `scrape_protocols: unknown protocol "Gopher"`},
		{"    authorization: {credentials: x, credentials_file: y}\n", "credentials & credentials_file"},
		{"    basic_auth: {username: u}\n    authorization: {credentials: x}\n", "at most one of basic_auth"},
		{"    file_sd_configs: [{files: []}]\n", "file_sd_configs[0]: files is empty"},
		{"    file_sd_configs: [{files: [targets.txt]}]\n", "must end in .json, .yml or .yaml"},
		{"    honor_labels: maybe\n", "maybe"},
	} {
		_, _, err := ParseConfig([]byte(job + tc.extra))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.extra, err, tc.want)
		}
		if err != nil && !strings.Contains(tc.want, "body_size_limit") && !strings.Contains(tc.want, "maybe") && !strings.Contains(err.Error(), `scrape_configs[0] (job "a")`) {
			t.Errorf("%q: %v does not name the job", tc.extra, err)
		}
	}
}

func FuzzParseSDFile(f *testing.F) {
	f.Add([]byte(`[{"targets": ["h:1"], "labels": {"env": "prod"}}]`), true)
	f.Add([]byte("- targets: ['h:1', 'h:2']\n  labels: {team: shop}\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, isJSON bool) {
		groups, err := parseSDFile(data, isJSON)
		if err != nil {
			return
		}
		for _, g := range groups {
			if err := g.check(); err != nil {
				t.Fatalf("parseSDFile returned a group it should have refused: %+v: %v", g, err)
			}
		}
	})
}

// Targets relabel_configs drop are listed with their discovered labels, as
// Prometheus' droppedTargets.
func TestDroppedTargets(t *testing.T) {
	cfg, _, err := parseConfig([]byte(`scrape_configs:
  - job_name: web
    params: {format: [prom]}
    static_configs: [{targets: ['a:80', 'skip:80'], labels: {team: shop}}]
    relabel_configs: [{source_labels: [__address__], regex: 'skip:.*', action: drop}]
`), "")
	if err != nil {
		t.Fatal(err)
	}
	targets, dropped, err := cfg.discover(newFileSD())
	if err != nil || len(targets) != 1 || len(dropped) != 1 {
		t.Fatalf("%d targets, %d dropped, %v; want 1 and 1", len(targets), len(dropped), err)
	}
	d := dropped[0]
	want := map[string]string{"__address__": "skip:80", "__scheme__": "http", "__metrics_path__": "/metrics", "__param_format": "prom", "job": "web", "team": "shop"}
	if d.Job != "web" || !maps.Equal(d.DiscoveredLabels, want) {
		t.Errorf("dropped %+v, want job web with %v", d, want)
	}
}
