package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/archscope/archscope/collectors"
)

// raw sends a GET (form "" or in the URL) or a POST of an HTML form, as
// Grafana does with its POST setting, and returns the status and the body
// as sent, trailing newline trimmed.
func raw(t *testing.T, method, u, form string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusNoContent && ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, u, ct)
	}
	return resp.StatusCode, strings.TrimSuffix(string(b), "\n")
}

// metadataApp runs archscope without the demo, scraping three targets: two
// jobs on one OpenMetrics exporter and a text exporter whose req family has
// another help. It returns the App and the two exporters' instance labels.
func metadataApp(t *testing.T) (a *App, omInst, textInst string) {
	om := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
		io.WriteString(w, "# TYPE req counter\n# HELP req Requests.\nreq_total{code=\"200\"} 3\n"+
			"# TYPE lat_seconds histogram\n# UNIT lat_seconds seconds\n# HELP lat_seconds Latency.\n"+
			"lat_seconds_bucket{le=\"+Inf\"} 1\nlat_seconds_sum 0.5\nlat_seconds_count 1\n# EOF\n")
	}))
	t.Cleanup(om.Close)
	text := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, "# HELP req Requests, by code.\n# TYPE req counter\nreq{code=\"500\"} 1\n"+
			"# HELP up_since_seconds Start time.\n# TYPE up_since_seconds gauge\nup_since_seconds 1.7e9\n")
	}))
	t.Cleanup(text.Close)
	iv := 200 * time.Millisecond
	a = run(t, Options{NoDemo: true, Targets: []collectors.Target{
		{Job: "api", URL: om.URL + "/metrics", Interval: iv},
		{Job: "api-copy", URL: om.URL + "/metrics", Interval: iv},
		{Job: "web", URL: text.URL + "/metrics", Interval: iv},
	}})
	deadline := time.Now().Add(10 * time.Second)
	for {
		ts := a.scraper.Metadata("")
		ready := len(ts) == 3
		for _, tm := range ts {
			ready = ready && len(tm.Metadata) == 2
		}
		// and a scrape of each stored, for the series and label endpoints
		if code, body := raw(t, "GET", a.URL()+"/api/v1/label/job/values", ""); ready && code == 200 &&
			body == `{"status":"success","data":["api","api-copy","web"]}` {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the three targets were not scraped within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return a, strings.TrimPrefix(om.URL, "http://"), strings.TrimPrefix(text.URL, "http://")
}

// /api/v1/metadata and /api/v1/targets/metadata in Prometheus' exact shapes
// and semantics (checked against a real Prometheus by
// TestMetadataMatchesPrometheus at the repository root).
func TestMetadataEndpoints(t *testing.T) {
	a, omInst, textInst := metadataApp(t)
	base := a.URL() + "/api/v1"
	reqOM := `{"type":"counter","unit":"","help":"Requests."}`
	reqText := `{"type":"counter","unit":"","help":"Requests, by code."}`
	lat := `{"type":"histogram","unit":"seconds","help":"Latency."}`
	since := `{"type":"gauge","unit":"","help":"Start time."}`
	tAPI := fmt.Sprintf(`{"instance":%q,"job":"api"}`, omInst)
	tCopy := fmt.Sprintf(`{"instance":%q,"job":"api-copy"}`, omInst)
	tWeb := fmt.Sprintf(`{"instance":%q,"job":"web"}`, textInst)
	ok := func(data string) string { return `{"status":"success","data":` + data + `}` }
	for _, tc := range []struct{ path, want string }{
		// Deduplicated across targets: api and api-copy say the same of req
		// and lat_seconds; web says something else of req. The
		// OpenMetrics counter family is named without _total.
		{"/metadata", ok(`{"lat_seconds":[` + lat + `],"req":[` + reqOM + `,` + reqText + `],"up_since_seconds":[` + since + `]}`)},
		{"/metadata?metric=req", ok(`{"req":[` + reqOM + `,` + reqText + `]}`)},
		{"/metadata?metric=req_total", ok(`{}`)},
		{"/metadata?limit_per_metric=1", ok(`{"lat_seconds":[` + lat + `],"req":[` + reqOM + `],"up_since_seconds":[` + since + `]}`)},
		{"/metadata?limit=2", ok(`{"lat_seconds":[` + lat + `],"req":[` + reqOM + `,` + reqText + `]}`)},
		{"/metadata?limit=0", ok(`{}`)},
		{"/metadata?limit=-1&limit_per_metric=0", ok(`{"lat_seconds":[` + lat + `],"req":[` + reqOM + `,` + reqText + `],"up_since_seconds":[` + since + `]}`)},

		{"/targets/metadata?metric=req", ok(`[` +
			`{"target":` + tAPI + `,"type":"counter","help":"Requests.","unit":""},` +
			`{"target":` + tCopy + `,"type":"counter","help":"Requests.","unit":""},` +
			`{"target":` + tWeb + `,"type":"counter","help":"Requests, by code.","unit":""}]`)},
		{"/targets/metadata?match_target=" + url.QueryEscape(`{job="web"}`), ok(`[` +
			`{"target":` + tWeb + `,"metric":"req","type":"counter","help":"Requests, by code.","unit":""},` +
			`{"target":` + tWeb + `,"metric":"up_since_seconds","type":"gauge","help":"Start time.","unit":""}]`)},
		{"/targets/metadata?match_target=" + url.QueryEscape(`{job=~"api.*"}`) + "&metric=lat_seconds", ok(`[` +
			`{"target":` + tAPI + `,"type":"histogram","help":"Latency.","unit":"seconds"},` +
			`{"target":` + tCopy + `,"type":"histogram","help":"Latency.","unit":"seconds"}]`)},
		// limit is checked before each target, as Prometheus does: the
		// first target's two entries both come.
		{"/targets/metadata?limit=1", ok(`[` +
			`{"target":` + tAPI + `,"metric":"lat_seconds","type":"histogram","help":"Latency.","unit":"seconds"},` +
			`{"target":` + tAPI + `,"metric":"req","type":"counter","help":"Requests.","unit":""}]`)},
		{"/targets/metadata?limit=0", ok(`[]`)},
		{"/targets/metadata?metric=nothing", ok(`[]`)},
	} {
		if code, body := raw(t, "GET", base+tc.path, ""); code != 200 || body != tc.want {
			t.Errorf("GET %s: %d\n got %s\nwant %s", tc.path, code, body, tc.want)
		}
	}
}

// The series and label endpoints take match[], start, end and limit, in the
// URL or a POST form as Grafana sends them, and say when limit cut the
// answer short.
func TestSeriesAndLabelsParameters(t *testing.T) {
	a, omInst, textInst := metadataApp(t)
	base := a.URL() + "/api/v1"
	now := time.Now().Unix()
	rangeQ := fmt.Sprintf("start=%d&end=%d", now-600, now+60) // Grafana sends seconds
	// Series come sorted by their labels: __name__, then instance (the
	// exporters' ports), then job.
	upAPI := fmt.Sprintf(`{"__name__":"up","instance":%q,"job":"api"}`, omInst)
	upCopy := fmt.Sprintf(`{"__name__":"up","instance":%q,"job":"api-copy"}`, omInst)
	upWeb := fmt.Sprintf(`{"__name__":"up","instance":%q,"job":"web"}`, textInst)
	all, first2 := upAPI+`,`+upCopy+`,`+upWeb, upAPI+`,`+upCopy
	if textInst < omInst {
		all, first2 = upWeb+`,`+upAPI+`,`+upCopy, upWeb+`,`+upAPI
	}
	for _, tc := range []struct{ path, query, want string }{
		{"/series", "match[]=up&" + rangeQ, `{"status":"success","data":[` + all + `]}`},
		{"/series", "match[]=up&limit=2", `{"status":"success","data":[` + first2 + `],"warnings":["results truncated due to limit"]}`},
		{"/series", "match[]=up&limit=3", `{"status":"success","data":[` + all + `]}`},
		// Two selectors: one sorted list, each series once.
		{"/series", "match[]=" + url.QueryEscape(`up{job="web"}`) + "&match[]=up&limit=2", `{"status":"success","data":[` + first2 + `],"warnings":["results truncated due to limit"]}`},
		{"/series", "match[]=" + url.QueryEscape(`up{job="web"}`) + "&match[]=" + url.QueryEscape(`up{job="web"}`), `{"status":"success","data":[` + upWeb + `]}`},
		// Nothing stored in a range long before the targets existed.
		{"/series", "match[]=up&start=1000&end=2000", `{"status":"success","data":[]}`},
		{"/labels", "limit=3", `{"status":"success","data":["__name__","code","instance"],"warnings":["results truncated due to limit"]}`},
		{"/labels", "match[]=up&" + rangeQ, `{"status":"success","data":["__name__","instance","job"]}`},
		{"/labels", "match[]=req&match[]=" + url.QueryEscape(`lat_seconds_bucket{job="api"}`), `{"status":"success","data":["__name__","code","instance","job","le"]}`},
		{"/label/job/values", "limit=1&" + rangeQ, `{"status":"success","data":["api"],"warnings":["results truncated due to limit"]}`},
		{"/label/job/values", "match[]=" + url.QueryEscape(`req{code="500"}`), `{"status":"success","data":["web"]}`},
		{"/label/__name__/values", "match[]=" + url.QueryEscape(`{job="web"}`), `{"status":"success","data":["req","scrape_duration_seconds","scrape_samples_post_metric_relabeling","scrape_samples_scraped","scrape_series_added","up","up_since_seconds"]}`},
		// A label name escaped as Prometheus 3 and Grafana do (U__, _ as __).
		{"/label/U__code/values", "", `{"status":"success","data":["200","500"]}`},
	} {
		methods := []string{"GET", "POST"}
		if strings.HasPrefix(tc.path, "/label/") {
			methods = methods[:1] // GET only, as in Prometheus
		}
		for _, m := range methods {
			u, form := base+tc.path+"?"+tc.query, ""
			if m == "POST" {
				u, form = base+tc.path, tc.query
			}
			if code, body := raw(t, m, u, form); code != 200 || body != tc.want {
				t.Errorf("%s %s?%s: %d\n got %s\nwant %s", m, tc.path, tc.query, code, body, tc.want)
			}
		}
	}
}

// Malformed parameters get Prometheus' 400 bad_data and a message that
// names what was wrong.
func TestMetadataAPIErrors(t *testing.T) {
	a := run(t, Options{NoDemo: true})
	base := a.URL() + "/api/v1"
	for _, tc := range []struct{ method, path, form, wantErr string }{
		{"GET", "/metadata?limit=x", "", "limit must be a number"},
		{"GET", "/metadata?limit_per_metric=1.5", "", "limit_per_metric must be a number"},
		{"GET", "/targets/metadata?limit=x", "", "limit must be a number"},
		{"GET", "/targets/metadata?match_target=" + url.QueryEscape(`{job=`), "", `invalid parameter "match_target": `},
		{"GET", "/series", "", "no match[] parameter provided"},
		{"POST", "/series", "start=1", "no match[] parameter provided"},
		{"GET", "/series?match[]=up&limit=-1", "", `invalid parameter "limit": limit must be non-negative`},
		{"POST", "/series", "match[]=up&limit=ten", `invalid parameter "limit": strconv.Atoi: parsing "ten": invalid syntax`},
		{"GET", "/series?match[]=" + url.QueryEscape(`{job=""}`), "", "match[] must contain at least one non-empty matcher"},
		{"GET", "/series?match[]=up{", "", `invalid parameter "match[]": `},
		{"GET", "/labels?start=yesterday", "", `invalid parameter "start": invalid time value for 'start': cannot parse "yesterday" to a valid timestamp`},
		{"POST", "/labels", "end=x", `invalid parameter "end": invalid time value for 'end'`},
		{"GET", "/label/job/values?limit=x", "", `invalid parameter "limit"`},
		{"GET", "/label/%FF/values", "", `invalid label name: "\xff"`},
		{"GET", "/query_exemplars?query=up&start=20&end=10", "", "end timestamp must not be before start timestamp"},
		{"GET", "/query_exemplars?query=up&start=soon", "", `invalid parameter "start": invalid time value for 'start'`},
		{"POST", "/query_exemplars", "query=" + url.QueryEscape("rate(up[5m]"), "parse error"},
		{"GET", "/query_exemplars", "", "no expression found in input"},
		{"GET", "/rules?type=recording", "", `invalid parameter "type": not supported value "recording"`},
		{"GET", "/rules?match[]={", "", `invalid parameter "match[]"`},
		{"POST", "/format_query", "query=sum(", `invalid parameter "query": `},
	} {
		u := base + tc.path
		code, body := raw(t, tc.method, u, tc.form)
		var pr promResponse
		if err := json.Unmarshal([]byte(body), &pr); err != nil {
			t.Errorf("%s %s: %d %q: %v", tc.method, tc.path, code, body, err)
			continue
		}
		if code != 400 || pr.Status != "error" || pr.ErrorType != "bad_data" || !strings.Contains(pr.Error, tc.wantErr) {
			t.Errorf("%s %s %s: %d %s %q %q; want 400 bad_data with %q", tc.method, tc.path, tc.form, code, pr.Status, pr.ErrorType, pr.Error, tc.wantErr)
		}
	}
}

// The endpoints Grafana's Prometheus data source calls when it connects,
// besides the query API: buildinfo (flavour and version), query_exemplars
// (whether exemplars can be asked for), rules (recording rules to expand);
// and format_query, behind its query editor's Format button.
func TestGrafanaConnectEndpoints(t *testing.T) {
	a := run(t, Options{NoDemo: true})
	base := a.URL() + "/api/v1"
	code, body := raw(t, "GET", base+"/status/buildinfo", "")
	var bi struct {
		Status string
		Data   map[string]any
	}
	if err := json.Unmarshal([]byte(body), &bi); err != nil || code != 200 || bi.Status != "success" {
		t.Fatalf("buildinfo: %d %s %v", code, body, err)
	}
	for k, want := range map[string]any{"version": PrometheusVersion, "goVersion": runtime.Version(), "application": "archscope", "archscopeVersion": Version} {
		if bi.Data[k] != want {
			t.Errorf("buildinfo %s = %v, want %v", k, bi.Data[k], want)
		}
	}
	for _, k := range []string{"revision", "branch", "buildUser", "buildDate"} {
		if _, ok := bi.Data[k].(string); !ok {
			t.Errorf("buildinfo has no %s string: %s", k, body)
		}
	}
	if _, ok := bi.Data["features"]; ok {
		t.Errorf("buildinfo has features, which makes Grafana take archscope for Mimir: %s", body)
	}

	for _, tc := range []struct {
		method, path, form string
		code               int
		want               string
	}{
		// Grafana's probe: query "test", start and end in milliseconds.
		{"GET", "/query_exemplars?query=test&start=1719000000000&end=1719001800000", "", 200, `{"status":"success","data":[]}`},
		{"POST", "/query_exemplars", "query=" + url.QueryEscape(`rate(shop_request_duration_seconds_bucket[5m])`), 200, `{"status":"success","data":[]}`},
		{"GET", "/query_exemplars?query=1%2B1", "", 204, ``}, // selects nothing: Prometheus answers 204
		{"GET", "/rules", "", 200, `{"status":"success","data":{"groups":[]}}`},
		{"GET", "/rules?type=record&match[]=up", "", 200, `{"status":"success","data":{"groups":[]}}`},
		{"GET", "/alerts", "", 200, `{"status":"success","data":{"alerts":[]}}`},
		// The query editor's Format button.
		{"POST", "/format_query", "query=" + url.QueryEscape(`sum( rate(x_total{a="b"}[5m]) )by(a)`), 200, `{"status":"success","data":"sum by (a) (rate(x_total{a=\"b\"}[5m]))"}`},
	} {
		if code, body := raw(t, tc.method, base+tc.path, tc.form); code != tc.code || body != tc.want {
			t.Errorf("%s %s: %d %s, want %d %s", tc.method, tc.path, code, body, tc.code, tc.want)
		}
	}
}

// PrometheusVersion names the release of the prometheus module in go.mod
// (v0.316.0 is 3.16.0), so buildinfo does not claim features the engine
// lacks, or hide ones it has.
func TestPrometheusVersionMatchesGoMod(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/prometheus/prometheus v0\.(\d+)\.(\d+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod requires no github.com/prometheus/prometheus v0.x.y")
	}
	minor, _ := strconv.Atoi(string(m[1]))
	want := fmt.Sprintf("%d.%d.%s", minor/100, minor%100, m[2])
	if PrometheusVersion != want {
		t.Errorf("PrometheusVersion = %s, but go.mod has the module of Prometheus %s", PrometheusVersion, want)
	}
}

// Prometheus' own Go client (client_golang's api/prometheus/v1, which
// decodes every answer into Prometheus' types) reads the metadata, status
// and series endpoints. It sends the series and label requests as POST
// forms first, as Grafana does with its POST setting.
func TestPrometheusClientReadsMetadata(t *testing.T) {
	a, omInst, _ := metadataApp(t)
	c, err := promapi.NewClient(promapi.Config{Address: a.URL()})
	if err != nil {
		t.Fatal(err)
	}
	api := promv1.NewAPI(c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	bi, err := api.Buildinfo(ctx)
	if err != nil || bi.Version != PrometheusVersion || bi.GoVersion != runtime.Version() {
		t.Errorf("Buildinfo: %+v %v", bi, err)
	}
	md, err := api.Metadata(ctx, "", "")
	if err != nil || len(md) != 3 || len(md["req"]) != 2 || md["lat_seconds"][0] != (promv1.Metadata{Type: promv1.MetricTypeHistogram, Help: "Latency.", Unit: "seconds"}) {
		t.Errorf("Metadata: %+v %v", md, err)
	}
	tmd, err := api.TargetsMetadata(ctx, `{job="api"}`, "req", "")
	want := []promv1.MetricMetadata{{Target: map[string]string{"instance": omInst, "job": "api"}, Type: promv1.MetricTypeCounter, Help: "Requests."}}
	if err != nil || fmt.Sprint(tmd) != fmt.Sprint(want) {
		t.Errorf("TargetsMetadata: %+v %v, want %+v", tmd, err, want)
	}
	ex, err := api.QueryExemplars(ctx, "req_total", time.Now().Add(-time.Hour), time.Now())
	if err != nil || len(ex) != 0 {
		t.Errorf("QueryExemplars: %+v %v", ex, err)
	}
	names, warnings, _, err := api.LabelNames(ctx, []string{"up"}, time.Now().Add(-time.Hour), time.Now(), promv1.WithLimit(2))
	if err != nil || len(names) != 2 || names[0] != "__name__" || names[1] != "instance" || fmt.Sprint(warnings) != "[results truncated due to limit]" {
		t.Errorf("LabelNames: %v %v %v", names, warnings, err)
	}
	vals, _, _, err := api.LabelValues(ctx, "job", []string{`up`}, time.Now().Add(-time.Hour), time.Now())
	if err != nil || fmt.Sprint(vals) != "[api api-copy web]" {
		t.Errorf("LabelValues: %v %v", vals, err)
	}
	series, _, _, err := api.Series(ctx, []string{`req_total`}, time.Now().Add(-time.Hour), time.Now())
	if err != nil || len(series) != 2 || series[0]["job"] != "api" || series[0][model.MetricNameLabel] != "req_total" {
		t.Errorf("Series: %v %v", series, err)
	}
	rules, err := api.Rules(ctx, nil)
	if err != nil || len(rules.Groups) != 0 {
		t.Errorf("Rules: %+v %v", rules, err)
	}
	alerts, err := api.Alerts(ctx)
	if err != nil || len(alerts.Alerts) != 0 {
		t.Errorf("Alerts: %+v %v", alerts, err)
	}
}
