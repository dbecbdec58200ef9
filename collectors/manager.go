package collectors

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Manager.
type Options struct {
	Appender   Appender
	Logger     *slog.Logger
	Registerer prometheus.Registerer // for archscope's own scrape metrics; may be nil
	OnScrape   func(TargetHealth)    // called after each scrape is stored; may be nil
}

// Manager runs the scrape loops.
type Manager struct {
	opts    Options
	metrics *metrics
	client  *http.Client

	mu    sync.Mutex
	loops []*loop
}

// NewManager returns a Manager that stores into opts.Appender.
func NewManager(opts Options) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{
		opts:    opts,
		metrics: newMetrics(opts.Registerer),
		client: &http.Client{
			Transport: &http.Transport{
				Proxy:               nil, // targets are reached directly, as configured
				MaxIdleConnsPerHost: 2,
				IdleConnTimeout:     time.Minute,
			},
			// Prometheus follows redirects; ten is net/http's own bound.
		},
	}
}

// Run validates the targets, scrapes each on its own loop until ctx is done,
// and returns once every loop has stopped. It returns an error, before
// scraping anything, when a target is invalid; otherwise nil.
func (m *Manager) Run(ctx context.Context, targets []Target) error {
	loops := make([]*loop, 0, len(targets))
	seen := make(map[[2]string]bool, len(targets))
	for _, t := range targets {
		t, err := t.withDefaults()
		if err != nil {
			return err
		}
		key := [2]string{t.Job, t.URL}
		if seen[key] {
			return fmt.Errorf("target %s %s: %w; list each endpoint once per job", t.Job, t.URL, errDuplicateTarget)
		}
		seen[key] = true
		loops = append(loops, newLoop(t, m.client, m.opts.Appender, m.opts.Logger, m.metrics, m.opts.OnScrape))
	}
	m.mu.Lock()
	m.loops = loops
	m.mu.Unlock()

	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Go(func() { l.run(ctx) })
	}
	<-ctx.Done() // also with no targets, so Run's lifetime is always ctx's
	wg.Wait()
	m.client.CloseIdleConnections()
	return nil
}

// Targets returns every target's health, sorted by job then URL.
func (m *Manager) Targets() []TargetHealth {
	m.mu.Lock()
	loops := m.loops
	m.mu.Unlock()
	out := make([]TargetHealth, 0, len(loops))
	for _, l := range loops {
		out = append(out, l.snapshot())
	}
	slices.SortFunc(out, func(a, b TargetHealth) int {
		return cmp.Or(cmp.Compare(a.Job, b.Job), cmp.Compare(a.ScrapeURL, b.ScrapeURL))
	})
	return out
}
