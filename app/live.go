package app

import (
	"context"
	"math"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	scrape "github.com/archscope/archscope/collectors"
)

// livePanel is one line on the dashboard: an id the frontend knows and the
// PromQL that computes it. Every live point is a query over stored history,
// never a peek into the simulator.
type livePanel struct {
	ID    string
	Query string
}

// rateWindow is the range of the rate() behind every live panel: ten 1 s
// scrapes, short enough that a knob change shows within seconds, long enough
// that p99 rests on ~1500 requests at the demo's load.
const rateWindow = "10s"

var livePanels = []livePanel{
	{"p50", quantileQuery("0.5")},
	{"p95", quantileQuery("0.95")},
	{"p99", quantileQuery("0.99")},
	{"throughput", `sum(rate(shop_requests_total{job="demo",service="gateway",code=~"2.."}[` + rateWindow + `]))`},
	{"errors", `(sum(rate(shop_requests_total{job="demo",service="gateway",code!~"2.."}[` + rateWindow + `])) or vector(0))` +
		` / sum(rate(shop_requests_total{job="demo",service="gateway"}[` + rateWindow + `]))`},
	{"offered", `sum(rate(shop_offered_requests_total{job="demo"}[` + rateWindow + `]))`},
	{"saturation", `max(` + utilisation + `)`},
}

// utilisation is each service's busy share of its workers (or connections).
const utilisation = `sum by (service) (rate(shop_busy_seconds_total{job="demo"}[` + rateWindow + `]))` +
	` / sum by (service) (shop_servers{job="demo"} > 0)`

// liveStat is a family of live numbers, one per label combination of By,
// sent with every point but kept by the page only as the latest value: what
// the topology map and the service table draw. A series' id is ID, ":", and
// its By label values joined by ">" (e.g. "edge_rps:gateway>product").
type liveStat struct {
	ID    string
	Query string
	By    []string
}

var liveStats = []liveStat{
	{"svc_rps", `sum by (service) (rate(shop_requests_total{job="demo"}[` + rateWindow + `]))`, []string{"service"}},
	{"svc_err", `sum by (service) (rate(shop_requests_total{job="demo",code=~"5.."}[` + rateWindow + `])) / sum by (service) (rate(shop_requests_total{job="demo"}[` + rateWindow + `]))`, []string{"service"}},
	{"svc_p99", `histogram_quantile(0.99, sum by (service, le) (rate(shop_request_duration_seconds_bucket{job="demo"}[` + rateWindow + `])))`, []string{"service"}},
	{"svc_util", utilisation, []string{"service"}},
	{"svc_queue", `sum by (service) (rate(shop_queued_seconds_total{job="demo"}[` + rateWindow + `]))`, []string{"service"}},
	{"svc_replicas", `sum by (service) (shop_replicas{job="demo"})`, []string{"service"}},
	{"edge_up", `shop_topology_edge{job="demo"}`, []string{"from", "to"}},
	{"edge_rps", `sum by (from, to) (rate(shop_edge_requests_total{job="demo"}[` + rateWindow + `]))`, []string{"from", "to"}},
	{"edge_lat", `sum by (from, to) (rate(shop_edge_request_duration_seconds_total{job="demo"}[` + rateWindow + `])) / sum by (from, to) (rate(shop_edge_requests_total{job="demo"}[` + rateWindow + `]))`, []string{"from", "to"}},
	{"edge_err", `sum by (from, to) (rate(shop_edge_errors_total{job="demo"}[` + rateWindow + `]))`, []string{"from", "to"}},
	{"breaker", `max(shop_circuit_breaker_state{job="demo"})`, nil},
	{"cache_hit", `sum(rate(shop_cache_hits_total{job="demo"}[` + rateWindow + `])) / (sum(rate(shop_cache_hits_total{job="demo"}[` + rateWindow + `])) + sum(rate(shop_cache_misses_total{job="demo"}[` + rateWindow + `])))`, nil},
	{"queue_ready", `sum(shop_queue_ready_messages{job="demo"})`, nil},
	{"queue_lag", `max(shop_queue_oldest_message_age_seconds{job="demo"})`, nil},
	{"queue_rate", `sum(rate(shop_queue_acked_total{job="demo"}[` + rateWindow + `]))`, nil},
	{"queue_dead", `sum(shop_queue_dead_letter_messages{job="demo"})`, nil},
}

func quantileQuery(q string) string {
	return `histogram_quantile(` + q + `, sum by (le) (rate(shop_request_duration_seconds_bucket{job="demo",service="gateway"}[` + rateWindow + `])))`
}

// snapshotRange is how much history a new websocket client receives.
const snapshotRange = 15 * time.Minute

// maxSnapshotPoints bounds a snapshot series, so a short scrape interval
// cannot make the snapshot huge: 15 min at 100 ms.
const maxSnapshotPoints = 9000

type pointsMsg struct {
	Type   string              `json:"type"`
	Time   float64             `json:"time"`
	Values map[string]*float64 `json:"values"`
	Stats  map[string]float64  `json:"stats,omitempty"`
}

type snapshotMsg struct {
	Type        string                   `json:"type"`
	Series      map[string][][2]*float64 `json:"series"`
	Annotations []annotationJSON         `json:"annotations"`
	Stats       map[string]float64       `json:"stats"`
	End         float64                  `json:"-"`
}

