package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"golang.org/x/sync/errgroup"

	scrape "github.com/archscope/archscope/collectors"
	"github.com/archscope/archscope/simulator"
	"github.com/archscope/archscope/storage"
)

// Version is archscope's version, reported by /api/config and the CLI.
const Version = "0.1.0"

// Options configure an App. The zero value of every field but Assets has a
// usable default.
type Options struct {
	Addr    string // listen address; default 127.0.0.1:7777, ":0" style ports allowed
	DataDir string // where the bbolt history lives; created if missing
	Token   string // bearer token for changes; required (generated if empty) off loopback
	NoDemo  bool   // do not run the demo shop
	Assets  fs.FS  // the built frontend (index.html at its root)
	Logger  *slog.Logger

	// AbsoluteWSURL makes /api/config announce ws://<listen addr>/ws instead of
	// "same origin"; the desktop window needs it.
	AbsoluteWSURL bool
	// ExtraOrigins are websocket Origins accepted besides the page's own host,
	// e.g. "wails://wails" for the desktop window.
	ExtraOrigins []string
	// ScrapeInterval of the demo target; default 1s.
	ScrapeInterval time.Duration
	// Targets are scraped besides the demo.
	Targets []scrape.Target
	// ConfigFile is a prometheus.yml (--config) whose scrape_configs are
	// scraped besides the demo; reloaded by ReloadConfig (SIGHUP, POST
	// /-/reload), its file_sd files followed as they change.
	ConfigFile string
	// FileSDPoll is how often the file_sd files are looked at; default 5s.
	FileSDPoll time.Duration
	// Retention deletes history older than this (DefaultRetention for
	// serve); zero keeps everything.
	Retention time.Duration
	// RetentionSize bounds the history's data in bytes, oldest deleted
	// first; zero: no bound.
	RetentionSize int64
}

// DefaultRetention is how long serve keeps history unless told otherwise,
// as Prometheus.
const DefaultRetention = 15 * 24 * time.Hour

// App is a running archscope: storage, demo shop, scrape loops, query engine
// and the HTTP server over them.
type App struct {
	opts     Options
	logger   *slog.Logger
	listener net.Listener
	db       *storage.DB
	shop     *simulator.Shop // nil with NoDemo
	scraper  *scrape.Manager
	reloader *scrape.Reloader // nil without ConfigFile
	engine   *promql.Engine
	parser   parser.Parser // for match[] selectors
	hub      *hub
	reg      *prometheus.Registry
	handler  http.Handler

	liveDelay prometheus.Histogram // scrape start → live point handed to every client's queue
	lastLive  atomic.Int64         // Unix ms of the last demo scrape stored, where snapshots end; 0 before the first

	knobMu      sync.Mutex       // serialises config changes so annotations read old → new in order
	lastShopCfg simulator.Config // the shop's knobs as last annotated; guarded by knobMu
}

// New opens the history, binds the listener and builds every part, but starts
// nothing; Run does. On error nothing is left open.
func New(opts Options) (a *App, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:7777"
	}
	if opts.ScrapeInterval == 0 {
		opts.ScrapeInterval = time.Second
	}
	if opts.DataDir == "" {
		if opts.DataDir, err = DefaultDataDir(); err != nil {
			return nil, err
		}
	}
	loopback, err := isLoopbackAddr(opts.Addr)
	if err != nil {
		return nil, err
	}
	if !loopback && opts.Token == "" {
		opts.Token = newToken()
		opts.Logger.Warn("listening beyond loopback: changes need this token (pass --token to choose one)",
			"token", opts.Token)
	}
	if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}

	a = &App{opts: opts, logger: opts.Logger, reg: prometheus.NewRegistry()}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	a.db, err = storage.Open(filepath.Join(opts.DataDir, "archscope.db"), &storage.Options{
		Logger:        opts.Logger.With("component", "storage"),
		Retention:     opts.Retention,
		RetentionSize: opts.RetentionSize,
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			a.db.Close()
		}
	}()
	if !opts.NoDemo {
		a.shop, err = simulator.New(simulator.DefaultConfig(), opts.Logger.With("component", "simulator"))
		if err != nil {
			return nil, fmt.Errorf("demo shop: %w", err)
		}
		a.lastShopCfg = a.shop.Config()
	}
	a.parser = parser.NewParser(parser.Options{})
	a.engine = promql.NewEngine(promql.EngineOpts{
		Parser:               a.parser,
		Logger:               opts.Logger.With("component", "promql"),
		Reg:                  a.reg,
		MaxSamples:           50_000_000,
		Timeout:              30 * time.Second,
		LookbackDelta:        5 * time.Minute,
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
	})
	a.hub = newHub(a.logger.With("component", "hub"), a.snapshot)
	a.liveDelay = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "archscope_live_delay_seconds",
		Help:    "From the start of a demo scrape to its live point being queued for every browser.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
	})
	a.reg.MustRegister(a.liveDelay)
	a.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "archscope_ws_clients",
		Help: "Browsers connected to the live stream.",
	}, func() float64 { return float64(a.hub.clientCount()) }))
	a.scraper = scrape.NewManager(scrape.Options{
		Appender:   a.db,
		Logger:     opts.Logger.With("component", "collectors"),
		Registerer: a.reg,
		OnScrape:   a.onScrape,
	})
	if opts.ConfigFile != "" {
		a.reloader, err = scrape.NewReloader(scrape.ReloaderOptions{
			File: opts.ConfigFile, Manager: a.scraper, Logger: opts.Logger.With("component", "config"),
			Registerer: a.reg, PollInterval: opts.FileSDPoll,
		})
		if err != nil {
			return nil, err
		}
	}
	a.handler = a.routes()

	a.listener, err = net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", opts.Addr, err)
	}
	return a, nil
}

