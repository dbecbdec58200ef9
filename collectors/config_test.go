package collectors

import (
	"strings"
	"testing"
	"time"
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
	all := strings.Join(warnings, "\n")
	for _, field := range []string{"global.evaluation_interval", "global.external_labels", "rule_files",
		"scrape_configs[1].honor_labels", "scrape_configs[1].relabel_configs", "scrape_configs[3].kubernetes_sd_configs"} {
		if !strings.Contains(all, field+" is not supported yet") {
			t.Errorf("no warning for %s in:\n%s", field, all)
		}
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
		targets, _, err := ParseConfig(data)
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
