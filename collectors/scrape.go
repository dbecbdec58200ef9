package collectors

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/prometheus/model/labels"
	promvalue "github.com/prometheus/prometheus/model/value"

	"github.com/archscope/archscope/storage"
)

// keepBodyBytes is the largest body buffer a loop keeps between scrapes; a
// target that once sent more gets a fresh buffer rather than pinning it.
const keepBodyBytes = 16 << 20

// staleNaN is Prometheus' staleness marker: a sample with this value ends a
// series, and PromQL stops returning it from that instant.
var staleNaN = math.Float64frombits(promvalue.StaleNaN)

// Appender is what a scrape loop needs from storage; *storage.DB satisfies it.
type Appender interface {
	Append(samples []storage.Sample) error
}

// The series every scrape writes besides the target's own, as Prometheus.
var reportNames = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped",
	"scrape_samples_post_metric_relabeling", "scrape_series_added"}

// loop scrapes one target on its interval.
type loop struct {
	lastTs  int64 // the previous scrape's timestamp, for alignment
	target  Target
	source  string
	labels  labels.Labels // job, instance, extra
	client  *http.Client
	own     bool  // client is this loop's, closed with it
	cerr    error // the target's HTTP config could not make a client
	app     Appender
	logger  *slog.Logger
	metrics *metrics
	notify  func(TargetHealth)

	accept        string
	timeoutHeader string // X-Prometheus-Scrape-Timeout-Seconds, as Prometheus sends it

	parser  *parser
	gz      *gzip.Reader
	body    []byte
	samples []storage.Sample
	// prev and cur are the series of the last and this scrape, by label
	// hash: a series in prev but not cur gets a staleness marker.
	prev, cur map[uint64]labels.Labels

	cancel    context.CancelFunc // nil until started
	done      chan struct{}
	markStale atomic.Bool // on stop, write staleness markers for every series

	mu     sync.Mutex
	health TargetHealth
}

func (m *Manager) newLoop(t Target, source string) *loop {
	l := newLoop(t, m.client, m.opts.Appender, m.opts.Logger, m.metrics, m.opts.OnScrape)
	l.source, l.health.Source = source, source
	if t.HTTP != nil {
		l.client, l.cerr = config_util.NewClientFromConfig(*t.HTTP, t.Job)
		l.own = l.cerr == nil
		if l.cerr != nil {
			l.cerr = fmt.Errorf("http client for %s: %w", t.URL, l.cerr)
		}
	}
	return l
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
		accept:        acceptFor(t.Protocols),
		timeoutHeader: strconv.FormatFloat(t.Timeout.Seconds(), 'f', -1, 64),
		prev:          map[uint64]labels.Labels{},
		cur:           map[uint64]labels.Labels{},
		done:          make(chan struct{}),
	}
	l.health = TargetHealth{
		Job: t.Job, Instance: t.instance(), ScrapeURL: t.URL, Labels: l.labels.Map(),
		Health: HealthUnknown, Interval: t.Interval, Timeout: t.Timeout,
	}
	l.parser.relabel = t.MetricRelabel
	l.parser.limits = t.Limits.withDefaults()
	l.parser.honorLabels, l.parser.honorTimestamps = t.HonorLabels, t.HonorTimestamps
	return l
}

func (l *loop) key() targetKey { return targetKey{l.target.Job, l.target.URL} }

// inherit takes over the series of a stopped loop for the same target, so
// the first scrape under a new configuration marks stale what it no longer
// finds, as Prometheus hands its scrape cache over on reload.
func (l *loop) inherit(old *loop) {
	l.prev = old.prev
	l.parser.meta = old.parser.meta // the families' metadata does not depend on the config
}

