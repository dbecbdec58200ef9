package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/archscope/archscope/collectors"
	"github.com/archscope/archscope/simulator"
)

// run starts an App on a free loopback port and stops it when the test ends.
func run(t testing.TB, opts Options) *App {
	a, _ := runStoppable(t, opts)
	return a
}

// runStoppable is run that also returns a func to stop the App early.
func runStoppable(t testing.TB, opts Options) (*App, func()) {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return a, stop
}

type promResponse struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

func get(t *testing.T, u string) (int, promResponse) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pr promResponse
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil {
		t.Fatalf("GET %s: decode: %v", u, err)
	}
	return resp.StatusCode, pr
}

type matrix []struct {
	Metric map[string]string `json:"metric"`
	Values [][2]any          `json:"values"`
}

func queryRange(t *testing.T, base, q string, start, end time.Time) matrix {
	t.Helper()
	v := url.Values{"query": {q}, "start": {fmtTime(start)}, "end": {fmtTime(end)}, "step": {"1"}}
	code, pr := get(t, base+"/api/v1/query_range?"+v.Encode())
	if code != 200 || pr.Status != "success" {
		t.Fatalf("query_range %s: %d %s %s", q, code, pr.ErrorType, pr.Error)
	}
	var d struct {
		ResultType string `json:"resultType"`
		Result     matrix `json:"result"`
	}
	if err := json.Unmarshal(pr.Data, &d); err != nil {
		t.Fatal(err)
	}
	if d.ResultType != "matrix" {
		t.Fatalf("resultType %q, want matrix", d.ResultType)
	}
	return d.Result
}

func fmtTime(t time.Time) string { return time.Unix(t.Unix(), 0).UTC().Format(time.RFC3339) }

// waitScrapes waits until the demo target has been scraped n times.
func waitScrapes(t *testing.T, base string, start time.Time, n int) matrix {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		m := queryRange(t, base, `up{job="demo"}`, start, time.Now())
		if len(m) == 1 && len(m[0].Values) >= n {
			return m
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the demo was not scraped %d times within 30 s", n)
	return nil
}

// TestRestartKeepsHistory: samples written, process stopped, reopened from
// the same data directory, the same samples served.
func TestRestartKeepsHistory(t *testing.T) {
	dir := t.TempDir()
	start := time.Now().Add(-time.Second)
	a, stop := runStoppable(t, Options{DataDir: dir})
	waitScrapes(t, a.URL(), start, 3)
	q := `shop_requests_total{service="gateway"}`
	// A scrape stamped before now may still be storing its samples: compare
	// up to a moment every scrape before it has certainly finished. The
	// counter appears with the gateway's first answered request, which on
	// a loaded machine may come a scrape or two later: wait for it.
	var end time.Time
	var before matrix
	for deadline := time.Now().Add(15 * time.Second); len(before) == 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s series before the restart", q)
		}
		end = time.Now().Add(-1500 * time.Millisecond)
		before = queryRange(t, a.URL(), q, start, end)
	}
	stop()

	b := run(t, Options{DataDir: dir, NoDemo: true})
	after := queryRange(t, b.URL(), q, start, end)
	if len(after) != len(before) {
		t.Fatalf("after restart %d series, before %d", len(after), len(before))
	}
	for i := range before {
		bj, _ := json.Marshal(before[i])
		aj, _ := json.Marshal(after[i])
		if string(bj) != string(aj) {
			t.Errorf("series %d changed across the restart:\nbefore %s\nafter  %s", i, bj, aj)
		}
	}
}

func put(t *testing.T, u, body, token string) (int, map[string]any) {
	t.Helper()
	code, b := call(t, http.MethodPut, u, body, token)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("PUT %s: decode: %v", u, err)
	}
	return code, out
}

func TestDemoConfigRecordsAnnotation(t *testing.T) {
	a := run(t, Options{})
	u := a.URL() + "/api/v1/demo/config"
	code, out := put(t, u, `{"cache":{"enabled":true}}`, "")
	if code != 200 {
		t.Fatalf("PUT cache on: %d %v", code, out)
	}
	if c, _ := out["cache"].(map[string]any); c["enabled"] != true {
		t.Fatalf("PUT answered %v, want cache.enabled true", out)
	}
	code, pr := get(t, a.URL()+"/api/v1/annotations")
	if code != 200 {
		t.Fatalf("annotations: %d", code)
	}
	anns := knobAnnotations(t, pr.Data)
	if len(anns) != 1 || anns[0].Text != "cache: off → on" {
		t.Fatalf("knob annotations %+v, want one \"cache: off → on\"", anns)
	}

	for _, tc := range []struct{ body, wantErr string }{
		{`{"arrival_rate":-3}`, "arrival_rate"},
		{`{"cache":{"enabled":"yes"}}`, "cache"},
		{`{"warp_drive":true}`, "warp_drive"},
		{`{`, "demo config"},
	} {
		code, out := put(t, u, tc.body, "")
		msg, _ := out["error"].(string)
		if code != 400 || !strings.Contains(msg, tc.wantErr) {
			t.Errorf("PUT %s: %d %q, want 400 naming %q", tc.body, code, msg, tc.wantErr)
		}
	}
	// Rejected changes change nothing and record nothing.
	_, pr = get(t, a.URL()+"/api/v1/annotations")
	if anns := knobAnnotations(t, pr.Data); len(anns) != 1 {
		t.Errorf("rejected changes were annotated: %+v", anns)
	}
}

