package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func testHub(t *testing.T) (*hub, *httptest.Server) {
	t.Helper()
	h := newHub(slog.New(slog.NewTextHandler(io.Discard, nil)), func(context.Context) (snapshotMsg, error) {
		return snapshotMsg{Type: "snapshot", Series: map[string][][2]*float64{}, End: 100}, nil
	})
	h.upgrader.CheckOrigin = checkOrigin(h.logger, []string{"wails://wails"})
	srv := httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(func() { h.closeAll(); srv.Close() })
	return h, srv
}

func dial(t *testing.T, srv *httptest.Server, origin string) *websocket.Conn {
	t.Helper()
	hdr := http.Header{}
	if origin != "" {
		hdr.Set("Origin", origin)
	}
	c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), hdr)
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Fatalf("dial (origin %q): %v (status %d)", origin, err, code)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func waitClients(t *testing.T, h *hub, n int) {
	t.Helper()
	for i := 0; i < 200 && h.clientCount() != n; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if got := h.clientCount(); got != n {
		t.Fatalf("%d clients, want %d", got, n)
	}
}

// TestHubSlowClientDoesNotStallOthers: one browser stops reading while three
// read as they should. The test runs in lockstep: point i is broadcast only
// after every fast client has received point i-1, so any wait on the stalled
// client (a blocking broadcast, a shared writer) would stop the fast ones
// from ever getting the next point. They must receive every point, in order,
// before and after the stalled one is dropped; the stalled one must be
// dropped (its connection closed after an in-order prefix), not left to grow.
func TestHubSlowClientDoesNotStallOthers(t *testing.T) {
	h, srv := testHub(t)
	slow := dial(t, srv, "") // never read until the end: its socket buffers, then its queue, fill up
	fast := make([]*websocket.Conn, 3)
	for i := range fast {
		fast[i] = dial(t, srv, "")
		var first map[string]any
		if err := fast[i].ReadJSON(&first); err != nil || first["type"] != "snapshot" {
			t.Fatalf("fast client %d: first message %v (%v), want the snapshot", i, first, err)
		}
	}
	waitClients(t, h, len(fast)+1)

	// 64 KiB points. The slow client is dropped once the kernel's buffers
	// both ways and then its queue of 16 are full; maxPoints is far beyond
	// what loopback TCP buffers on any machine, and afterPoints more prove the
	// fast clients carry on after the drop.
	const (
		size        = 64 << 10
		maxPoints   = (256 << 20) / size
		afterPoints = 20
	)
	pad := strings.Repeat("x", size)
	droppedAt := 0
	last := 0
	for i := 1; i <= maxPoints && (droppedAt == 0 || i <= droppedAt+afterPoints); i++ {
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			h.broadcast(float64(100+i), struct {
				Type string `json:"type"`
				Time int    `json:"time"`
				Pad  string `json:"pad"`
			}{"points", 100 + i, pad})
		}()
		// Hang guards, not timing assertions: a stall means the point never comes.
		for k, c := range fast {
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, data, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("fast client %d: no point %d (%v) while the slow client stalls", k, i, err)
			}
			if got := pointTime(data); got != 100+i {
				t.Fatalf("fast client %d: got point %d, want %d: a point was lost or reordered", k, got, 100+i)
			}
		}
		select {
		case <-sent:
		case <-time.After(30 * time.Second):
			t.Fatalf("broadcast of point %d never returned: it waits for the stalled client", i)
		}
		if droppedAt == 0 && h.clientCount() == len(fast) {
			droppedAt = i
		}
		last = i
	}
	if droppedAt == 0 {
		t.Fatalf("the stalled client was never dropped after %d points of %d KiB", last, size>>10)
	}
	if n := h.clientCount(); n != len(fast) {
		t.Fatalf("%d clients after the run, want the %d fast ones", n, len(fast))
	}

	// The stalled client gets what was already on its way, in order, then the close.
	_ = slow.SetReadDeadline(time.Now().Add(30 * time.Second))
	got := 0
	for {
		_, data, err := slow.ReadMessage()
		if err != nil {
			if websocket.IsUnexpectedCloseError(err, websocket.CloseGoingAway, websocket.CloseAbnormalClosure) {
				t.Errorf("the stalled client was closed with %v, want going away or a dropped connection", err)
			}
			break
		}
		if pt := pointTime(data); pt == 0 && got == 0 {
			continue // the snapshot
		} else if pt != 101+got {
			t.Fatalf("the stalled client got point %d after %d in order, want %d", pt, got, 101+got)
		}
		got++
	}
	if got == 0 || got >= droppedAt {
		t.Errorf("the stalled client received %d points, want some but fewer than the %d sent before it was dropped", got, droppedAt)
	}
	t.Logf("stalled client dropped at point %d after receiving %d; fast clients received all %d", droppedAt, got, last)
}

// pointTime reads the time of a points message from its head ("type" is
// encoded first, then "time"), without decoding a large body; 0 if none.
func pointTime(data []byte) int {
	const head = `{"type":"points","time":`
	rest, ok := bytes.CutPrefix(data, []byte(head))
	if !ok {
		return 0
	}
	if i := bytes.IndexAny(rest, ",}"); i > 0 {
		n, _ := strconv.Atoi(string(rest[:i]))
		return n
	}
	return 0
}

// TestHubSkipsPointsInSnapshot: a point no newer than the snapshot's end is
// not sent again.
func TestHubSkipsPointsInSnapshot(t *testing.T) {
	h, srv := testHub(t)
	c := dial(t, srv, "")
	var m map[string]any
	if err := c.ReadJSON(&m); err != nil {
		t.Fatal(err)
	}
	waitClients(t, h, 1)
	h.broadcast(99, pointsMsg{Type: "points", Time: 99})
	h.broadcast(0, annotationMsg{Type: "annotation", Annotation: annotationJSON{Time: 99.5, Text: "x"}})
	h.broadcast(101, pointsMsg{Type: "points", Time: 101})
	for _, want := range []string{`"annotation"`, `"time":101`} {
		_, data, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), want) {
			t.Errorf("got %s, want a message with %s", data, want)
		}
	}
}

func TestHubChecksOrigin(t *testing.T) {
	_, srv := testHub(t)
	dial(t, srv, srv.URL)         // the page's own origin
	dial(t, srv, "wails://wails") // the desktop window
	hdr := http.Header{"Origin": {"http://evil.example"}}
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), hdr)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a foreign origin was not refused with 403: %v", err)
	}
}

func TestPointsJSONUsesNullForNoData(t *testing.T) {
	v := 0.25
	b, _ := json.Marshal(pointsMsg{Type: "points", Time: 1.5, Values: map[string]*float64{"p99": &v, "errors": finite(math.NaN())}})
	if want := `{"type":"points","time":1.5,"values":{"errors":null,"p99":0.25}}`; string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}
