package collectors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/archscope/archscope/storage"
)

// maxBodyBytes caps a scrape body (after gzip decoding), so an endless or
// enormous body costs a bounded amount of memory.
const maxBodyBytes = 64 << 20

// acceptHeader is what Prometheus 3 sends with its default scrape_protocols
// (OpenMetrics 1.0.0 and 0.0.1, then the text format 1.0.0 and 0.0.4) and
// UTF-8 names allowed; see acceptHeader in prometheus/scrape/scrape.go.
const acceptHeader = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.7," +
	"application/openmetrics-text;version=0.0.1;q=0.6," +
	"text/plain;version=1.0.0;escaping=allow-utf-8;q=0.5," +
	"text/plain;version=0.0.4;q=0.4," +
	"*/*;q=0.3"

// keepBodyBytes is the largest body buffer a loop keeps between scrapes; a
// target that once sent more gets a fresh buffer rather than pinning it.
const keepBodyBytes = 16 << 20

// Appender is what a scrape loop needs from storage; *storage.DB satisfies it.
type Appender interface {
	Append(samples []storage.Sample) error
}

// loop scrapes one target on its interval.
type loop struct {
	target  Target
	labels  labels.Labels // job, instance, extra
	client  *http.Client
	app     Appender
	logger  *slog.Logger
	metrics *metrics
	notify  func(TargetHealth)

	timeoutHeader string // X-Prometheus-Scrape-Timeout-Seconds, as Prometheus sends it

	parser  *parser
	body    bytes.Buffer
	samples []storage.Sample

	mu     sync.Mutex
	health TargetHealth
}

func newLoop(t Target, client *http.Client, app Appender, logger *slog.Logger, m *metrics, notify func(TargetHealth)) *loop {
	b := labels.NewScratchBuilder(2 + len(t.Labels))
	for k, v := range t.Labels {
		b.Add(k, v)
	}
	b.Add("job", t.Job)
	b.Add("instance", t.instance())
	b.Sort()
	l := &loop{
		target: t, labels: b.Labels(), client: client, app: app, metrics: m, notify: notify,
		logger:        logger.With("job", t.Job, "url", t.URL),
		parser:        newParser(),
		timeoutHeader: strconv.FormatFloat(t.Timeout.Seconds(), 'f', -1, 64),
	}
	l.health = TargetHealth{
		Job: t.Job, Instance: t.instance(), ScrapeURL: t.URL, Labels: l.labels.Map(),
		Health: HealthUnknown, Interval: t.Interval, Timeout: t.Timeout,
	}
	l.parser.relabel = t.MetricRelabel
	return l
}

// offset is how long to wait, from now, for this target's slot in the
// interval. The slot is a hash of job and URL, so targets spread over the
// interval instead of all firing at once, and a target keeps its slot across
// restarts (evenly spaced points), as in Prometheus.
func (l *loop) offset(now time.Time) time.Duration {
	h := fnv.New64a()
	io.WriteString(h, l.target.Job)
	h.Write([]byte{0})
	io.WriteString(h, l.target.URL)
	iv := int64(l.target.Interval)
	base := now.UnixNano() % iv
	off := int64(h.Sum64()%uint64(iv)) - base
	if off < 0 {
		off += iv
	}
	return time.Duration(off)
}

func (l *loop) run(ctx context.Context) {
	start := time.NewTimer(l.offset(time.Now()))
	select {
	case <-start.C:
	case <-ctx.Done():
		start.Stop()
		return
	}
	tick := time.NewTicker(l.target.Interval)
	defer tick.Stop()
	for {
		l.scrapeOnce(ctx)
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// scrapeOnce fetches, parses and stores one scrape, then the synthetic series.
func (l *loop) scrapeOnce(ctx context.Context) {
	start := time.Now()
	ts := start.UnixMilli()
	l.samples = l.samples[:0]
	var err error
	l.samples, err = l.scrape(ctx, l.samples, ts)
	if ctx.Err() != nil {
		return // shutting down: this scrape neither failed nor happened
	}
	scraped, kept := l.parser.seen, len(l.samples)
	dur := time.Since(start)
	up := 1.0
	if err != nil {
		up, scraped, kept = 0, 0, 0
		l.samples = l.samples[:0]
	}
	l.samples = append(l.samples,
		l.synthetic("up", ts, up),
		l.synthetic("scrape_duration_seconds", ts, dur.Seconds()),
		l.synthetic("scrape_samples_scraped", ts, float64(scraped)),
		l.synthetic("scrape_samples_post_metric_relabeling", ts, float64(kept)),
	)
	if aerr := l.app.Append(l.samples); aerr != nil {
		err = errors.Join(err, fmt.Errorf("store: %w", aerr))
	}

	job := l.target.Job
	l.metrics.scrapes.WithLabelValues(job).Inc()
	l.mu.Lock()
	l.health.LastScrape, l.health.LastScrapeDuration = start, dur
	if err != nil {
		l.metrics.failures.WithLabelValues(job).Inc()
		l.health.Health, l.health.LastError = HealthDown, err.Error()
	} else {
		l.metrics.samples.WithLabelValues(job).Add(float64(scraped))
		l.health.Health, l.health.LastError = HealthUp, ""
	}
	h := l.health
	h.Labels = maps.Clone(h.Labels)
	l.mu.Unlock()
	if l.body.Cap() > keepBodyBytes {
		l.body = bytes.Buffer{}
	}
	if err != nil {
		l.logger.Debug("scrape failed", "err", err)
	}
	if l.notify != nil {
		l.notify(h)
	}
}

func (l *loop) synthetic(name string, ts int64, v float64) storage.Sample {
	b := labels.NewBuilder(l.labels)
	b.Set("__name__", name)
	return storage.Sample{Labels: b.Labels(), T: ts, V: v}
}

// scrape fetches and parses the target, appending its samples to out.
func (l *loop) scrape(ctx context.Context, out []storage.Sample, ts int64) ([]storage.Sample, error) {
	ctx, cancel := context.WithTimeout(ctx, l.target.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.target.URL, nil)
	if err != nil {
		return out, err
	}
	req.Header.Set("Accept", acceptHeader)
	req.Header.Set("User-Agent", "archscope")
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", l.timeoutHeader)
	resp, err := l.client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return out, fmt.Errorf("scrape %s: timeout after %v", l.target.URL, l.target.Timeout)
		}
		return out, fmt.Errorf("scrape %s: %w", l.target.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("scrape %s: server returned HTTP status %s", l.target.URL, resp.Status)
	}
	l.body.Reset()
	n, err := l.body.ReadFrom(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return out, fmt.Errorf("scrape %s: timeout after %v reading the body", l.target.URL, l.target.Timeout)
		}
		return out, fmt.Errorf("scrape %s: read body: %w", l.target.URL, err)
	}
	if n > maxBodyBytes {
		return out, fmt.Errorf("scrape %s: body exceeds the limit of %d bytes", l.target.URL, maxBodyBytes)
	}
	out, err = l.parser.parse(out, l.body.Bytes(), resp.Header.Get("Content-Type"), ts, l.labels)
	if err != nil {
		return out, fmt.Errorf("scrape %s: %w", l.target.URL, err)
	}
	return out, nil
}

func (l *loop) snapshot() TargetHealth {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.health
	h.Labels = maps.Clone(h.Labels) // callers may keep or change it
	return h
}
