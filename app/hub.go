package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// clientQueue bounds what one browser may fall behind by: 16 messages is
	// 16 s of live points. A client that lets it fill is dropped and, on
	// reconnecting, gets a fresh snapshot instead of a backlog.
	clientQueue  = 16
	writeTimeout = 5 * time.Second
	pingInterval = 30 * time.Second
	pongWait     = 2 * pingInterval
)

// hub fans live messages out to websocket clients. Each client has its own
// bounded queue and writer, so one slow browser never delays the others:
// broadcast never blocks.
type hub struct {
	logger   *slog.Logger
	snapshot func(context.Context) (snapshotMsg, error)
	upgrader websocket.Upgrader

	mu      sync.Mutex
	clients map[*client]struct{}
	closed  bool
	wg      sync.WaitGroup // one per connection being served
}

type outMsg struct {
	time float64 // points' time, used to skip what the snapshot already holds; 0 for others
	msg  *websocket.PreparedMessage
}

type client struct {
	send chan outMsg
	gone chan struct{} // closed when the hub drops the client
	once sync.Once
}

func (c *client) drop() { c.once.Do(func() { close(c.gone) }) }

func newHub(logger *slog.Logger, snapshot func(context.Context) (snapshotMsg, error)) *hub {
	return &hub{
		logger:   logger,
		snapshot: snapshot,
		clients:  make(map[*client]struct{}),
		upgrader: websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 16 << 10},
	}
}

// broadcast sends v to every client without blocking; pointsTime is the time
// of a points message (0 otherwise). v is encoded once, framed once, and the
// same bytes go to every client.
func (h *hub) broadcast(pointsTime float64, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		h.logger.Error("encode live message", "err", err)
		return
	}
	pm, err := websocket.NewPreparedMessage(websocket.TextMessage, data)
	if err != nil {
		h.logger.Error("frame live message", "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		select {
		case c.send <- outMsg{time: pointsTime, msg: pm}:
		default:
			h.logger.Warn("websocket client too slow; dropping it")
			delete(h.clients, c)
			c.drop()
		}
	}
}

func (h *hub) register(c *client) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.clients[c] = struct{}{}
	h.wg.Add(1)
	return true
}

func (h *hub) unregister(c *client) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
	c.drop()
	h.wg.Done()
}

// closeAll drops every client, refuses new ones, and waits until every
// connection's goroutines have returned.
func (h *hub) closeAll() {
	h.mu.Lock()
	h.closed = true
	for c := range h.clients {
		c.drop()
	}
	h.mu.Unlock()
	h.wg.Wait()
}

func (h *hub) clientCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// checkOrigin accepts the page's own host, the listed extra origins (the
// desktop window's wails://wails), and clients that send no Origin at all
// (not browsers, so not a cross-site risk).
func checkOrigin(logger *slog.Logger, extra []string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		if origin == "" || slices.Contains(extra, origin) {
			return true
		}
		if u, err := url.Parse(origin); err == nil && u.Host == r.Host {
			return true
		}
		logger.Warn("websocket refused: foreign origin", "origin", origin, "host", r.Host)
		return false
	}
}

// serve upgrades one connection and runs it: snapshot first, then queued live
// messages, with pings to notice dead peers.
func (h *hub) serve(w http.ResponseWriter, r *http.Request) {
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered with an error status
	}
	defer conn.Close()
	c := &client{send: make(chan outMsg, clientQueue), gone: make(chan struct{})}
	if !h.register(c) {
		return
	}
	defer h.unregister(c)

	// The reader notices closes and keeps pong deadlines; clients send nothing else.
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer c.drop()
		conn.SetReadLimit(4096)
		_ = conn.SetReadDeadline(time.Now().Add(pongWait))
		conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(pongWait)) })
		for {
			if _, _, err := conn.NextReader(); err != nil {
				return
			}
		}
	}()
	defer func() { conn.Close(); <-readerDone }()

	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	snap, err := h.snapshot(ctx)
	cancel()
	if err != nil {
		h.logger.Warn("websocket snapshot failed", "err", err)
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseInternalServerErr, "snapshot failed"), time.Now().Add(writeTimeout))
		return
	}
	if err := writeJSON(conn, snap); err != nil {
		return
	}
	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	for {
		select {
		case m := <-c.send:
			if m.time != 0 && m.time <= snap.End {
				continue // already in the snapshot
			}
			_ = conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := conn.WritePreparedMessage(m.msg); err != nil {
				return
			}
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				return
			}
		case <-c.gone:
			_ = conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second))
			return
		}
	}
}

func writeJSON(conn *websocket.Conn, v any) error {
	_ = conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return conn.WriteJSON(v)
}
