package main

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
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