func TestTokenGuardsChanges(t *testing.T) {
	a := run(t, Options{Token: "s3cret"})
	u := a.URL() + "/api/v1/demo/config"
	if code, out := put(t, u, `{"cache":{"enabled":true}}`, ""); code != 401 {
		t.Errorf("PUT without token: %d %v, want 401", code, out)
	}
	if code, out := put(t, u, `{"cache":{"enabled":true}}`, "wrong"); code != 401 {
		t.Errorf("PUT with a wrong token: %d %v, want 401", code, out)
	}
	if code, out := put(t, u, `{"cache":{"enabled":true}}`, "s3cret"); code != 200 {
		t.Errorf("PUT with the token: %d %v, want 200", code, out)
	}
	// Reading stays open, and the page learns it is read-only.
	resp, err := http.Get(a.URL() + "/api/config")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c configJSON
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	if !c.ReadOnly {
		t.Errorf("/api/config without the token: read_only false, want true")
	}
}

func TestQueryAPIErrors(t *testing.T) {
	a := run(t, Options{NoDemo: true})
	now := time.Now()
	for _, tc := range []struct {
		name, query string
		code        int
		errType     string
	}{
		{"syntax", "query=" + url.QueryEscape("rate(up[5m]"), 400, "bad_data"},
		{"bad time", "query=up&time=yesterday", 400, "bad_data"},
	} {
		code, pr := get(t, a.URL()+"/api/v1/query?"+tc.query)
		if code != tc.code || pr.ErrorType != tc.errType || pr.Error == "" {
			t.Errorf("%s: %d %q %q, want %d %q with a message", tc.name, code, pr.ErrorType, pr.Error, tc.code, tc.errType)
		}
	}
	v := url.Values{"query": {"up"}, "start": {fmtTime(now.Add(-24 * time.Hour))}, "end": {fmtTime(now)}, "step": {"1"}}
	code, pr := get(t, a.URL()+"/api/v1/query_range?"+v.Encode())
	if code != 400 || !strings.Contains(pr.Error, "11,000 points") {
		t.Errorf("86400 points: %d %q, want 400 naming the 11,000 point limit", code, pr.Error)
	}
	v.Set("step", "0")
	if code, pr := get(t, a.URL()+"/api/v1/query_range?"+v.Encode()); code != 400 || pr.ErrorType != "bad_data" {
		t.Errorf("step 0: %d %q, want 400 bad_data", code, pr.ErrorType)
	}
	// A scalar answers in Prometheus' shape: [time, "value"].
	code, pr = get(t, a.URL()+"/api/v1/query?query=1%2B1&time=1700000000")
	if code != 200 || string(pr.Data) != `{"resultType":"scalar","result":[1700000000,"2"]}` {
		t.Errorf("1+1: %d %s", code, pr.Data)
	}
}

// knobAnnotations decodes /api/v1/annotations data, keeping the knob changes.
func knobAnnotations(t *testing.T, data json.RawMessage) []annotationJSON {
	t.Helper()
	var all, out []annotationJSON
	if err := json.Unmarshal(data, &all); err != nil {
		t.Fatal(err)
	}
	for _, a := range all {
		if slices.Contains(a.Tags, "knob") {
			out = append(out, a)
		}
	}
	return out
}

func TestStartIsAnnotated(t *testing.T) {
	a := run(t, Options{})
	_, pr := get(t, a.URL()+"/api/v1/annotations")
	var anns []annotationJSON
	if err := json.Unmarshal(pr.Data, &anns); err != nil {
		t.Fatal(err)
	}
	if len(anns) != 1 || anns[0].Text != "archscope started · demo shop: cache off, 150 req/s" {
		t.Errorf("annotations after start: %+v", anns)
	}
}

