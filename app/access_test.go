package app

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

func TestIsLoopbackAddr(t *testing.T) {
	for _, tc := range []struct {
		addr     string
		loopback bool
	}{
		{"127.0.0.1:7777", true},
		{"127.0.0.2:7777", true},
		{"localhost:7777", true},
		{"[::1]:0", true},
		{"0.0.0.0:7777", false},
		{":7777", false}, // every interface
		{"[::]:7777", false},
		{"192.168.1.20:7777", false},
		{"archscope.example:7777", false}, // a name other than localhost may resolve anywhere
	} {
		got, err := isLoopbackAddr(tc.addr)
		if err != nil || got != tc.loopback {
			t.Errorf("isLoopbackAddr(%q) = %v, %v; want %v", tc.addr, got, err, tc.loopback)
		}
	}
	if _, err := isLoopbackAddr("127.0.0.1"); err == nil || !strings.Contains(err.Error(), "host:port") {
		t.Errorf("an address without a port: %v, want an error naming host:port", err)
	}
}

// TestNonLoopbackNeedsToken: --addr 0.0.0.0 without --token generates a
// token and prints it; with --token, that one is used; on loopback none is
// required.
func TestNonLoopbackNeedsToken(t *testing.T) {
	var log bytes.Buffer
	a, err := New(Options{Addr: "0.0.0.0:0", DataDir: t.TempDir(), NoDemo: true,
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	a.listener.Close()
	a.db.Close()
	if len(a.Token()) < 32 {
		t.Errorf("listening on all interfaces without --token: token %q, want a generated one of 128 bits", a.Token())
	} else if !strings.Contains(log.String(), "token="+a.Token()) {
		t.Errorf("the generated token was not printed; log:\n%s", log.String())
	}

	b := run(t, Options{Addr: "0.0.0.0:0", Token: "s3cret", NoDemo: true})
	if b.Token() != "s3cret" {
		t.Errorf("--token s3cret: token %q", b.Token())
	}
	if c := run(t, Options{NoDemo: true}); c.Token() != "" {
		t.Errorf("on loopback without --token: token %q, want none", c.Token())
	}
}

// TestSharedScreenAccess: archscope on every interface, as on a shared
// screen. Viewers read everything without the token and the page learns it
// is read-only; changes need the token and are refused with a JSON error
// that says how to give it, changing nothing; the live stream checks Origin.
func TestSharedScreenAccess(t *testing.T) {
	a := run(t, Options{Addr: "0.0.0.0:0"})
	base, token := a.loopbackURL(), a.Token()

	for _, path := range []string{"/healthz", "/api/v1/demo/config", "/api/v1/annotations", "/api/v1/query?query=1", "/api/v1/targets"} {
		if code, body := call(t, "GET", base+path, "", ""); code != 200 {
			t.Errorf("a viewer's GET %s: %d %s, want 200", path, code, body)
		}
	}
	for _, tc := range []struct {
		who, token string
		readOnly   bool
	}{
		{"a viewer", "", true},
		{"a wrong token", "not-it", true},
		{"the token", token, false},
	} {
		_, body := call(t, "GET", base+"/api/config", "", tc.token)
		var c configJSON
		if err := json.Unmarshal(body, &c); err != nil {
			t.Fatalf("/api/config: %v: %s", err, body)
		}
		if c.ReadOnly != tc.readOnly {
			t.Errorf("/api/config for %s: read_only %v, want %v", tc.who, c.ReadOnly, tc.readOnly)
		}
	}

	changes := []struct{ method, path, body string }{
		{"PUT", "/api/v1/demo/config", `{"cache":{"enabled":true}}`},
		{"POST", "/api/v1/annotations", `{"text":"deployed v2"}`},
	}
	for _, ch := range changes {
		for _, tok := range []string{"", "not-it"} {
			code, body := call(t, ch.method, base+ch.path, ch.body, tok)
			var e apiResponse
			_ = json.Unmarshal(body, &e)
			if code != 401 || e.Status != "error" || e.ErrorType != "unauthorized" ||
				!strings.Contains(e.Error, "Authorization: Bearer <token>") || !strings.Contains(e.Error, "?token=") {
				t.Errorf("%s %s with token %q: %d %s, want 401 with a JSON error saying how to give the token", ch.method, ch.path, tok, code, body)
			}
		}
	}
	// The refused changes changed nothing.
	if _, body := call(t, "GET", base+"/api/v1/demo/config", "", ""); !strings.Contains(string(body), `"cache":{"enabled":false`) {
		t.Errorf("after refused changes the cache is not off: %s", body)
	}
	if _, body := call(t, "GET", base+"/api/v1/annotations", "", ""); strings.Contains(string(body), "deployed v2") {
		t.Errorf("a refused annotation was stored: %s", body)
	}
	for _, ch := range changes {
		if code, body := call(t, ch.method, base+ch.path, ch.body, token); code != 200 {
			t.Errorf("%s %s with the token: %d %s, want 200", ch.method, ch.path, code, body)
		}
	}
	if _, body := call(t, "GET", base+"/api/v1/demo/config", "", ""); !strings.Contains(string(body), `"cache":{"enabled":true`) {
		t.Errorf("after the change with the token the cache is not on: %s", body)
	}

	// A viewer's live stream needs no token; another site's page gets none.
	ws := "ws" + strings.TrimPrefix(base, "http") + "/ws"
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{base, true},                   // the page itself
		{"", true},                     // not a browser
		{"http://evil.example", false}, // another site
		{"wails://wails", false},       // the desktop window's, accepted only when it asks for it
		{"http://127.0.0.1:1", false},  // same host, another port: another origin
		{"null", false},                // a sandboxed or file: page
	} {
		hdr := http.Header{}
		if tc.origin != "" {
			hdr.Set("Origin", tc.origin)
		}
		c, resp, err := websocket.DefaultDialer.Dial(ws, hdr)
		if tc.ok {
			if err != nil {
				t.Errorf("websocket with Origin %q: %v, want it accepted", tc.origin, err)
				continue
			}
			var m liveMsg
			if err := c.ReadJSON(&m); err != nil || m.Type != "snapshot" {
				t.Errorf("websocket with Origin %q: first message %q (%v), want the snapshot", tc.origin, m.Type, err)
			}
			c.Close()
		} else if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			if c != nil {
				c.Close()
			}
			t.Errorf("websocket with Origin %q: %v, want 403", tc.origin, err)
		}
	}
}

