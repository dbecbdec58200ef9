package app

import (
	"context"
	"math"
	"time"

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
}

func quantileQuery(q string) string {
	return `histogram_quantile(` + q + `, sum by (le) (rate(shop_request_duration_seconds_bucket{job="demo",service="gateway"}[` + rateWindow + `])))`
}

// snapshotRange is how much history a new websocket client receives.
const snapshotRange = 15 * time.Minute

type pointsMsg struct {
	Type   string              `json:"type"`
	Time   float64             `json:"time"`
	Values map[string]*float64 `json:"values"`
}

type snapshotMsg struct {
	Type        string                   `json:"type"`
	Series      map[string][][2]*float64 `json:"series"`
	Annotations []annotationJSON         `json:"annotations"`
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
	a.hub.broadcast(msg.Time, msg)
	a.liveDelay.Observe(time.Since(h.LastScrape).Seconds())
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
// every panel at 1 s resolution, and the annotations in that range.
func (a *App) snapshot(ctx context.Context) (snapshotMsg, error) {
	end := time.Now()
	start := end.Add(-snapshotRange)
	msg := snapshotMsg{Type: "snapshot", Series: make(map[string][][2]*float64, len(livePanels)), End: unixSeconds(end)}
	for _, p := range livePanels {
		pts := [][2]*float64{}
		q, err := a.engine.NewRangeQuery(ctx, a.db, nil, p.Query, start, end, time.Second)
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
	anns, err := a.db.Annotations(start.UnixMilli(), end.UnixMilli())
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