// stop ends the loop and waits for it; with markStale, its series and the
// scrape's own (up, …) get staleness markers, as when Prometheus drops a
// target.
func (l *loop) stop(markStale bool) {
	if l.cancel == nil {
		return // never started
	}
	l.markStale.Store(markStale)
	l.cancel()
	<-l.done
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
	defer func() {
		if l.own {
			l.client.CloseIdleConnections()
		}
		if l.markStale.Load() {
			l.endOfRun()
		}
	}()
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

// timestampTolerance is how far a scrape may start from its slot and still
// be stamped with the slot's time, as Prometheus' --scrape.timestamp-tolerance
// does: evenly spaced timestamps cost XOR chunks almost nothing, jittered
// ones about a byte and a half per sample.
const timestampTolerance = 2 // milliseconds

// alignTimestamp is a scrape's timestamp: its slot (the previous one plus the
// interval) when it started within the tolerance of it, else when it started.
func alignTimestamp(now, last, interval int64) int64 {
	if last == 0 {
		return now
	}
	if want := last + interval; now-want <= timestampTolerance && want-now <= timestampTolerance {
		return want
	}
	return now
}

// endOfRun marks every series of the target stale now that it is no longer
// scraped, so PromQL stops showing it at once rather than after the
// five-minute lookback.
func (l *loop) endOfRun() {
	ts := time.Now().UnixMilli()
	out := make([]storage.Sample, 0, len(l.prev)+len(reportNames))
	for _, lset := range l.prev {
		out = append(out, storage.Sample{Labels: lset, T: ts, V: staleNaN})
	}
	for _, name := range reportNames {
		out = append(out, l.synthetic(name, ts, staleNaN))
	}
	if err := l.app.Append(out); err != nil {
		l.logger.Warn("store staleness markers", "err", err)
	}
}

// scrapeOnce fetches, parses and stores one scrape, then the synthetic series.
func (l *loop) scrapeOnce(ctx context.Context) {
	start := time.Now()
	ts := alignTimestamp(start.UnixMilli(), l.lastTs, l.target.Interval.Milliseconds())
	l.lastTs = ts
	l.samples = l.samples[:0]
	var err error
	l.samples, err = l.scrape(ctx, l.samples, ts)
	if ctx.Err() != nil {
		return // shutting down: this scrape neither failed nor happened
	}
	scraped := l.parser.seen
	dur := time.Since(start)
	up := 1.0
	if err != nil {
		up, scraped = 0, 0
		l.samples = l.samples[:0]
	}
	kept, added, dups := l.track(ts)
	l.samples = append(l.samples,
		l.synthetic("up", ts, up),
		l.synthetic("scrape_duration_seconds", ts, dur.Seconds()),
		l.synthetic("scrape_samples_scraped", ts, float64(scraped)),
		l.synthetic("scrape_samples_post_metric_relabeling", ts, float64(kept)),
		l.synthetic("scrape_series_added", ts, float64(added)),
	)
	if aerr := l.app.Append(l.samples); aerr != nil {
		err = errors.Join(err, fmt.Errorf("store: %w", aerr))
	}

	job := l.target.Job
	l.metrics.scrapes.WithLabelValues(job).Inc()
	if d := l.parser.meta.takeDropped(); d > 0 {
		l.metrics.metadataDropped.WithLabelValues(job).Add(float64(d))
	}
	if dups > 0 {
		l.metrics.duplicates.WithLabelValues(job).Add(float64(dups))
		l.logger.Warn("duplicate series in one scrape: kept the first of each", "dropped", dups)
	}
	l.mu.Lock()
	l.health.LastScrape, l.health.LastScrapeDuration = start, dur
	if err != nil {
		l.metrics.failures.WithLabelValues(job).Inc()
		for _, lim := range limitErrors {
			if errors.Is(err, lim) {
				l.metrics.limits.WithLabelValues(job, strings.TrimSuffix(lim.Error(), " exceeded")).Inc()
			}
		}
		l.health.Health, l.health.LastError = HealthDown, err.Error()
	} else {
		l.metrics.samples.WithLabelValues(job).Add(float64(kept))
		l.health.Health, l.health.LastError = HealthUp, ""
	}
	h := l.health
	h.Labels = maps.Clone(h.Labels)
	l.mu.Unlock()
	if cap(l.body) > keepBodyBytes {
		l.body = nil
	}
	if cap(l.samples) > 4*len(l.prev)+1024 {
		l.samples = nil // a refused huge scrape does not pin its samples
	}
	if err != nil {
		l.logger.Debug("scrape failed", "err", err)
	}
	if l.notify != nil {
		l.notify(h)
	}
}

// track drops repeated series from l.samples (keeping the first, as
// Prometheus does), appends a staleness marker for every series of the
// previous scrape this one lacks (all of them when the scrape failed), and
// counts the series kept, the series new since the previous scrape, and the
// duplicates dropped. Samples with an explicit timestamp are not tracked, as
// in Prometheus.
func (l *loop) track(ts int64) (kept, added, dups int) {
	clear(l.cur)
	n := 0
	for _, s := range l.samples {
		if s.T != ts {
			l.samples[n] = s
			n++
			continue
		}
		h := s.Labels.Hash()
		if _, dup := l.cur[h]; dup {
			dups++
			continue
		}
		l.cur[h] = s.Labels
		if _, ok := l.prev[h]; !ok {
			added++
		}
		l.samples[n] = s
		n++
	}
	l.samples = l.samples[:n]
	for h, lset := range l.prev {
		if _, ok := l.cur[h]; !ok {
			l.samples = append(l.samples, storage.Sample{Labels: lset, T: ts, V: staleNaN})
		}
	}
	l.prev, l.cur = l.cur, l.prev
	return n, added, dups
}

func (l *loop) synthetic(name string, ts int64, v float64) storage.Sample {
	b := labels.NewBuilder(l.labels)
	b.Set("__name__", name)
	return storage.Sample{Labels: b.Labels(), T: ts, V: v}
}

// scrape fetches and parses the target, appending its samples to out.
func (l *loop) scrape(ctx context.Context, out []storage.Sample, ts int64) ([]storage.Sample, error) {
	if l.cerr != nil {
		return out, l.cerr
	}
	ctx, cancel := context.WithTimeout(ctx, l.target.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.target.URL, nil)
	if err != nil {
		return out, err
	}
	req.Header.Set("Accept", l.accept)
	req.Header.Set("Accept-Encoding", "gzip")
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
	limit := l.target.Limits.BodySizeLimit
	if limit == 0 {
		limit = DefaultBodySizeLimit
	}
	if err := l.readBody(resp, limit); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return out, fmt.Errorf("scrape %s: timeout after %v reading the body", l.target.URL, l.target.Timeout)
		}
		return out, fmt.Errorf("scrape %s: %w", l.target.URL, err)
	}
	out, err = l.parser.parse(out, l.body, resp.Header.Get("Content-Type"), ts, l.labels)
	if err != nil {
		return out, fmt.Errorf("scrape %s: %w", l.target.URL, err)
	}
	return out, nil
}

