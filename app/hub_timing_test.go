package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Live benchmarks pace themselves like the live stream: one iteration is one
// second of wall time (one points message), so ns/op is ~1e9 by design and
// the figures that matter are the reported metrics. Run them with a count of
// iterations: go test -run '^$' -bench 'Fanout|ScrapeToBrowser' -benchtime 60x ./app/

// fanoutClients is how many browsers watch one shared screen.
const fanoutClients = 100

// BenchmarkHubFanout: 100 real websocket clients (gorilla, over loopback, in
// a child process so their reading is not counted) each receive a points
// message of ~200 series once a second. cpu-%-of-core is this process's CPU
// time (user + system, getrusage) over the wall time of the run: the cost of
// encoding each message and writing it to every browser. Every client must
// receive every message, or the benchmark fails.
func BenchmarkHubFanout(b *testing.B) {
	h := newHub(slog.New(slog.NewTextHandler(io.Discard, nil)), func(context.Context) (snapshotMsg, error) {
		return snapshotMsg{Type: "snapshot", Series: map[string][][2]*float64{}}, nil
	})
	srv := httptest.NewServer(http.HandlerFunc(h.serve))
	defer srv.Close()

	child := exec.Command(os.Args[0], "-test.run=^TestFanoutClients$", "-test.count=1")
	child.Env = append(os.Environ(),
		"ARCHSCOPE_FANOUT_WS=ws"+strings.TrimPrefix(srv.URL, "http"),
		"ARCHSCOPE_FANOUT_N="+strconv.Itoa(fanoutClients))
	out, err := child.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
	counts := make(chan []int, 1)
	go func() { counts <- readCounts(out) }()
	for deadline := time.Now().Add(30 * time.Second); h.clientCount() < fanoutClients; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d clients connected", h.clientCount(), fanoutClients)
		}
	}

	msg := fanoutMsg(200)
	encoded, err := json.Marshal(msg)
	if err != nil {
		b.Fatal(err)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	<-tick.C
	before := cpuTime()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		msg.Time = float64(1000 + i)
		h.broadcast(msg.Time, msg)
		<-tick.C
	}
	wall := time.Since(start)
	cpu := cpuTime() - before
	b.StopTimer()
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu-%-of-core")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
	b.ReportMetric(float64(len(encoded)), "msg-bytes")

	if n := h.clientCount(); n != fanoutClients {
		b.Errorf("%d of %d clients still connected: the hub dropped some", n, fanoutClients)
	}
	h.closeAll() // each client then sees a close and reports its count
	got := <-counts
	if err := child.Wait(); err != nil {
		b.Fatalf("client process: %v", err)
	}
	if len(got) != fanoutClients {
		b.Fatalf("%d clients reported, want %d", len(got), fanoutClients)
	}
	for i, c := range got {
		if c != b.N {
			b.Fatalf("client %d received %d points, want %d", i, c, b.N)
		}
	}
}

// fanoutMsg is a points message like the demo's: the dashboard's 7 panels
// and per-service and per-edge stats, series in all.
func fanoutMsg(series int) pointsMsg {
	m := pointsMsg{Type: "points", Values: map[string]*float64{}, Stats: map[string]float64{}}
	for i, p := range livePanels {
		v := 0.0123 * float64(i+1)
		m.Values[p.ID] = &v
	}
	for i := 0; len(m.Values)+len(m.Stats) < series; i++ {
		st := liveStats[i%len(liveStats)]
		m.Stats[fmt.Sprintf("%s:svc%d>svc%d", st.ID, i, i+1)] = 123.456789 * float64(i)
	}
	return m
}

func readCounts(r io.Reader) []int {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "fanout counts:"); ok {
			var out []int
			for _, f := range strings.Fields(rest) {
				n, _ := strconv.Atoi(f)
				out = append(out, n)
			}
			io.Copy(io.Discard, r)
			return out
		}
	}
	return nil
}

// cpuTime is this process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestFanoutClients is the browsers of BenchmarkHubFanout, run by it in a
// child process; on its own it has nothing to do. Each client reads and
// discards until the server closes, then the counts of points messages are
// printed on one line.
func TestFanoutClients(t *testing.T) {
	u := os.Getenv("ARCHSCOPE_FANOUT_WS")
	if u == "" {
		t.Skip("the client side of BenchmarkHubFanout")
	}
	n, err := strconv.Atoi(os.Getenv("ARCHSCOPE_FANOUT_N"))
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		c, _, err := websocket.DefaultDialer.Dial(u, nil)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			for {
				_, r, err := c.NextReader()
				if err != nil {
					return
				}
				// Peek at the type without decoding: the server's CPU is
				// what is measured, but the clients share the machine.
				var head [32]byte
				k, _ := io.ReadFull(r, head[:])
				if strings.HasPrefix(string(head[:k]), `{"type":"points"`) {
					counts[i]++
				}
				io.Copy(io.Discard, r)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("\nfanout counts:%s\n", strings.Trim(fmt.Sprint(counts), "[]"))
}
