package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
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
	fmt.Fprintln(os.Stderr, "e2e screenshots in", filepath.Join("test-artifacts"))
}
