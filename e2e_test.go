package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/archscope/archscope/app"
)

// startApp runs a full archscope (demo shop, scraping, storage, API, UI) on a
// free loopback port for the length of the test.
func startApp(t *testing.T, dataDir string) *app.App {
	t.Helper()
	assets, err := frontendAssets()
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Options{
		Addr:    "127.0.0.1:0",
		DataDir: dataDir,
		Assets:  assets,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("app.Run: %v", err)
		}
	})
	return a
}

// browser starts headless Debian chromium with the flags this machine needs.
func browser(t *testing.T, width, height int) context.Context {
	t.Helper()
	bin := needTool(t, "chromium", "chromium-browser")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// readValue reads the number a live value element shows (its data-value).
func readValue(ctx context.Context, id string) (float64, bool, error) {
	js := `(document.querySelector("#` + id + `") || {dataset: {}}).dataset.value || ""`
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		return 0, false, err
	}
	if s == "" {
		return 0, false, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil, err
}

// average samples a shown value once a second for n seconds; the page
// updates once a second, so this averages n live points.
func average(t *testing.T, ctx context.Context, id string, n int) float64 {
	t.Helper()
	sum, got := 0.0, 0
	for i := 0; i < n; i++ {
		v, ok, err := readValue(ctx, id)
		if err != nil {
			t.Fatalf("read #%s: %v", id, err)
		}
		if ok {
			sum += v
			got++
		}
		time.Sleep(time.Second)
	}
	if got == 0 {
		t.Fatalf("#%s showed no value for %d s", id, n)
	}
	return sum / float64(got)
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir, _ := filepath.Abs("test-artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestE2EDashboardCache is the learner's first minute: open the page, watch
// live points arrive, switch the cache on, and see p99 fall and throughput
// rise, with an annotation marking the moment.
func TestE2EDashboardCache(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test; skipped with -short")
	}
	ctx := browser(t, 1400, 1000)
	a := startApp(t, t.TempDir())
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()

	if err := chromedp.Do(ctx,
		chromedp.Navigate(a.URL()+"/"),
		chromedp.WaitVisible("#chart-latency"),
		chromedp.Poll[chromedp.Void](`document.querySelector("#conn").dataset.state === "open"`, chromedp.WithPollingTimeout(20*time.Second)),
		// A dozen points: the 10 s rate window behind every panel is full.
		chromedp.Poll[chromedp.Void](`+document.querySelector("#chart-latency").dataset.points >= 12`, chromedp.WithPollingTimeout(60*time.Second)),
	); err != nil {
		t.Fatalf("page did not go live: %v", err)
	}
	checked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector("#knob-cache").checked`))
	if err != nil {
		t.Fatal(err)
	}
	if checked {
		t.Fatal("the demo starts with the cache off, but the switch shows it on")
	}
	marks, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#chart-latency").dataset.annotations`))
	if err != nil {
		t.Fatal(err)
	}
	p99Before := average(t, ctx, "value-p99", 5)
	tputBefore := average(t, ctx, "value-throughput", 5)
	errBefore := average(t, ctx, "value-errors", 3)
	screenshot(t, ctx, "e2e-cache-off.png")

	if err := chromedp.Do(ctx,
		chromedp.Click("#knob-cache"),
		chromedp.Poll[chromedp.Void](`[...document.querySelectorAll("#annotations li")].some(li => li.textContent.includes("cache: off → on"))`,
			chromedp.WithPollingTimeout(10*time.Second)),
		chromedp.Poll[chromedp.Void](`+document.querySelector("#chart-latency").dataset.annotations === `+marks+` + 1`, chromedp.WithPollingTimeout(5*time.Second)),
	); err != nil {
		t.Fatalf("flipping the cache showed no annotation: %v", err)
	}
	// Let the 10 s rate window slide past the change, then measure again.
	time.Sleep(12 * time.Second)
	p99After := average(t, ctx, "value-p99", 5)
	tputAfter := average(t, ctx, "value-throughput", 5)
	errAfter := average(t, ctx, "value-errors", 3)
	screenshot(t, ctx, "e2e-cache-on.png")

	t.Logf("cache off: p99 %.1f ms, %.1f req/s ok, %.1f%% errors", p99Before*1000, tputBefore, errBefore*100)
	t.Logf("cache on:  p99 %.1f ms, %.1f req/s ok, %.1f%% errors", p99After*1000, tputAfter, errAfter*100)
	// The default shop is overloaded without the cache and comfortably
	// provisioned with it, so the effect is large, not a matter of noise.
	if !(p99After < p99Before/2) {
		t.Errorf("p99 did not fall by half with the cache on: %.1f ms → %.1f ms", p99Before*1000, p99After*1000)
	}
	if !(tputAfter > tputBefore*1.05) {
		t.Errorf("throughput did not rise with the cache on: %.1f → %.1f req/s", tputBefore, tputAfter)
	}
	if !(errAfter < errBefore) {
		t.Errorf("error rate did not fall with the cache on: %.2f%% → %.2f%%", errBefore*100, errAfter*100)
	}
	// Before/after: the page compares the minute around the change.
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll("#annotations li")].find(li => li.textContent.includes("cache: off → on")).querySelector("button.compare").click()`),
		chromedp.WaitVisible(`#compare tr[data-series="p99"]`),
	); err != nil {
		t.Fatalf("before/after comparison: %v", err)
	}
	cells, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#compare tr[data-series="p99"] td')].map(td => td.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("before/after p99: %q", cells)
	if len(cells) != 4 || !strings.HasPrefix(cells[3], "-") {
		t.Errorf("the comparison shows p99 %q, want it lower after the cache", cells)
	}
	fmt.Fprintln(os.Stderr, "e2e screenshots in", filepath.Join("test-artifacts"))
}