// TestDesktopOriginAccepted: the desktop window's page has the Origin
// wails://wails, accepted when the App is told so.
func TestDesktopOriginAccepted(t *testing.T) {
	a := run(t, Options{NoDemo: true, ExtraOrigins: []string{"wails://wails"}})
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(a.URL(), "http")+"/ws", http.Header{"Origin": {"wails://wails"}})
	if err != nil {
		t.Fatalf("websocket from the desktop window: %v", err)
	}
	c.Close()
}

// call makes one request, with a bearer token when token is not empty.
func call(t *testing.T, method, u, body, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("%s %s: 401 without WWW-Authenticate", method, u)
	}
	return resp.StatusCode, out
}

// TestAnnotationsTakeJSONOnly: on loopback no token is needed, so a form
// another site posts (no CORS preflight) must not add a marker.
func TestAnnotationsTakeJSONOnly(t *testing.T) {
	a := run(t, Options{})
	resp, err := http.Post(a.URL()+"/api/v1/annotations", "text/plain", strings.NewReader(`{"text":"from elsewhere"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("a text/plain annotation: %d, want 415", resp.StatusCode)
	}
	if _, body := call(t, "GET", a.URL()+"/api/v1/annotations", "", ""); strings.Contains(string(body), "from elsewhere") {
		t.Errorf("a cross-site annotation was stored: %s", body)
	}
}
