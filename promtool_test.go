package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPromtoolQueriesArchscope points Prometheus' own client, promtool (from
// Debian's prometheus package), at archscope's /api/v1: whatever promtool can
// parse, Grafana's Prometheus data source can too.
func TestPromtoolQueriesArchscope(t *testing.T) {
	promtool := needTool(t, "promtool")
	a := startApp(t, t.TempDir())
	waitDemoUp(t, a.URL(), 30*time.Second)
	time.Sleep(2 * time.Second) // a few scrapes, so rate() has points

	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(promtool, append([]string{"query"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool query %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	now := time.Now()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"instant", a.URL(), `up{job="demo"}`}, []string{`up{instance=`, `job="demo"} => 1 @[`}},
		{[]string{"instant", a.URL(), `count(shop_requests_total) > 0`}, []string{"=> "}},
		{[]string{"range", "--start=" + now.Add(-time.Minute).Format(time.RFC3339), "--end=" + now.Format(time.RFC3339), "--step=1s",
			a.URL(), `sum(rate(shop_requests_total{service="gateway"}[5s]))`}, []string{"{} =>", " @["}},
		{[]string{"series", "--match=up", a.URL()}, []string{`__name__="up"`, `job="demo"`}},
		{[]string{"labels", a.URL(), "service"}, []string{"gateway", "product", "db"}},
	} {
		out := run(tc.args...)
		t.Logf("promtool query %s → %.200s", tc.args[0], out)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("promtool query %s:\n%s\nwant it to contain %q", tc.args[0], out, w)
			}
		}
	}
}

// TestPromtoolChecksShopMetrics lints the demo shop's exposition with
// promtool check metrics: names, units, suffixes and help as Prometheus'
// conventions want them.
func TestPromtoolChecksShopMetrics(t *testing.T) {
	promtool := needTool(t, "promtool")
	a := startApp(t, t.TempDir())
	resp, err := http.Get(a.URL() + "/demo/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !bytes.Contains(body, []byte("shop_requests_total")) {
		t.Fatalf("/demo/metrics: %d %v\n%.300s", resp.StatusCode, err, body)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestMetadataMatchesPrometheus runs a real Prometheus (Debian's, the
// package that brings promtool) scraping the demo shop beside archscope,
// which scrapes it too, and compares what the two serve: metric metadata
// (deduplicated per family, and per target), and the answers to malformed
// or selector-less requests. promtool has no metadata command, and Grafana
// reads these endpoints, so the reference is Prometheus itself.
func TestMetadataMatchesPrometheus(t *testing.T) {
	prometheus := needTool(t, "prometheus")
	a := startApp(t, t.TempDir())
	waitDemoUp(t, a.URL(), 30*time.Second)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	promAddr := ln.Addr().String()
	ln.Close() // Prometheus takes the port; another process grabbing it first would fail the start below
	dir := t.TempDir()
	cfg := fmt.Sprintf("global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: demo\n    metrics_path: /demo/metrics\n"+
		"    static_configs: [{targets: ['%s']}]\n", strings.TrimPrefix(a.URL(), "http://"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	logs := func() string { b, _ := os.ReadFile(logFile.Name()); return string(b) }
	cmd := exec.Command(prometheus, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promAddr)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	prom := "http://" + promAddr
	for ready := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if resp, err := http.Get(prom + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(ready) {
			t.Fatalf("Prometheus was not ready within 20 s:\n%s", logs())
		}
	}

	// Both scrape the same exposition; the families settle within a few
	// scrapes (the shop creates some series as traffic first reaches them).
	var diff string
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if diff = metadataDiff(t, prom, a.URL()); diff == "" {
			break
		}
		time.Sleep(time.Second)
	}
	if diff != "" {
		t.Fatalf("metadata differs from Prometheus' after 30 s:\n%s\nprometheus log:\n%s", diff, logs())
	}
	// The same status and error type where the request is at fault, and
	// Prometheus' 204 for an exemplar query that selects nothing.
	for _, path := range []string{
		"/api/v1/metadata?limit=x",
		"/api/v1/targets/metadata?limit=x",
		"/api/v1/targets/metadata?match_target=" + url.QueryEscape(`{job=`),
		"/api/v1/series",
		"/api/v1/series?match[]=" + url.QueryEscape(`{job=""}`),
		"/api/v1/query_exemplars?query=up&start=20&end=10",
		"/api/v1/query_exemplars?query=1",
		"/api/v1/label/job/values?match[]=" + url.QueryEscape(`up{job="demo"}`),
	} {
		pc, pt, pb := status(t, prom+path)
		ac, at, ab := status(t, a.URL()+path)
		if pc != ac || pt != at {
			t.Errorf("GET %s: Prometheus %d %q %s, archscope %d %q %s", path, pc, pt, pb, ac, at, ab)
		}
	}
}

// metadataDiff compares /api/v1/metadata and /api/v1/targets/metadata of
// two servers as sets; "" when they agree.
func metadataDiff(t *testing.T, a, b string) string {
	t.Helper()
	type md struct{ Type, Help, Unit string }
	type tmd struct {
		Target           map[string]string
		Metric           string
		Type, Help, Unit string
	}
	var out []string
	var ma, mb map[string][]md
	fetchData(t, a+"/api/v1/metadata", &ma)
	fetchData(t, b+"/api/v1/metadata", &mb)
	for name := range ma {
		if _, ok := mb[name]; !ok {
			out = append(out, "only Prometheus has "+name)
		}
	}
	for name, l := range mb {
		if _, ok := ma[name]; !ok {
			out = append(out, "only archscope has "+name)
			continue
		}
		if !slices.Equal(sortedJSON(t, ma[name]), sortedJSON(t, l)) {
			out = append(out, fmt.Sprintf("%s: Prometheus %v, archscope %v", name, ma[name], l))
		}
	}
	var ta, tb []tmd
	fetchData(t, a+"/api/v1/targets/metadata", &ta)
	fetchData(t, b+"/api/v1/targets/metadata", &tb)
	if ja, jb := sortedJSON(t, ta), sortedJSON(t, tb); !slices.Equal(ja, jb) {
		out = append(out, fmt.Sprintf("targets/metadata: Prometheus has %d entries, archscope %d, and they differ", len(ja), len(jb)))
	}
	if len(ma) == 0 {
		out = append(out, "no metadata yet")
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

func fetchData(t *testing.T, u string, data any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string
		Data   json.RawMessage
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Status != "success" {
		t.Fatalf("GET %s: %d %v %s", u, resp.StatusCode, err, body.Status)
	}
	if err := json.Unmarshal(body.Data, data); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// sortedJSON is each element of a slice as JSON, sorted: a set to compare.
func sortedJSON[T any](t *testing.T, l []T) []string {
	out := make([]string, 0, len(l))
	for _, v := range l {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	slices.Sort(out)
	return out
}

// status GETs u and returns the status code, the errorType and the body.
func status(t *testing.T, u string) (int, string, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body struct{ ErrorType string }
	json.Unmarshal(b, &body)
	return resp.StatusCode, body.ErrorType, string(b)
}