// readBody reads the response, gunzipped if it says so, into l.body, and
// fails as soon as it grows past limit bytes: an endless body, a 1 GB one
// or a gzip bomb costs at most the limit.
func (l *loop) readBody(resp *http.Response, limit int64) error {
	var r io.Reader = resp.Body
	gzipped := resp.Header.Get("Content-Encoding") == "gzip"
	if !gzipped && resp.ContentLength > limit {
		return fmt.Errorf("%w: the body is %d bytes, limit %d; raise body_size_limit", errBodySizeLimit, resp.ContentLength, limit)
	}
	if gzipped {
		var err error
		if l.gz == nil {
			l.gz, err = gzip.NewReader(resp.Body)
		} else {
			err = l.gz.Reset(resp.Body)
		}
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		r = l.gz
	}
	dst := l.body[:0]
	if n := resp.ContentLength; !gzipped && n > int64(cap(dst)) {
		dst = make([]byte, 0, n+1) // one allocation, not a doubling series; n <= limit here
	}
	var err error
	l.body, err = readLimited(dst, r, limit)
	if errors.Is(err, errBodySizeLimit) {
		return fmt.Errorf("%w: the body is larger than %d bytes; raise body_size_limit", errBodySizeLimit, limit)
	}
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	return nil
}

// readLimited appends r's bytes to dst and fails with errBodySizeLimit once
// more than limit have been read. A body that fits dst's capacity (the
// buffer kept from the last scrape) is read in place; a larger one goes
// into pooled 1 MiB chunks, and only a body that ends within the limit is
// copied into one new buffer of its size. So a refused body costs at most
// the limit, not the doubling series of a growing slice (which measured
// 2.5 × the limit at the heap's peak).
func readLimited(dst []byte, r io.Reader, limit int64) ([]byte, error) {
	for len(dst) < cap(dst) {
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if int64(len(dst)) > limit {
			return dst, errBodySizeLimit
		}
		if errors.Is(err, io.EOF) {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
	var chunks []*[bodyChunk]byte
	defer func() {
		for _, c := range chunks {
			chunkPool.Put(c)
		}
	}()
	total, last := int64(len(dst)), 0
	for done := false; !done; {
		c := chunkPool.Get().(*[bodyChunk]byte)
		chunks = append(chunks, c)
		last = 0
		for last < bodyChunk {
			n, err := r.Read(c[last:])
			last += n
			total += int64(n)
			if total > limit {
				return dst, errBodySizeLimit
			}
			if errors.Is(err, io.EOF) {
				done = true
				break
			}
			if err != nil {
				return dst, err
			}
		}
	}
	out := make([]byte, 0, total)
	out = append(out, dst...)
	for i, c := range chunks {
		if i == len(chunks)-1 {
			out = append(out, c[:last]...)
		} else {
			out = append(out, c[:]...)
		}
	}
	return out, nil
}

// bodyChunk is the unit in which bodies larger than a loop's buffer are read.
const bodyChunk = 1 << 20

var chunkPool = sync.Pool{New: func() any { return new([bodyChunk]byte) }}

func (l *loop) snapshot() TargetHealth {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.health
	h.Labels = maps.Clone(h.Labels) // callers may keep or change it
	return h
}
