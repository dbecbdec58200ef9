package app

import (
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// liveMsg is any message of the live stream, as the page decodes it.
type liveMsg struct {
	Type   string                   `json:"type"`
	Time   float64                  `json:"time"`
	Values map[string]*float64      `json:"values"`
	Series map[string][][2]*float64 `json:"series"`
}

// dialLive opens the App's live stream as the page does and reads its snapshot.
func dialLive(t testing.TB, a *App) (*websocket.Conn, liveMsg) {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(a.URL(), "http")+"/ws", http.Header{"Origin": {a.URL()}})
	if err != nil {
		t.Fatalf("dial the live stream: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	snap := readLive(t, c)
	if snap.Type != "snapshot" {
		t.Fatalf("first message %q, want the snapshot", snap.Type)
	}
	return c, snap
}

// readLive reads the next message; the deadline is a hang guard only.
func readLive(t testing.TB, c *websocket.Conn) liveMsg {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var m liveMsg
	if err := c.ReadJSON(&m); err != nil {
		t.Fatalf("read the live stream: %v", err)
	}
	return m
}

// nextPoints skips annotations to the next points message.
func nextPoints(t testing.TB, c *websocket.Conn) liveMsg {
	t.Helper()
	for {
		if m := readLive(t, c); m.Type == "points" {
			return m
		}
	}
}

// TestResumeAfterDisconnectHasNoGap: a page receives points, loses its
// connection while the app goes on scraping, and reconnects. Its new
// snapshot must hold a point, with a value on every panel, for each scrape it
// missed (as a witness that stayed connected saw them), step by step without
// a hole, and the live points must go on from the scrape right after the
// snapshot's last one.
func TestResumeAfterDisconnectHasNoGap(t *testing.T) {
	const interval = 250 * time.Millisecond
	a := run(t, Options{ScrapeInterval: interval})
	witness, _ := dialLive(t, a)
	first, _ := dialLive(t, a)
	var lastSeen float64
	for range 3 {
		lastSeen = nextPoints(t, first).Time
	}
	first.Close()

	// The witness has seen every point; wait for 8 scrapes the page missed.
	var missed []float64
	for len(missed) < 8 {
		if m := nextPoints(t, witness); m.Time > lastSeen {
			missed = append(missed, m.Time)
		}
	}

	second, snap := dialLive(t, a)
	for _, p := range livePanels {
		series := snap.Series[p.ID]
		if len(series) == 0 {
			t.Fatalf("snapshot has no %s points", p.ID)
		}
		// Consecutive points one step apart, from before the disconnect on.
		for i := 1; i < len(series); i++ {
			if t0, t1 := *series[i-1][0], *series[i][0]; t1 > lastSeen-1 && math.Round((t1-t0)*1000) != float64(interval.Milliseconds()) {
				t.Errorf("%s: snapshot points at %.3f and %.3f, want %v apart", p.ID, t0, t1, interval)
			}
		}
		for _, ts := range missed {
			v, ok := pointNear(series, ts, interval.Seconds()/2)
			if !ok {
				t.Errorf("%s: snapshot has no point for the missed scrape at %.3f (snapshot %.3f–%.3f)",
					p.ID, ts, *series[0][0], *series[len(series)-1][0])
			} else if v == nil {
				t.Errorf("%s: snapshot point for the missed scrape at %.3f has no value", p.ID, ts)
			}
		}
	}

	// The live stream resumes with the very next scrape after the snapshot.
	end := *snap.Series["throughput"][len(snap.Series["throughput"])-1][0]
	resumed := nextPoints(t, second).Time
	next := missed[len(missed)-1]
	for next <= end {
		next = nextPoints(t, witness).Time
	}
	if resumed != next {
		t.Errorf("after a snapshot ending at %.3f the page's first point is at %.3f, want the next scrape's, %.3f", end, resumed, next)
	}
}

// pointNear returns the value of the point within tol seconds of ts.
func pointNear(series [][2]*float64, ts, tol float64) (*float64, bool) {
	for _, p := range series {
		if math.Abs(*p[0]-ts) <= tol {
			return p[1], true
		}
	}
	return nil, false
}