func TestKnobChangesDescribeEveryKnob(t *testing.T) {
	old := simulator.DefaultConfig()
	next := old
	next.Cache.Enabled = true
	next.Retries.MaxAttempts = 3
	next.Faults.DBErrorRatio = 0.1
	next.RateLimit.Enabled = true
	next.Topology = simulator.Monolith
	next.Faults.Partitions = []simulator.Partition{{A: "order", B: "payment"}}
	got := strings.Join(knobChanges(old, next), "; ")
	want := `cache: off → on; faults.db_error_ratio: 0 → 0.1; faults.partitions: none → [{"a":"order","b":"payment"}]; ` +
		"rate_limit: off → on; retries.max_attempts: 1 → 3; topology: microservices → monolith"
	if got != want {
		t.Errorf("knobChanges = %q\nwant          %q", got, want)
	}
	if c := knobChanges(old, old); len(c) != 0 {
		t.Errorf("no change described as %q", c)
	}
}

// TestShopsOwnChangesAreAnnotated: the autoscaler changes the instance count
// by itself; the charts must show that too, marked as the shop's doing.
func TestShopsOwnChangesAreAnnotated(t *testing.T) {
	a := run(t, Options{})
	body := `{"arrival_rate": 1000, "product_workers": 2, "db_connections": 100, "cache": {"enabled": true},
		"autoscaling": {"enabled": true, "interval_ms": 200, "cooldown_ms": 0, "scale_up_delay_ms": 0}}`
	if code, out := put(t, a.URL()+"/api/v1/demo/config", body, ""); code != 200 {
		t.Fatalf("PUT: %d %v", code, out)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		_, pr := get(t, a.URL()+"/api/v1/annotations")
		var anns []annotationJSON
		if err := json.Unmarshal(pr.Data, &anns); err != nil {
			t.Fatal(err)
		}
		for _, an := range anns {
			if strings.HasPrefix(an.Text, "product_replicas: 1 → ") && strings.HasSuffix(an.Text, "(by the shop)") && slices.Contains(an.Tags, "shop") {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("the autoscaler's first scale-up was never annotated")
}

// TestConfiguredTargetsAreScraped: targets from a prometheus.yml are
// scraped like the demo and listed by /api/v1/targets in Prometheus' shape.
func TestConfiguredTargetsAreScraped(t *testing.T) {
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, "team_queue_depth 7\n")
	}))
	defer exporter.Close()
	targets, _, err := collectors.ParseConfig([]byte("global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: team\n    static_configs: [{targets: ['" +
		strings.TrimPrefix(exporter.URL, "http://") + "'], labels: {env: prod}}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	a := run(t, Options{NoDemo: true, Targets: targets})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		code, pr := get(t, a.URL()+"/api/v1/query?query=team_queue_depth")
		if code == 200 && strings.Contains(string(pr.Data), `"env":"prod"`) && strings.Contains(string(pr.Data), `"7"`) {
			_, tp := get(t, a.URL()+"/api/v1/targets")
			if !strings.Contains(string(tp.Data), `"scrapePool":"team"`) || !strings.Contains(string(tp.Data), `"health":"up"`) {
				t.Errorf("/api/v1/targets: %s", tp.Data)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the configured target's sample never reached the query API")
}

// TestPresetsStartFromTheDefaults: the defaults endpoint gives back the
// shop's starting knobs, and a PUT naming a preset is annotated with its
// name before the knob changes it makes.
func TestPresetsStartFromTheDefaults(t *testing.T) {
	a := run(t, Options{})
	u := a.URL() + "/api/v1/demo/config"
	if code, out := put(t, u, `{"arrival_rate": 90, "topology": "monolith"}`, ""); code != 200 {
		t.Fatalf("PUT: %d %v", code, out)
	}
	resp, err := http.Get(a.URL() + "/api/v1/demo/defaults")
	if err != nil {
		t.Fatal(err)
	}
	var def simulator.Config
	if err := json.NewDecoder(resp.Body).Decode(&def); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if def.ArrivalRate != simulator.DefaultConfig().ArrivalRate || def.Topology != simulator.Microservices {
		t.Fatalf("defaults: arrival_rate %v, topology %q", def.ArrivalRate, def.Topology)
	}
	def.Cache.Enabled = true
	body, _ := json.Marshal(def)
	if code, out := put(t, u+"?preset=Add+a+cache", string(body), ""); code != 200 {
		t.Fatalf("PUT preset: %d %v", code, out)
	}
	_, pr := get(t, a.URL()+"/api/v1/annotations")
	var all []annotationJSON
	if err := json.Unmarshal(pr.Data, &all); err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, an := range all[1:] { // after the start
		texts = append(texts, an.Text)
	}
	want := []string{"arrival_rate: 150 → 90", "topology: microservices → monolith",
		"preset: Add a cache", "arrival_rate: 90 → 150", "cache: off → on", "topology: monolith → microservices"}
	if !slices.Equal(texts, want) {
		t.Errorf("annotations %q\nwant        %q", texts, want)
	}
	if code, _ := put(t, u+"?preset=%07bell", "{}", ""); code != 400 {
		t.Errorf("a preset name with a control character: %d, want 400", code)
	}
}
