package collectors

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	// Write then rename, as tools that generate file_sd files should, so a
	// poll never reads half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func urls(ts []Target) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.Job+" "+t.URL)
	}
	slices.Sort(s)
	return strings.Join(s, ", ")
}

// file_sd_configs read JSON and YAML files by glob, relative to the config,
// with __meta_filepath for relabel_configs.
func TestFileSDConfigs(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "targets"), 0o755)
	writeFile(t, filepath.Join(dir, "targets", "a.json"), `[{"targets": ["a1:9100", "a2:9100"], "labels": {"team": "pay"}}]`)
	writeFile(t, filepath.Join(dir, "targets", "b.yml"), "- targets: ['b1:9100']\n  labels: {team: shop}\n")
	writeFile(t, filepath.Join(dir, "prometheus.yml"), `scrape_configs:
  - job_name: node
    file_sd_configs:
      - files: ['targets/*.json', 'targets/*.yml']
        refresh_interval: 1m
    relabel_configs:
      - {source_labels: [__meta_filepath], regex: '.*/(.*)\..*', target_label: from}
`)
	targets, warnings, err := LoadConfig(filepath.Join(dir, "prometheus.yml"))
	if err != nil || len(warnings) != 0 {
		t.Fatalf("LoadConfig: %v, warnings %v", err, warnings)
	}
	if got := urls(targets); got != "node http://a1:9100/metrics, node http://a2:9100/metrics, node http://b1:9100/metrics" {
		t.Errorf("targets %s", got)
	}
	for _, tg := range targets {
		want := map[string]string{"a1:9100": "a", "a2:9100": "a", "b1:9100": "b"}[tg.instance()]
		if tg.Labels["from"] != want || tg.Labels["team"] == "" {
			t.Errorf("%s: labels %v, want from=%s and a team", tg.URL, tg.Labels, want)
		}
	}

	// A broken file is a warning for LoadConfig, not the end of the others.
	writeFile(t, filepath.Join(dir, "targets", "a.json"), `[{"targets": ["http://a1:9100/metrics"]}]`)
	targets, warnings, err = LoadConfig(filepath.Join(dir, "prometheus.yml"))
	if err != nil || urls(targets) != "node http://b1:9100/metrics" || len(warnings) != 1 || !strings.Contains(warnings[0], "must be host:port") {
		t.Errorf("with a broken a.json: %s, %v, %v", urls(targets), warnings, err)
	}
}

func TestParseSDFileErrors(t *testing.T) {
	for _, tc := range []struct {
		data   string
		json   bool
		errHas string
	}{
		{`[{"targets": ["h:1"], "lables": {}}]`, true, "lables"},
		{`{"targets": ["h:1"]}`, true, "cannot unmarshal"},
		{"- targets: [h:1]\n  lables: {}\n", false, "lables"},
		{"- targets: ['']\n", false, "must be host:port"},
		{"- targets: [h:1]\n  labels: {'': x}\n", false, "not a valid label name"},
	} {
		if _, err := parseSDFile([]byte(tc.data), tc.json); err == nil || !strings.Contains(err.Error(), tc.errHas) {
			t.Errorf("%q: %v, want an error with %q", tc.data, err, tc.errHas)
		}
	}
	if g, err := parseSDFile([]byte(""), false); err != nil || len(g) != 0 {
		t.Errorf("an empty YAML file: %v %v, want no groups", g, err)
	}
}

// The Reloader follows file_sd files as they change, keeps a broken file's
// previous targets, and keeps the previous config when a reload fails.
func TestReloaderFollowsFilesAndKeepsTheLastGoodConfig(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "prometheus.yml")
	sdFile := filepath.Join(dir, "t.json")
	writeFile(t, sdFile, `[{"targets": ["127.0.0.1:1"]}]`)
	writeFile(t, cfgFile, "global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: a\n    file_sd_configs: [{files: [t.json]}]\n")

	m := NewManager(Options{Appender: &recorder{}})
	r, err := NewReloader(ReloaderOptions{File: cfgFile, Manager: m, PollInterval: 20 * time.Millisecond, Registerer: prometheus.NewPedanticRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { m.Run(ctx, nil) })
	wg.Go(func() { r.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	list := func() string {
		var s []string
		for _, h := range m.Targets() {
			s = append(s, h.Job+" "+h.ScrapeURL)
		}
		return strings.Join(s, ", ")
	}
	if got := list(); got != "a http://127.0.0.1:1/metrics" {
		t.Fatalf("targets %q", got)
	}
	writeFile(t, sdFile, `[{"targets": ["127.0.0.1:1", "127.0.0.1:2"]}]`)
	waitFor(t, "the file_sd change", func() bool { return list() == "a http://127.0.0.1:1/metrics, a http://127.0.0.1:2/metrics" })

	writeFile(t, sdFile, `[{"targets": ["127.0.0.1:3"]`) // truncated JSON
	waitFor(t, "the file_sd error", func() bool { return strings.Contains(r.Status().FileSDError, "t.json") })
	if got := list(); got != "a http://127.0.0.1:1/metrics, a http://127.0.0.1:2/metrics" {
		t.Errorf("a broken file_sd file changed the targets to %q", got)
	}
	time.Sleep(60 * time.Millisecond)
	if r.Status().FileSDError == "" {
		t.Error("the error was forgotten while the file is still broken")
	}

	// A bad config: the reload fails, says why, and changes nothing.
	writeFile(t, cfgFile, "scrape_configs:\n  - job_name: a\n    scrape_interval: 10s\n    scrape_timeout: 20s\n    static_configs: [{targets: ['127.0.0.1:9']}]\n")
	err = r.Reload()
	if err == nil || !strings.Contains(err.Error(), "scrape_timeout 20s exceeds scrape_interval 10s") {
		t.Errorf("Reload of a bad config = %v", err)
	}
	if s := r.Status(); s.Success || !strings.Contains(s.LastError, "scrape_timeout 20s exceeds scrape_interval 10s") {
		t.Errorf("status after a failed reload: %+v", s)
	}
	if got := list(); got != "a http://127.0.0.1:1/metrics, a http://127.0.0.1:2/metrics" {
		t.Errorf("a failed reload changed the targets to %q", got)
	}

	// A good one replaces the file_sd targets with its static ones.
	writeFile(t, cfgFile, "scrape_configs:\n  - job_name: b\n    static_configs: [{targets: ['127.0.0.1:9']}]\n")
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if s := r.Status(); !s.Success || s.LastError != "" || s.LastSuccess.IsZero() {
		t.Errorf("status after a good reload: %+v", s)
	}
	if got := list(); got != "b http://127.0.0.1:9/metrics" {
		t.Errorf("after reload, targets %q", got)
	}
}
