package main

import (
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
