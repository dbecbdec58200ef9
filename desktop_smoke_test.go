package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDesktopSmoke launches the desktop binary (make test-desktop builds it
// and names it in ARCHSCOPE_DESKTOP_BIN) in a real window under Xvfb, checks
// the demo is being scraped, and screenshots the screen: a blank window
// fails.
func TestDesktopSmoke(t *testing.T) {
	bin := os.Getenv("ARCHSCOPE_DESKTOP_BIN")
	if bin == "" {
		t.Skip("ARCHSCOPE_DESKTOP_BIN not set; make test-desktop builds the desktop binary and runs this")
	}
	xvfb := needTool(t, "Xvfb")
	importBin := needTool(t, "import") // ImageMagick's, from Debian's imagemagick

	display := startXvfb(t, xvfb)
	// WebKit's helper processes may still be writing caches for a moment
	// after the window closes, so this directory is removed patiently
	// rather than by t.TempDir.
	home, err := os.MkdirTemp("", "archscope-desktop-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 20 && os.RemoveAll(home) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(),
		"DISPLAY="+display,
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		"XDG_CACHE_HOME="+filepath.Join(home, "cache"),
		// No GPU under Xvfb: let WebKit draw in software.
		"WEBKIT_DISABLE_COMPOSITING_MODE=1",
		"WEBKIT_DISABLE_DMABUF_RENDERER=1",
		"LIBGL_ALWAYS_SOFTWARE=1",
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so its WebKit helpers stop with it
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlCh := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`serving (http://127\.0\.0\.1:\d+)/`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if m := re.FindStringSubmatch(line); m != nil {
				select {
				case urlCh <- m[1]:
				default:
				}
			}
			if testing.Verbose() {
				fmt.Fprintln(os.Stderr, "desktop:", line)
			}
		}
	}()
	defer func() {
		cancel()
		_ = cmd.Wait()
	}()

	var base string
	select {
	case base = <-urlCh:
	case <-time.After(30 * time.Second):
		t.Fatal("the desktop binary never said where it serves")
	}
	waitDemoUp(t, base, 30*time.Second)
	// Give the window time to load the page and draw a few live points.
	time.Sleep(8 * time.Second)

	dir, _ := filepath.Abs("test-artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "desktop-window.png")
	if out, err := exec.Command(importBin, "-display", display, "-window", "root", shot).CombinedOutput(); err != nil {
		t.Fatalf("screenshot: %v\n%s", err, out)
	}
	t.Logf("screenshot: %s", shot)
	colours, dominant := imageStats(t, shot)
	t.Logf("window screenshot: %d distinct colours, the commonest covers %.1f%%", colours, dominant*100)
	// A blank or unpainted window is one or two colours; the dashboard has
	// text, axes and coloured series.
	if colours < 50 || dominant > 0.97 {
		t.Errorf("the desktop window looks blank: %d colours, commonest %.1f%%", colours, dominant*100)
	}
	// The page inside the window must have connected its websocket: the
	// hub counts it.
	if n := wsClients(t, base); n < 1 {
		t.Errorf("the desktop page never opened its live stream (archscope_ws_clients = %v)", n)
	}
}

func startXvfb(t *testing.T, xvfb string) string {
	t.Helper()
	for n := 90; n < 140; n++ {
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
			continue
		}
		display := fmt.Sprintf(":%d", n)
		cmd := exec.Command(xvfb, display, "-screen", "0", "1400x900x24", "-nolisten", "tcp")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		for i := 0; i < 50; i++ {
			if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
				return display
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("Xvfb %s did not start", display)
	}
	t.Fatal("no free X display")
	return ""
}

// waitDemoUp polls the PromQL API until the demo target has been scraped.
func waitDemoUp(t *testing.T, base string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(`up{job="demo"}`))
		if err == nil {
			var body struct {
				Data struct {
					Result []struct {
						Value [2]any `json:"value"`
					} `json:"result"`
				} `json:"data"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err == nil && len(body.Data.Result) == 1 && body.Data.Result[0].Value[1] == "1" {
				return
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("the demo target was not up within %v", within)
}

// wsClients reads archscope's own gauge of connected websocket clients.
func wsClients(t *testing.T, base string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "archscope_ws_clients "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return -1
}

// imageStats counts the distinct colours of a PNG and the share of its
// commonest colour.
func imageStats(t *testing.T, path string) (int, float64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return colourStats(img)
}

func colourStats(img image.Image) (int, float64) {
	counts := map[uint32]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			counts[(r>>8)<<16|(g>>8)<<8|bl>>8]++
		}
	}
	most := 0
	for _, c := range counts {
		most = max(most, c)
	}
	return len(counts), float64(most) / float64(b.Dx()*b.Dy())
}