// URL is the base URL the App serves on, e.g. http://127.0.0.1:7777.
func (a *App) URL() string { return "http://" + a.listener.Addr().String() }

// Handler serves everything the App serves; the desktop window's asset server
// falls back to it for API calls.
func (a *App) Handler() http.Handler { return a.handler }

// Token is the bearer token changes need, empty when none is required.
func (a *App) Token() string { return a.opts.Token }

// demoTarget is the demo shop as a scrape target: over loopback HTTP, like any
// other target.
func (a *App) demoTarget() scrape.Target {
	return scrape.Target{
		Job:      "demo",
		URL:      a.loopbackURL() + "/demo/metrics",
		Interval: a.opts.ScrapeInterval,
		Timeout:  a.opts.ScrapeInterval,
	}
}

// loopbackURL reaches this process's listener over loopback even when it
// listens on all interfaces.
func (a *App) loopbackURL() string {
	addr := a.listener.Addr().(*net.TCPAddr)
	host := addr.IP
	if host.IsUnspecified() {
		host = net.IPv4(127, 0, 0, 1)
	}
	return "http://" + net.JoinHostPort(host.String(), fmt.Sprint(addr.Port))
}

// Run serves until ctx is done, then stops every part, waits for it, and
// closes the history. It returns the first error that stopped a part early.
func (a *App) Run(ctx context.Context) error {
	defer a.db.Close()
	// Mark the start on the charts (before serving, so every reader sees
	// it): history from before a restart stays, but the demo shop starts
	// afresh at its defaults.
	started := "archscope started"
	if a.shop != nil {
		c := a.shop.Config()
		started += fmt.Sprintf(" · demo shop: cache %s, %g req/s", onOff(c.Cache.Enabled), c.ArrivalRate)
	}
	a.annotate(storage.Annotation{Time: time.Now().UnixMilli(), Text: started, Tags: []string{"lifecycle"}})

	if a.shop != nil {
		if err := a.scraper.SetTargets(sourceDemo, []scrape.Target{a.demoTarget()}); err != nil {
			return fmt.Errorf("demo target: %w", err)
		}
	}
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(a.listener); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		a.hub.closeAll()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	})
	if a.shop != nil {
		g.Go(func() error { return a.shop.Run(ctx) })
		g.Go(func() error { return a.watchShop(ctx) })
	}
	g.Go(func() error { return a.scraper.Run(ctx, a.opts.Targets) })
	if a.reloader != nil {
		g.Go(func() error { return a.reloader.Run(ctx) })
	}
	a.logger.Info("archscope serving", "url", a.URL(), "data", a.opts.DataDir, "demo", a.shop != nil)
	return g.Wait()
}

// ReloadConfig re-reads the --config file and its file_sd files, as
// Prometheus does on SIGHUP. On an error the previous config stays in force.
func (a *App) ReloadConfig() error { return a.reloader.Reload() }

// DefaultDataDir is the per-user data directory: $XDG_DATA_HOME/archscope, or
// ~/.local/share/archscope on Linux, the user config dir elsewhere.
func DefaultDataDir() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "archscope"), nil
	}
	home, err := os.UserHomeDir()
	if err == nil && home != "" && runtime.GOOS == "linux" {
		return filepath.Join(home, ".local", "share", "archscope"), nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no per-user data directory (%v): pass --data DIR", err)
	}
	return filepath.Join(d, "archscope"), nil
}

func isLoopbackAddr(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("listen address %q: %w (want host:port, e.g. 127.0.0.1:7777)", addr, err)
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
