package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
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

// TestHubSlowClientDoesNotStallOthers: one browser stops reading; the others
// keep receiving every message, broadcast never blocks, and the stalled one
// is dropped once its bounded queue is full.
func TestHubSlowClientDoesNotStallOthers(t *testing.T) {
	h, srv := testHub(t)
	fast := dial(t, srv, "")
	slow := dial(t, srv, "")
	_ = slow // never read: its socket buffers and then its queue fill up
	var first map[string]any
	if err := fast.ReadJSON(&first); err != nil || first["type"] != "snapshot" {
		t.Fatalf("first message %v (%v), want the snapshot", first, err)
	}
	waitClients(t, h, 2)

	// 64 KiB points, enough of them to overflow the kernel's socket buffers
	// and then the slow client's queue.
	const n = 400
	pad := strings.Repeat("x", 64<<10)
	received := make(chan int, n)
	go func() {
		defer close(received)
		for count := 1; count <= n; count++ {
			var m struct {
				Type string  `json:"type"`
				Time float64 `json:"time"`
			}
			if err := fast.ReadJSON(&m); err != nil {
				return
			}
			received <- count
		}
	}()
	// The fast client reads as it should: the test never lets it fall more
	// than 4 messages behind (so its queue of 16 cannot fill however slow the
	// machine is), while the slow client falls behind without bound.
	got := 0
	for i := 0; i < n; i++ {
		h.broadcast(float64(101+i), map[string]any{"type": "points", "time": 101 + i, "pad": pad})
		for got < i-4 {
			c, ok := <-received
			if !ok {
				t.Fatalf("the fast client stopped after %d of %d messages", got, n)
			}
			got = c
		}
	}
	for c := range received {
		got = c
	}
	if got != n {
		t.Fatalf("the fast client received %d of %d messages", got, n)
	}
	waitClients(t, h, 1)
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