// waitFor polls a JavaScript condition on the page, failing the test with
// what it waited for.
func waitFor(t *testing.T, ctx context.Context, what, js string, timeout time.Duration) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(timeout))); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func evalJS[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// TestE2EViewsAndPresets walks every view as a user would, changes the
// architecture from the control panel, and plays the retry-storm preset to
// the breaker opening, asserting on what the page shows.
func TestE2EViewsAndPresets(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test; skipped with -short")
	}
	ctx := browser(t, 1600, 1000)
	a := startApp(t, t.TempDir())
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(a.URL()+"/#topology")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "live points", `+document.querySelector("#chart-latency").dataset.points >= 12`, 60*time.Second)

	// Topology: every service of the default microservices shop, with traffic.
	waitFor(t, ctx, "the topology map", `+document.querySelector("#topology").dataset.nodes >= 12`, 10*time.Second)
	dbRate := evalJS[string](t, ctx, `document.querySelector('#topology [data-node="db"]').dataset.rps`)
	if v, err := strconv.ParseFloat(dbRate, 64); err != nil || v < 50 {
		t.Errorf("topology shows the database at %q req/s, want the overloaded ~100", dbRate)
	}
	if h := evalJS[string](t, ctx, `document.querySelector('#topology [data-node="gateway"]').dataset.health`); h != "bad" {
		t.Errorf("the overloaded default shop's gateway is drawn %q, want bad (errors > 5 %%)", h)
	}
	screenshot(t, ctx, "e2e-topology.png")

	// Controls: every knob shows the server's value; switch to the monolith.
	if err := chromedp.Do(ctx, chromedp.Navigate(a.URL()+"/#controls")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the knobs to load", `document.querySelectorAll("[data-knob]").length >= 60 && [...document.querySelectorAll("[data-knob]")].every(e => e.dataset.loaded === "true" && !e.disabled)`, 20*time.Second)
	if err := chromedp.Do(ctx, chromedp.SetValue("#knob-topology", "monolith"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#knob-topology").dispatchEvent(new Event("change"))`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the topology annotation", `[...document.querySelectorAll("#annotations li")].some(li => li.textContent.includes("topology: microservices → monolith"))`, 10*time.Second)
	screenshot(t, ctx, "e2e-controls.png")
	if err := chromedp.Do(ctx, chromedp.Navigate(a.URL()+"/#topology")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the map to redraw as a monolith", `!!document.querySelector('#topology [data-node="monolith"]') && !document.querySelector('#topology [data-node="order"]')`, 20*time.Second)
	screenshot(t, ctx, "e2e-topology-monolith.png")

	// Service detail: RED, USE and the heatmap for the database.
	if err := chromedp.Do(ctx, chromedp.Navigate(a.URL()+"/#service"),
		chromedp.WaitVisible("#service-select"),
		chromedp.SetValue("#service-select", "db"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#service-select").dispatchEvent(new Event("change"))`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the database's charts", `document.querySelector(".service").dataset.service === "db" && +document.querySelector("#svc-rate").dataset.points > 3 && +document.querySelector("#svc-util").dataset.series === 1 && +document.querySelector("#svc-heatmap").dataset.columns > 1`, 30*time.Second)
	screenshot(t, ctx, "e2e-service.png")

	// Targets: the demo is up; the query box charts its example.
	if err := chromedp.Do(ctx, chromedp.Navigate(a.URL()+"/#targets")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the demo target", `!!document.querySelector('#targets-table tr[data-job="demo"][data-health="up"]')`, 15*time.Second)
	waitFor(t, ctx, "the query chart", `+document.querySelector("#promql-chart").dataset.series >= 10`, 15*time.Second)
	if err := chromedp.Do(ctx, chromedp.SetValue("#promql-input", "rate(nope[5m"), chromedp.Click("#promql-run")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the query error", `document.querySelector("#promql-error").textContent.length > 0`, 10*time.Second)
	screenshot(t, ctx, "e2e-targets.png")

	// The retry-storm preset: throughput collapses under retries, then the
	// scheduled breaker opens and the page says so.
	if err := chromedp.Do(ctx, chromedp.Navigate(a.URL()+"/#controls"), chromedp.WaitVisible("#preset-storm"), chromedp.Click("#preset-storm")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the preset's annotation", `[...document.querySelectorAll("#annotations li")].some(li => li.textContent.includes("preset: A retry storm"))`, 10*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(a.URL()+"/#overview")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(15 * time.Second) // the 10 s rate window past the change
	stormTput := average(t, ctx, "value-throughput", 5)
	waitFor(t, ctx, "the breaker to open", `["open", "half-open"].includes(document.querySelector("#breaker-state").dataset.state)`, 60*time.Second)
	screenshot(t, ctx, "e2e-storm-breaker.png")

	// And the cache preset puts everything back to a healthy shop.
	if err := chromedp.Do(ctx, chromedp.Navigate(a.URL()+"/#controls"), chromedp.WaitVisible("#preset-cache"), chromedp.Click("#preset-cache"),
		chromedp.Navigate(a.URL()+"/#overview")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(15 * time.Second)
	cacheTput := average(t, ctx, "value-throughput", 5)
	t.Logf("retry storm: %.1f req/s successful; cache preset: %.1f req/s", stormTput, cacheTput)

	// Every preset from its button: the page names it on the charts and the
	// control panel shows the knobs it set. (What each story does to the
	// numbers is replayed, preset by preset, in simulator/presets_test.go.)
	for _, p := range loadPresets(t) {
		if err := chromedp.Do(ctx, chromedp.Navigate(a.URL()+"/#controls"), chromedp.WaitVisible("#preset-"+p.ID), chromedp.Click("#preset-"+p.ID)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ctx, "preset "+p.ID+"'s annotation", `[...document.querySelectorAll("#annotations li")].some(li => li.textContent.includes(`+strconv.Quote("preset: "+p.Title)+`))`, 10*time.Second)
		for path, want := range leaves("", p.Patch) {
			js := `(() => { const e = document.querySelector('[data-knob="` + path + `"]'); if (!e) return "absent"; return e.type === "checkbox" ? String(e.checked) : e.value; })()`
			shown := ""
			for range 50 { // the panel shows the server's answer once the PUT returns
				if shown = evalJS[string](t, ctx, js); shown == want || shown == "absent" {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if shown != want && shown != "absent" {
				t.Errorf("preset %s: knob %s shows %q, want %q", p.ID, path, shown, want)
			}
		}
	}
	screenshot(t, ctx, "e2e-presets.png")
	if err := chromedp.Do(ctx, chromedp.Navigate(a.URL()+"/#overview"), chromedp.WaitVisible("#chart-latency .u-over")); err != nil {
		t.Fatal(err)
	}

	// Zoom: dragging across one chart zooms them all and pauses the page.
	// The drag waits for the chart's points: on an empty chart it does nothing.
	waitFor(t, ctx, "live points before the drag", `+document.querySelector("#chart-latency").dataset.points >= 12`, 60*time.Second)
	box := evalJS[[]float64](t, ctx, `(() => { const r = document.querySelector("#chart-latency .u-over").getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`)
	if len(box) != 4 {
		t.Fatalf("latency chart's plot area: %v", box)
	}
	y := box[1] + box[3]/2
	if err := chromedp.Do(ctx, chromedp.DragAndDropXY(box[0]+box[2]*0.9, y, box[0]+box[2]*0.99, y, 10)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "every chart to zoom and the page to pause", `document.querySelector("#chart-errors").dataset.zoomed === "true" && document.querySelector("#pause").getAttribute("aria-pressed") === "true"`, 5*time.Second)
	screenshot(t, ctx, "e2e-zoomed.png")
	if err := chromedp.Do(ctx, chromedp.Click("#pause")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "live again", `document.querySelector("#chart-errors").dataset.zoomed === "false"`, 5*time.Second)

	// The last hour comes from query_range, not the websocket's snapshot,
	// and keeps the changes marked.
	if err := chromedp.Do(ctx, chromedp.SetValue("#window", "3600"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#window").dispatchEvent(new Event("change"))`)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the hour's chart", `+document.querySelector("#chart-latency").dataset.points >= 10 && +document.querySelector("#chart-latency").dataset.annotations >= 3`, 20*time.Second)

	// The other theme, chosen from the toolbar, repaints page and charts.
	bg := evalJS[string](t, ctx, `getComputedStyle(document.body).backgroundColor`)
	if err := chromedp.Do(ctx, chromedp.Click("#theme")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the other theme", `getComputedStyle(document.body).backgroundColor !== `+strconv.Quote(bg), 5*time.Second)
	screenshot(t, ctx, "e2e-other-theme.png")
	if !(cacheTput > 2*stormTput) {
		t.Errorf("throughput during the storm %.1f req/s, after the cache preset %.1f: want the storm far lower", stormTput, cacheTput)
	}
}

type presetJSON struct {
	ID    string         `json:"id"`
	Title string         `json:"title"`
	Patch map[string]any `json:"patch"`
}

func loadPresets(t *testing.T) []presetJSON {
	t.Helper()
	b, err := os.ReadFile("frontend/src/presets.json")
	if err != nil {
		t.Fatal(err)
	}
	var ps []presetJSON
	if err := json.Unmarshal(b, &ps); err != nil {
		t.Fatal(err)
	}
	return ps
}

// leaves flattens a patch to dotted paths and the text an input shows for
// each value; lists (a schedule, load stages) are not single knobs and are
// left out.
func leaves(prefix string, m map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		switch v := v.(type) {
		case map[string]any:
			for p, s := range leaves(path, v) {
				out[p] = s
			}
		case []any:
		case float64:
			out[path] = strconv.FormatFloat(v, 'f', -1, 64)
		default:
			out[path] = fmt.Sprint(v)
		}
	}
	return out
}
