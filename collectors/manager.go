package collectors

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
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

// Manager runs the scrape loops: one per target, keyed by job and URL.
// Targets come in sets, one per source (Run's own, a config file, the API);
// replacing a source's set stops the loops of the targets that went, starts
// loops for the new ones, and leaves the unchanged ones running.
type Manager struct {
	opts    Options
	metrics *metrics
	client  *http.Client // for targets without an HTTP config

	syncMu sync.Mutex // serialises changes to the target sets

	mu      sync.Mutex
	ctx     context.Context // Run's; nil before Run
	stopped bool            // Run has returned
	wg      sync.WaitGroup  // running loops
	loops   map[targetKey]*loop
}

// targetKey is a target's identity: one loop per job and URL.
type targetKey struct{ job, url string }

// Source names the Manager uses itself.
const SourceStatic = "static" // the targets given to Run

// NewManager returns a Manager that stores into opts.Appender.
func NewManager(opts Options) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Manager{
		opts:    opts,
		metrics: newMetrics(opts.Registerer),
		loops:   map[targetKey]*loop{},
		client: &http.Client{
			Transport: &http.Transport{
				Proxy:               nil, // targets are reached directly, as configured
				MaxIdleConnsPerHost: 2,
				IdleConnTimeout:     time.Minute,
				DisableCompression:  true, // gzip is decoded by the loop, under the body limit
			},
			// Prometheus follows redirects; ten is net/http's own bound.
		},
	}
}

// Run validates the targets, scrapes them and every target added by
// SetTargets or Add until ctx is done, and returns once every loop has
// stopped. It returns an error, before scraping anything, when a target is
// invalid; otherwise nil.
func (m *Manager) Run(ctx context.Context, targets []Target) error {
	if err := m.SetTargets(SourceStatic, targets); err != nil {
		return err
	}
	m.mu.Lock()
	m.ctx = ctx
	for _, l := range m.loops {
		m.start(l)
	}
	m.mu.Unlock()

	<-ctx.Done() // also with no targets, so Run's lifetime is always ctx's
	m.mu.Lock()
	m.stopped = true // no loop starts after this, so wg.Wait sees every Add
	m.mu.Unlock()
	m.wg.Wait()
	m.client.CloseIdleConnections()
	return nil
}

// start runs l under Run's context; the caller holds mu.
func (m *Manager) start(l *loop) {
	if m.ctx == nil || m.stopped {
		return
	}
	ctx, cancel := context.WithCancel(m.ctx)
	l.cancel = cancel
	m.wg.Go(func() {
		defer close(l.done)
		l.run(ctx)
	})
}

// SetTargets makes targets the whole set from source: loops of this
// source's targets that are not in it stop (their series are marked stale),
// new ones start, changed ones restart, and unchanged ones keep running. A
// target of another source with the same job and URL is an error, and so
// is an invalid target; either way nothing changes. Before Run the set is
// kept and scraped once Run starts.
func (m *Manager) SetTargets(source string, targets []Target) error {
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	want := make(map[targetKey]Target, len(targets))
	order := make([]targetKey, 0, len(targets))
	for _, t := range targets {
		t, err := t.withDefaults()
		if err != nil {
			return err
		}
		key := targetKey{t.Job, t.URL}
		if _, dup := want[key]; dup {
			return fmt.Errorf("target %s %s: %w; list each endpoint once per job", t.Job, t.URL, ErrDuplicateTarget)
		}
		want[key] = t
		order = append(order, key)
	}

	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return ErrStopped
	}
	for key := range want {
		if l := m.loops[key]; l != nil && l.source != source {
			m.mu.Unlock()
			return fmt.Errorf("target %s %s: %w: already added by %s", key.job, key.url, ErrDuplicateTarget, l.source)
		}
	}
	var gone []*loop
	for key, l := range m.loops {
		if l.source != source {
			continue
		}
		if t, ok := want[key]; ok && sameTarget(l.target, t) {
			delete(want, key)
			continue
		}
		gone = append(gone, l)
		delete(m.loops, key)
	}
	m.mu.Unlock()

	// A target that went is marked stale; a changed one hands its series to
	// its successor, which marks stale whatever its first scrape lacks.
	stoppedByKey := make(map[targetKey]*loop, len(gone))
	for _, l := range gone {
		_, changed := want[l.key()]
		l.stop(!changed)
		stoppedByKey[l.key()] = l
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	for _, key := range order {
		t, ok := want[key]
		if !ok {
			continue
		}
		l := m.newLoop(t, source)
		if old := stoppedByKey[key]; old != nil {
			l.inherit(old)
		}
		m.loops[key] = l
		m.start(l)
	}
	return nil
}

// Add adds one target to source's set.
func (m *Manager) Add(source string, t Target) error {
	ts := m.sourceTargets(source)
	return m.SetTargets(source, append(ts, t))
}

// Remove stops scraping the target with this job and URL, whatever its
// source, marks its series stale, and returns its last health.
func (m *Manager) Remove(job, url string) (TargetHealth, error) {
	m.mu.Lock()
	l := m.loops[targetKey{job, url}]
	m.mu.Unlock()
	if l == nil {
		return TargetHealth{}, fmt.Errorf("target %s %s: %w", job, url, ErrTargetNotFound)
	}
	ts := m.sourceTargets(l.source)
	ts = slices.DeleteFunc(ts, func(t Target) bool { return t.Job == job && t.URL == url })
	h := l.snapshot()
	return h, m.SetTargets(l.source, ts)
}

// sourceTargets is source's current set.
func (m *Manager) sourceTargets(source string) []Target {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Target
	for _, l := range m.loops {
		if l.source == source {
			out = append(out, l.target)
		}
	}
	slices.SortFunc(out, func(a, b Target) int { return cmp.Or(cmp.Compare(a.Job, b.Job), cmp.Compare(a.URL, b.URL)) })
	return out
}

// sameTarget reports whether a running loop for a can go on scraping b.
// Targets are plain data (relabel rules and HTTP settings included), so deep
// equality is the configuration's equality.
func sameTarget(a, b Target) bool { return reflect.DeepEqual(a, b) }

// Targets returns every target's health, sorted by job then URL.
func (m *Manager) Targets() []TargetHealth {
	m.mu.Lock()
	loops := make([]*loop, 0, len(m.loops))
	for _, l := range m.loops {
		loops = append(loops, l)
	}
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

// Metadata returns each target's metric metadata, targets sorted by job then
// URL, as /api/v1/metadata and /api/v1/targets/metadata serve it. With
// metric set, only that family is looked up.
func (m *Manager) Metadata(metric string) []TargetMetadata {
	m.mu.Lock()
	loops := make([]*loop, 0, len(m.loops))
	for _, l := range m.loops {
		loops = append(loops, l)
	}
	m.mu.Unlock()
	slices.SortFunc(loops, func(a, b *loop) int {
		return cmp.Or(cmp.Compare(a.target.Job, b.target.Job), cmp.Compare(a.target.URL, b.target.URL))
	})
	out := make([]TargetMetadata, 0, len(loops))
	for _, l := range loops {
		out = append(out, TargetMetadata{
			Job: l.target.Job, ScrapeURL: l.target.URL, Labels: l.labels, Metadata: l.parser.meta.list(metric),
		})
	}
	return out
}
