package app

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func send(t *testing.T, method, u, body, token string) (int, promResponse) {
	t.Helper()
	code, b := call(t, method, u, body, token)
	var out promResponse
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s %s: decode: %v", method, u, err)
	}
	return code, out
}

func listTargets(t *testing.T, base string) []targetJSON {
	t.Helper()
	_, pr := get(t, base+"/api/v1/targets")
	var d struct {
		ActiveTargets []targetJSON `json:"activeTargets"`
	}
	if err := json.Unmarshal(pr.Data, &d); err != nil {
		t.Fatal(err)
	}
	return d.ActiveTargets
}

func findTarget(ts []targetJSON, job string) *targetJSON {
	for i := range ts {
		if ts[i].ScrapePool == job {
			return &ts[i]
		}
	}
	return nil
}

// POST and DELETE /api/v1/targets add and remove targets while archscope
// runs, behind the token, with 400s that name the field.
func TestTargetsAPIAddsAndDeletes(t *testing.T) {
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "team_queue_depth 7\n")
	}))
	defer exporter.Close()
	a := run(t, Options{Token: "s3cret", ScrapeInterval: 200 * time.Millisecond})
	base := a.URL()
	add := `{"job":"team","url":"` + exporter.URL + `/metrics","labels":{"env":"prod"},"interval":"200ms"}`

	if code, pr := send(t, "POST", base+"/api/v1/targets", add, ""); code != 401 {
		t.Errorf("POST without the token: %d %s", code, pr.Error)
	}
	for _, tc := range []struct{ body, field string }{
		{`{"url":"http://127.0.0.1:1/metrics"}`, "job: required"},
		{`{"job":"x"}`, "url: required"},
		{`{"job":"x","url":"ftp://h/m"}`, "url: "},
		{`{"job":"x","url":"http://127.0.0.1:1/m","interval":"soon"}`, "interval: "},
		{`{"job":"x","url":"http://127.0.0.1:1/m","interval":"10s","timeout":"20s"}`, "scrape_timeout 20s exceeds scrape_interval 10s"},
		{`{"job":"x","url":"http://127.0.0.1:1/m","labels":{"instance":"y"}}`, `labels: "instance"`},
		{`{"job":"x","url":"http://127.0.0.1:1/m","labels":{"":"y"}}`, `labels: ""`},
		{`{"job":"x","url":"http://127.0.0.1:1/m","color":"red"}`, `unknown field "color"`},
	} {
		code, pr := send(t, "POST", base+"/api/v1/targets", tc.body, "s3cret")
		if code != 400 || !strings.Contains(pr.Error, tc.field) {
			t.Errorf("POST %s: %d %q, want 400 naming %q", tc.body, code, pr.Error, tc.field)
		}
	}
	code, pr := send(t, "POST", base+"/api/v1/targets", add, "s3cret")
	if code != 200 {
		t.Fatalf("POST: %d %s", code, pr.Error)
	}
	if code, pr := send(t, "POST", base+"/api/v1/targets", add, "s3cret"); code != 409 || !strings.Contains(pr.Error, "duplicate target") {
		t.Errorf("POST twice: %d %q, want 409", code, pr.Error)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if tg := findTarget(listTargets(t, base), "team"); tg != nil && tg.Health == "up" {
			if tg.Source != "api" || tg.Labels["env"] != "prod" || tg.ScrapeInterval != "200ms" {
				t.Errorf("added target listed as %+v", tg)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the added target was never scraped up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, pr := get(t, base+"/api/v1/query?query=team_queue_depth"); code != 200 || !strings.Contains(string(pr.Data), `"7"`) {
		t.Errorf("query after adding: %d %s", code, pr.Data)
	}

	// The demo is protected: refused without force=true.
	demo := findTarget(listTargets(t, base), "demo")
	if demo == nil || demo.Source != "demo" {
		t.Fatalf("demo target %+v", demo)
	}
	del := base + "/api/v1/targets?scrapeUrl=" + url.QueryEscape(demo.ScrapeURL)
	if code, pr := send(t, "DELETE", del, "", "s3cret"); code != 409 || !strings.Contains(pr.Error, "force=true") {
		t.Errorf("DELETE demo: %d %q, want 409 asking for force=true", code, pr.Error)
	}
	if code, _ := send(t, "DELETE", base+"/api/v1/targets?job=team&instance="+url.QueryEscape(strings.TrimPrefix(exporter.URL, "http://")), "", ""); code != 401 {
		t.Errorf("DELETE without the token: %d", code)
	}
	if code, pr := send(t, "DELETE", base+"/api/v1/targets?job=team", "", "s3cret"); code != 400 || !strings.Contains(pr.Error, "scrapeUrl") {
		t.Errorf("DELETE with job only: %d %q, want 400 saying how to name a target", code, pr.Error)
	}
	if code, pr := send(t, "DELETE", base+"/api/v1/targets?job=team&instance="+url.QueryEscape(strings.TrimPrefix(exporter.URL, "http://")), "", "s3cret"); code != 200 {
		t.Errorf("DELETE team: %d %q", code, pr.Error)
	}
	if code, _ := send(t, "DELETE", base+"/api/v1/targets?job=team&instance=nowhere:1", "", "s3cret"); code != 404 {
		t.Errorf("DELETE of a missing target: %d, want 404", code)
	}
	if code, pr := send(t, "DELETE", del+"&force=true", "", "s3cret"); code != 200 {
		t.Errorf("DELETE demo with force=true: %d %q", code, pr.Error)
	}
	if ts := listTargets(t, base); len(ts) != 0 {
		t.Errorf("after deleting both, targets %+v", ts)
	}
	// Deleted means stale: the series leaves instant queries at once.
	if _, pr := get(t, base+"/api/v1/query?query=team_queue_depth"); strings.Contains(string(pr.Data), `"7"`) {
		t.Errorf("team_queue_depth still answered after its target was deleted: %s", pr.Data)
	}
}

// POST /-/reload re-reads --config: a bad file answers 500 with the reason
// and keeps the previous targets; runtimeinfo shows the outcome. The
// config's file_sd files are followed without a reload.
func TestReloadKeepsTheLastGoodConfig(t *testing.T) {
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "team_queue_depth 7\n")
	}))
	defer exporter.Close()
	host := strings.TrimPrefix(exporter.URL, "http://")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(name+".tmp", []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(name+".tmp", name); err != nil {
			t.Fatal(err)
		}
	}
	write(cfg, "global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: one\n    static_configs: [{targets: ['"+host+"']}]\n")
	a := run(t, Options{NoDemo: true, Token: "s3cret", ConfigFile: cfg, FileSDPoll: 50 * time.Millisecond})
	base := a.URL()
	pools := func() string {
		var s []string
		for _, tg := range listTargets(t, base) {
			s = append(s, tg.Source+":"+tg.ScrapePool)
		}
		return strings.Join(s, " ")
	}
	if got := pools(); got != "config:one" {
		t.Fatalf("targets %q", got)
	}

	write(cfg, "scrape_configs:\n  - job_name: two\n    scrape_interval: 10s\n    scrape_timeout: 20s\n    static_configs: [{targets: ['"+host+"']}]\n")
	if code, _ := send(t, "POST", base+"/-/reload", "", ""); code != 401 {
		t.Errorf("reload without the token: %d", code)
	}
	code, pr := send(t, "POST", base+"/-/reload", "", "s3cret")
	if code != 500 || !strings.Contains(pr.Error, "scrape_timeout 20s exceeds scrape_interval 10s") {
		t.Errorf("reload of a bad config: %d %q", code, pr.Error)
	}
	if got := pools(); got != "config:one" {
		t.Errorf("after a failed reload, targets %q", got)
	}
	_, pr = get(t, base+"/api/v1/status/runtimeinfo")
	var info runtimeInfoJSON
	json.Unmarshal(pr.Data, &info)
	if info.ReloadConfigSuccess || !strings.Contains(info.LastConfigError, "scrape_timeout 20s") || info.LastConfigTime.IsZero() {
		t.Errorf("runtimeinfo after a failed reload: %+v", info)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "\narchscope_config_last_reload_successful 0\n") {
		t.Error("/metrics does not say the last reload failed")
	}

	write(filepath.Join(dir, "sd.yml"), "- targets: ['"+host+"']\n  labels: {env: prod}\n")
	write(cfg, "scrape_configs:\n  - job_name: two\n    scrape_interval: 1s\n    file_sd_configs: [{files: [sd.yml]}]\n"+
		"    relabel_configs: [{source_labels: [__address__], regex: '127.0.0.1:9', action: drop}]\n")
	if code, pr := send(t, "POST", base+"/-/reload", "", "s3cret"); code != 200 {
		t.Fatalf("reload of a good config: %d %q", code, pr.Error)
	}
	if got := pools(); got != "config:two" {
		t.Errorf("after reload, targets %q", got)
	}
	write(filepath.Join(dir, "sd.yml"), "- targets: ['"+host+"']\n  labels: {env: prod}\n- targets: ['127.0.0.1:1', '127.0.0.1:9']\n")
	deadline := time.Now().Add(5 * time.Second)
	for len(listTargets(t, base)) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the file_sd change never showed: %q", pools())
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, pr = get(t, base+"/api/v1/targets")
	if !strings.Contains(string(pr.Data), `"droppedTargets":[{"discoveredLabels":{"__address__":"127.0.0.1:9"`) {
		t.Errorf("127.0.0.1:9, dropped by relabel_configs, is not in droppedTargets: %s", pr.Data)
	}
	_, pr = get(t, base+"/api/v1/status/runtimeinfo")
	json.Unmarshal(pr.Data, &info)
	if !info.ReloadConfigSuccess || info.LastConfigError != "" {
		t.Errorf("runtimeinfo after a good reload: %+v", info)
	}
	// Config targets are not the API's to delete.
	if code, pr := send(t, "DELETE", base+"/api/v1/targets?job=two&instance=127.0.0.1:1", "", "s3cret"); code != 409 || !strings.Contains(pr.Error, "config file") {
		t.Errorf("DELETE of a config target: %d %q", code, pr.Error)
	}
}