type annotationJSON struct {
	Time float64  `json:"time"`
	Text string   `json:"text"`
	Tags []string `json:"tags,omitempty"`
}

type annotationMsg struct {
	Type       string         `json:"type"`
	Annotation annotationJSON `json:"annotation"`
}

// onScrape evaluates the live panels right after the demo target's samples
// are stored, so the browser sees a point within milliseconds of the scrape.
func (a *App) onScrape(h scrape.TargetHealth) {
	if h.Job != "demo" || h.Health != "up" {
		return
	}
	// Before the broadcast: a client that registers too late for this point
	// gets a snapshot that ends at it (see snapshot).
	a.lastLive.Store(h.LastScrape.UnixMilli())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msg := pointsMsg{Type: "points", Time: unixSeconds(h.LastScrape), Values: make(map[string]*float64, len(livePanels))}
	for _, p := range livePanels {
		v, err := a.instant(ctx, p.Query, h.LastScrape)
		if err != nil {
			a.logger.Warn("live panel query failed", "panel", p.ID, "err", err)
		}
		msg.Values[p.ID] = v
	}
	msg.Stats = a.stats(ctx, h.LastScrape)
	a.hub.broadcast(msg.Time, msg)
	a.liveDelay.Observe(time.Since(h.LastScrape).Seconds())
}

// stats evaluates the live stats at ts; a failed query is logged and left out.
func (a *App) stats(ctx context.Context, ts time.Time) map[string]float64 {
	out := make(map[string]float64, 160)
	for _, st := range liveStats {
		q, err := a.engine.NewInstantQuery(ctx, a.db, nil, st.Query, ts)
		if err != nil {
			a.logger.Warn("live stat query failed", "stat", st.ID, "err", err)
			continue
		}
		res := q.Exec(ctx)
		if res.Err != nil {
			a.logger.Warn("live stat query failed", "stat", st.ID, "err", res.Err)
		}
		if v, ok := res.Value.(promql.Vector); ok {
			for _, smp := range v {
				if f := finite(smp.F); f != nil {
					out[statID(st, smp.Metric)] = *f
				}
			}
		}
		q.Close()
	}
	return out
}

func statID(st liveStat, m labels.Labels) string {
	if len(st.By) == 0 {
		return st.ID
	}
	var b strings.Builder
	b.WriteString(st.ID)
	for i, name := range st.By {
		if i == 0 {
			b.WriteByte(':')
		} else {
			b.WriteByte('>')
		}
		b.WriteString(m.Get(name))
	}
	return b.String()
}

// instant evaluates a query that yields at most one number at ts; nil means
// no data (an empty vector or NaN).
func (a *App) instant(ctx context.Context, qs string, ts time.Time) (*float64, error) {
	q, err := a.engine.NewInstantQuery(ctx, a.db, nil, qs, ts)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	switch v := res.Value.(type) {
	case promql.Vector:
		if len(v) > 0 {
			return finite(v[0].F), nil
		}
	case promql.Scalar:
		return finite(v.V), nil
	}
	return nil, nil
}

// snapshot is what a client receives on connect: the last snapshotRange of
// every panel, and the annotations up to now. Its points are a step of the
// scrape interval apart and end at the last demo scrape whose point was
// broadcast or is about to be: the history has the live stream's resolution
// and joins it without a seam, since the hub sends only points after End
// (the client registered before this runs, so it queues every later one).
func (a *App) snapshot(ctx context.Context) (snapshotMsg, error) {
	now := time.Now()
	end := now
	if ms := a.lastLive.Load(); ms != 0 {
		end = time.UnixMilli(ms)
	}
	step := max(a.opts.ScrapeInterval, snapshotRange/maxSnapshotPoints)
	start := end.Add(-snapshotRange / step * step) // a whole number of steps, so the last point is at end
	msg := snapshotMsg{Type: "snapshot", Series: make(map[string][][2]*float64, len(livePanels)), End: unixSeconds(end)}
	for _, p := range livePanels {
		pts := [][2]*float64{}
		q, err := a.engine.NewRangeQuery(ctx, a.db, nil, p.Query, start, end, step)
		if err != nil {
			return msg, err
		}
		res := q.Exec(ctx)
		if res.Err != nil {
			q.Close()
			return msg, res.Err
		}
		if m, ok := res.Value.(promql.Matrix); ok && len(m) > 0 {
			for _, fp := range m[0].Floats {
				t := float64(fp.T) / 1000
				pts = append(pts, [2]*float64{&t, finite(fp.F)})
			}
		}
		q.Close()
		msg.Series[p.ID] = pts
	}
	msg.Stats = a.stats(ctx, end)
	anns, err := a.db.Annotations(start.UnixMilli(), now.UnixMilli())
	if err != nil {
		return msg, err
	}
	msg.Annotations = make([]annotationJSON, 0, len(anns))
	for _, an := range anns {
		msg.Annotations = append(msg.Annotations, annotationJSON{Time: float64(an.Time) / 1000, Text: an.Text, Tags: an.Tags})
	}
	return msg, nil
}

func finite(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }
