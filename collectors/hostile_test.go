package collectors

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The hostile endpoints: each answers in a way a real endpoint might, by
// accident or malice. Bodies are built once, before any memory is measured.
type hostile struct {
	name    string
	handler http.HandlerFunc
	wantErr string  // in lastError; "" for endpoints that are hostile but valid
	wantUp  float64 // 0, or 1 for the valid ones
	heavy   bool    // worth measuring memory for
}

var (
	hostileOnce sync.Once
	gzipBomb    []byte // 512 MiB of newlines, gzipped to about 0.5 MB
	millionHelp []byte // a million # HELP lines, 19 MB
)

func hostileBodies() {
	hostileOnce.Do(func() {
		var z bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
		chunk := bytes.Repeat([]byte("\n"), 1<<20)
		for range 512 {
			zw.Write(chunk)
		}
		zw.Close()
		gzipBomb = z.Bytes()
		millionHelp = manyHelpLines(1_000_000)
	})
}

// millionSeries writes a million distinct series, about 21 MB, as it goes.
func millionSeries(w io.Writer) {
	buf := make([]byte, 0, 64<<10)
	for i := range 1_000_000 {
		buf = append(buf, `s{i="`...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, "\"} 1\n"...)
		if len(buf) > 60<<10 {
			if _, err := w.Write(buf); err != nil {
				return
			}
			buf = buf[:0]
		}
	}
	w.Write(buf)
}

// stream writes chunk until n bytes are out (n < 0: forever) or the client leaves.
func stream(w http.ResponseWriter, r *http.Request, chunk []byte, n int64) {
	for n < 0 || n > 0 {
		if _, err := w.Write(chunk); err != nil || r.Context().Err() != nil {
			return
		}
		n -= int64(len(chunk))
	}
}

func hostiles() []hostile {
	hostileBodies()
	comment := []byte("# " + strings.Repeat("x", 64<<10-3) + "\n")
	text := func(w http.ResponseWriter) { w.Header().Set("Content-Type", "text/plain; version=0.0.4") }
	return []hostile{
		{name: "endless", heavy: true, wantErr: "body_size_limit exceeded|timeout after", handler: func(w http.ResponseWriter, r *http.Request) {
			text(w)
			stream(w, r, comment, -1)
		}},
		{name: "1GB-chunked", heavy: true, wantErr: "body_size_limit exceeded", handler: func(w http.ResponseWriter, r *http.Request) {
			text(w)
			stream(w, r, comment, 1<<30)
		}},
		{name: "1GB-length", wantErr: "the body is 1073741824 bytes", handler: func(w http.ResponseWriter, r *http.Request) {
			text(w)
			w.Header().Set("Content-Length", strconv.Itoa(1<<30))
			stream(w, r, comment, 1<<30)
		}},
		{name: "gzip-bomb", heavy: true, wantErr: "body_size_limit exceeded: the body is larger than 67108864 bytes", handler: func(w http.ResponseWriter, r *http.Request) {
			text(w)
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(gzipBomb)
		}},
		{name: "million-series", heavy: true, wantErr: "sample_limit exceeded: more than 200000 samples", handler: func(w http.ResponseWriter, r *http.Request) {
			text(w)
			millionSeries(w)
		}},
		{name: "50MB-label", heavy: true, wantErr: "label_value_length_limit exceeded: a series of 52428807 bytes", handler: func(w http.ResponseWriter, r *http.Request) {
			text(w)
			io.WriteString(w, `m{l="`)
			stream(w, r, bytes.Repeat([]byte("v"), 1<<20), 50<<20)
			io.WriteString(w, "\"} 1\n")
		}},
		{name: "malformed", wantErr: "parse: ", handler: func(w http.ResponseWriter, r *http.Request) {
			text(w)
			io.WriteString(w, "ok 1\nthis is { not valid\n")
		}},
		{name: "bad-value", wantErr: "parse: ", handler: func(w http.ResponseWriter, r *http.Request) {
			text(w)
			io.WriteString(w, "x one\n")
		}},
		{name: "bad-gzip", wantErr: "gzip: ", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			io.WriteString(w, "not gzip at all")
		}},
		{name: "cut-short", wantErr: "unexpected EOF", handler: func(w http.ResponseWriter, r *http.Request) {
			text(w)
			w.Header().Set("Content-Length", "1000")
			io.WriteString(w, "x 1\n")
		}},
		{name: "status-500", wantErr: "server returned HTTP status 500 Internal Server Error", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}},
		{name: "redirect-loop", wantErr: "stopped after 10 redirects", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.Path, http.StatusFound)
		}},
		{name: "slow-loris", wantErr: "timeout after 1s reading the body", handler: func(w http.ResponseWriter, r *http.Request) {
			text(w)
			w.WriteHeader(http.StatusOK)
			for r.Context().Err() == nil {
				w.Write([]byte("#"))
				w.(http.Flusher).Flush()
				time.Sleep(50 * time.Millisecond)
			}
		}},
		{name: "silent", wantErr: "timeout after 1s", handler: func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
		}},
		// Valid, if unusual: Prometheus stores these, and so does archscope.
		{name: "nan-inf", wantUp: 1, handler: func(w http.ResponseWriter, r *http.Request) {
			text(w)
			io.WriteString(w, "a NaN\nb +Inf\nc -Inf\n")
		}},
		{name: "duplicates", wantUp: 1, handler: func(w http.ResponseWriter, r *http.Request) {
			text(w)
			io.WriteString(w, "d 1\nd 2\n")
		}},
		// A million distinct families with a line of help each and one
		// sample: valid, and the metadata kept stays within its bounds.
		{name: "million-help", heavy: true, wantUp: 1, handler: func(w http.ResponseWriter, r *http.Request) {
			text(w)
			w.Write(millionHelp)
		}},
	}
}

// Every hostile endpoint at once, beside a healthy one: each hostile target
// is down with a lastError that says why (or up, for the valid oddities),
// and the healthy target keeps being scraped on time throughout.
func TestHostileEndpoints(t *testing.T) {
	hs := hostiles()
	if raceEnabled {
		// Under the race detector, reading and parsing 64 MB bodies takes
		// longer than any sensible timeout; they run without it, beside
		// TestHostileMemory.
		hs = slices.DeleteFunc(hs, func(h hostile) bool { return h.heavy })
	}
	targets := []Target{}
	servers := map[string]string{}
	for _, h := range hs {
		srv := httptest.NewUnstartedServer(h.handler)
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.Start()
		t.Cleanup(srv.Close)
		servers[h.name] = srv.URL
		// A timeout of 1 s for the endpoints that are meant to hit it; 4 s
		// for the rest, so that on a loaded machine they fail for their
		// own reason first (a limit, a redirect loop), not the clock.
		timeout := 4 * time.Second
		if strings.HasPrefix(h.wantErr, "timeout") {
			timeout = time.Second
		}
		targets = append(targets, Target{Job: h.name, URL: srv.URL + "/metrics", Interval: 4 * time.Second, Timeout: timeout})
	}
	// A TLS server whose certificate nobody here trusts.
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "x 1\n") }))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	targets = append(targets, Target{Job: "tls-untrusted", URL: tlsSrv.URL + "/metrics", Interval: 4 * time.Second, Timeout: 4 * time.Second})
	// A port that accepts connections and never says a word.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held sync.WaitGroup
	var conns []net.Conn
	var connMu sync.Mutex
	held.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			connMu.Lock()
			conns = append(conns, c)
			connMu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		held.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	targets = append(targets, Target{Job: "tarpit", URL: "http://" + ln.Addr().String() + "/metrics", Interval: 2 * time.Second, Timeout: time.Second})

	healthy := textServer(t, func() string { return "fine 1\n" })
	targets = append(targets, Target{Job: "healthy", URL: healthy.URL, Interval: 250 * time.Millisecond, Timeout: 250 * time.Millisecond})

	var errMu sync.Mutex
	var healthyErrs []string
	m, rec := runManager(t, Options{OnScrape: func(h TargetHealth) {
		if h.Job == "healthy" && h.LastError != "" {
			errMu.Lock()
			healthyErrs = append(healthyErrs, h.LastError)
			errMu.Unlock()
		}
	}}, targets...)
	start := time.Now()
	deadline := start.Add(30 * time.Second)
	for {
		done := 0
		for _, h := range m.Targets() {
			if h.Health != HealthUnknown {
				done++
			}
		}
		if done == len(targets) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s only %d of %d targets were scraped", done, len(targets))
		}
		time.Sleep(50 * time.Millisecond)
	}
	elapsed := time.Since(start)

	want := map[string]hostile{}
	for _, h := range hs {
		want[h.name] = h
	}
	want["tls-untrusted"] = hostile{wantErr: "certificate signed by unknown authority"}
	want["tarpit"] = hostile{wantErr: "timeout after 1s"}
	for _, h := range m.Targets() {
		if h.Job == "healthy" {
			continue
		}
		w := want[h.Job]
		b := rec.last(h.Job)
		up, _ := value(b, "up")
		if up != w.wantUp {
			t.Errorf("%s: up = %v, want %v (lastError %q)", h.Job, up, w.wantUp, h.LastError)
		}
		if w.wantUp == 0 {
			if h.Health != HealthDown || !containsAny(h.LastError, w.wantErr) || !strings.Contains(h.LastError, h.ScrapeURL) {
				t.Errorf("%s: health %s, lastError %q; want down with %q and the URL", h.Job, h.Health, h.LastError, w.wantErr)
			}
			if len(b) != 5 {
				t.Errorf("%s: %d samples stored, want only the scrape's own 5", h.Job, len(b))
			}
		} else if h.Health != HealthUp || h.LastError != "" {
			t.Errorf("%s: health %s %q, want up", h.Job, h.Health, h.LastError)
		}
	}
	nanInf := rec.last("nan-inf")
	if a, _ := value(nanInf, "a"); !math.IsNaN(a) {
		t.Errorf("a = %v, want NaN", a)
	}
	if b, _ := value(nanInf, "b"); !math.IsInf(b, 1) {
		t.Errorf("b = %v, want +Inf", b)
	}
	if c, _ := value(nanInf, "c"); !math.IsInf(c, -1) {
		t.Errorf("c = %v, want -Inf", c)
	}
	if d, _ := value(rec.last("duplicates"), "d"); d != 1 {
		t.Errorf("duplicates: d = %v, want the first value, 1", d)
	}

	// The healthy target, on a 250 ms interval, kept its rhythm meanwhile:
	// at least half the scrapes it was due, every one up. (Its timeout is
	// its interval: the hostile parses share this machine's two cores.
	// Under the race detector, which slows everything many times, a few
	// of its scrapes may time out for want of CPU; up to one in five.)
	rec.mu.Lock()
	n, down := 0, 0
	for _, b := range rec.batches {
		if b[len(b)-1].Labels.Get("job") == "healthy" {
			n++
			if v, _ := value(b, "up"); v != 1 {
				down++
			}
		}
	}
	rec.mu.Unlock()
	due := int(elapsed / (250 * time.Millisecond))
	allowed := 0
	if raceEnabled {
		allowed = n / 5
	}
	if n < due/2 || down > allowed {
		errMu.Lock()
		defer errMu.Unlock()
		t.Errorf("healthy target: %d scrapes (%d down: %q) in %v, want at least %d, all up", n, down, healthyErrs, elapsed.Round(time.Millisecond), due/2)
	}
}

// memPeak samples the heap while fn runs and returns the largest growth of
// HeapInuse and of Sys (memory obtained from the OS) over the baseline.
func memPeak(fn func()) (heapGrowth, sysGrowth uint64) {
	runtime.GC()
	runtime.GC() // twice: the second empties sync.Pool's victim cache
	var base, ms runtime.MemStats
	runtime.ReadMemStats(&base)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var peakHeap, peakSys uint64
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peakHeap, peakSys = max(peakHeap, ms.HeapInuse), max(peakSys, ms.Sys)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	fn()
	close(stop)
	wg.Wait()
	return peakHeap - min(peakHeap, base.HeapInuse), peakSys - min(peakSys, base.Sys)
}

// The heavy hostile endpoints one at a time, each in a fresh process (this
// test binary, run again for one case) so that the figures start from a
// clean heap and nothing earlier tests left behind; the process's memory is
// sampled every 5 ms. The goal: less than 200 MB of growth for the worst.
// What grows is the scraper plus the test server streaming the body, which
// writes from small buffers.
func TestHostileMemory(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's shadow memory makes heap figures meaningless")
	}
	if name := os.Getenv("ARCHSCOPE_HOSTILE_CASE"); name != "" {
		hostileMemoryChild(t, name)
		return
	}
	const bound = 200 << 20
	for _, h := range hostiles() {
		if !h.heavy {
			continue
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestHostileMemory$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "ARCHSCOPE_HOSTILE_CASE="+h.name)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v\n%s", h.name, err, out)
			continue
		}
		var heap, sys uint64
		if i := bytes.Index(out, []byte("hostile-memory ")); i < 0 {
			t.Errorf("%s: no figures in\n%s", h.name, out)
			continue
		} else if _, err := fmt.Sscanf(string(out[i:]), "hostile-memory heap=%d sys=%d", &heap, &sys); err != nil {
			t.Errorf("%s: %v in\n%s", h.name, err, out)
			continue
		}
		t.Logf("%-15s heap in use grew %6.1f MB at its peak, memory from the OS %6.1f MB", h.name, float64(heap)/1e6, float64(sys)/1e6)
		if heap > bound {
			t.Errorf("%s: the heap grew by %d MB while scraping it; the bound is %d MB", h.name, heap>>20, bound>>20)
		}
	}
}

// hostileMemoryChild scrapes one hostile endpoint once and prints the
// growth for the parent to read.
func hostileMemoryChild(t *testing.T, name string) {
	var h hostile
	for _, c := range hostiles() {
		if c.name == name {
			h = c
		}
	}
	if h.handler == nil {
		t.Fatalf("no hostile case %q", name)
	}
	srv := httptest.NewServer(h.handler)
	defer srv.Close()
	heap, sys := memPeak(func() {
		m := NewManager(Options{Appender: &recorder{}})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- m.Run(ctx, []Target{{Job: h.name, URL: srv.URL + "/metrics", Interval: 2 * time.Second, Timeout: 2 * time.Second}})
		}()
		waitFor(t, h.name+" scraped", func() bool {
			ts := m.Targets()
			return len(ts) == 1 && ts[0].Health != HealthUnknown
		})
		if hh := m.Targets()[0]; !containsAny(hh.LastError, h.wantErr) {
			t.Errorf("%s: lastError %q, want %q", h.name, hh.LastError, h.wantErr)
		}
		cancel()
		<-done
	})
	fmt.Printf("hostile-memory heap=%d sys=%d\n", heap, sys)
}

// containsAny: s contains one of the |-separated alternatives.
func containsAny(s, alternatives string) bool {
	for _, a := range strings.Split(alternatives, "|") {
		if strings.Contains(s, a) {
			return true
		}
	}
	return false
}

func TestReadLimited(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 300_000) // 3 MB: spans chunks
	for _, tc := range []struct {
		name  string
		dst   []byte
		limit int64
		ok    bool
	}{
		{"exactly the limit", nil, int64(len(body)), true},
		{"one byte over", nil, int64(len(body)) - 1, false},
		{"fits the kept buffer", make([]byte, 0, 4<<20), int64(len(body)), true},
		{"over, in the kept buffer", make([]byte, 0, 4<<20), 1000, false},
		{"partly in the kept buffer", make([]byte, 0, 100_000), int64(len(body)), true},
	} {
		got, err := readLimited(tc.dst, bytes.NewReader(body), tc.limit)
		if tc.ok && (err != nil || !bytes.Equal(got, body)) {
			t.Errorf("%s: %d bytes, %v; want the body back", tc.name, len(got), err)
		}
		if !tc.ok && !errors.Is(err, errBodySizeLimit) {
			t.Errorf("%s: %v, want errBodySizeLimit", tc.name, err)
		}
	}
}
