package app

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	promstorage "github.com/prometheus/prometheus/storage"
)

// maxPoints is Prometheus' own limit on points per series in a range query.
const maxPoints = 11000

func (a *App) handleQuery(w http.ResponseWriter, r *http.Request) {
	ts := time.Now()
	if s := r.FormValue("time"); s != "" {
		var err error
		if ts, err = parseTime(s); err != nil {
			writeError(w, http.StatusBadRequest, "bad_data", fmt.Sprintf("invalid parameter \"time\": %v", err))
			return
		}
	}
	ctx, cancel, ok := queryContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	q, err := a.engine.NewInstantQuery(ctx, a.db, nil, r.FormValue("query"), ts)
	a.runQuery(w, ctx, q, err)
}

func (a *App) handleQueryRange(w http.ResponseWriter, r *http.Request) {
	start, err := parseTime(r.FormValue("start"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", fmt.Sprintf("invalid parameter \"start\": %v", err))
		return
	}
	end, err := parseTime(r.FormValue("end"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", fmt.Sprintf("invalid parameter \"end\": %v", err))
		return
	}
	if end.Before(start) {
		writeError(w, http.StatusBadRequest, "bad_data", "invalid parameter \"end\": end timestamp must not be before start time")
		return
	}
	step, err := parseDuration(r.FormValue("step"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", fmt.Sprintf("invalid parameter \"step\": %v", err))
		return
	}
	if step <= 0 {
		writeError(w, http.StatusBadRequest, "bad_data", "zero or negative query resolution step widths are not accepted. Try a positive integer")
		return
	}
	if end.Sub(start)/step > maxPoints {
		writeError(w, http.StatusBadRequest, "bad_data", "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")
		return
	}
	ctx, cancel, ok := queryContext(w, r)
	if !ok {
		return
	}
	defer cancel()
	q, err := a.engine.NewRangeQuery(ctx, a.db, nil, r.FormValue("query"), start, end, step)
	a.runQuery(w, ctx, q, err)
}

// queryContext applies the optional "timeout" parameter.
func queryContext(w http.ResponseWriter, r *http.Request) (context.Context, context.CancelFunc, bool) {
	ctx := r.Context()
	if s := r.FormValue("timeout"); s != "" {
		d, err := parseDuration(s)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_data", fmt.Sprintf("invalid parameter \"timeout\": %v", err))
			return nil, nil, false
		}
		c, cancel := context.WithTimeout(ctx, d)
		return c, cancel, true
	}
	c, cancel := context.WithCancel(ctx)
	return c, cancel, true
}

func (a *App) runQuery(w http.ResponseWriter, ctx context.Context, q promql.Query, err error) {
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		code, typ := queryErrorStatus(res.Err)
		writeError(w, code, typ, res.Err.Error())
		return
	}
	warnings, infos := res.Warnings.AsStrings(q.Statement().String(), 10, 10)
	writeJSONResponse(w, http.StatusOK, apiResponse{
		Status:   "success",
		Data:     queryData{ResultType: res.Value.Type(), Result: jsonValue(res.Value)},
		Warnings: warnings,
		Infos:    infos,
	})
}

// queryErrorStatus maps engine errors to Prometheus' status codes and types.
func queryErrorStatus(err error) (int, string) {
	var (
		canceled promql.ErrQueryCanceled
		timeout  promql.ErrQueryTimeout
		storage  promql.ErrStorage
		samples  promql.ErrTooManySamples
	)
	switch {
	case errors.As(err, &canceled), errors.Is(err, context.Canceled):
		return 499, "canceled"
	case errors.As(err, &timeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "timeout"
	case errors.As(err, &storage):
		return http.StatusInternalServerError, "internal"
	case errors.As(err, &samples):
		return 422, "execution"
	}
	return 422, "execution"
}

type queryData struct {
	ResultType parser.ValueType `json:"resultType"`
	Result     any              `json:"result"`
}

// point is [unix seconds, "value"], Prometheus' JSON for one sample.
type point [2]any

func jsonPoint(t int64, v float64) point {
	return point{float64(t) / 1000, formatFloat(v)}
}

func formatFloat(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

type vectorSample struct {
	Metric labels.Labels `json:"metric"`
	Value  point         `json:"value"`
}

type matrixSeries struct {
	Metric labels.Labels `json:"metric"`
	Values []point       `json:"values"`
}

func jsonValue(v parser.Value) any {
	switch v := v.(type) {
	case promql.Vector:
		out := make([]vectorSample, 0, len(v))
		for _, s := range v {
			if s.H != nil {
				continue // native histogram samples are not exposed yet
			}
			out = append(out, vectorSample{Metric: s.Metric, Value: jsonPoint(s.T, s.F)})
		}
		return out
	case promql.Matrix:
		out := make([]matrixSeries, 0, len(v))
		for _, s := range v {
			vals := make([]point, 0, len(s.Floats))
			for _, f := range s.Floats {
				vals = append(vals, jsonPoint(f.T, f.F))
			}
			out = append(out, matrixSeries{Metric: s.Metric, Values: vals})
		}
		return out
	case promql.Scalar:
		return jsonPoint(v.T, v.V)
	case promql.String:
		return point{float64(v.T) / 1000, v.V}
	}
	return nil
}

// parseTime accepts Unix seconds (with fraction) or RFC 3339, as Prometheus does.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("missing timestamp")
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1000))*int64(time.Millisecond)).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

// parseDuration accepts seconds (with fraction) or a Prometheus duration such as 15s or 1m30s.
func parseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		d := f * float64(time.Second)
		if d >= float64(math.MaxInt64) || d <= float64(math.MinInt64) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(d), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}

// The series and label endpoints (Prometheus calls them its metadata
// API): match[] selectors, an optional start and end (all of time by
// default) and limit, read from the URL or a form body, with Prometheus'
// order of checks and messages.

// seriesQuery is a parsed series, labels or label values request.
type seriesQuery struct {
	sets       [][]*labels.Matcher // one per match[]
	mint, maxt int64
	limit      int // 0: none
}

// truncatedWarning is Prometheus' warning when limit cut an answer short.
const truncatedWarning = "results truncated due to limit"

func (a *App) parseSeriesQuery(r *http.Request) (seriesQuery, error) {
	var q seriesQuery
	if err := r.ParseForm(); err != nil {
		return q, fmt.Errorf("error parsing form values: %w", err)
	}
	var err error
	if q.limit, err = limitParam(r); err != nil {
		return q, err
	}
	if q.mint, q.maxt, err = timeRangeParams(r); err != nil {
		return q, err
	}
	q.sets, err = a.matcherSets(r.Form["match[]"])
	return q, err
}

// limitParam reads limit: absent or 0 is no limit, as in Prometheus.
func limitParam(r *http.Request) (int, error) {
	s := r.FormValue("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("invalid parameter \"limit\": %w", err)
	}
	if n < 0 {
		return 0, errors.New("invalid parameter \"limit\": limit must be non-negative")
	}
	return n, nil
}

// hintLimit asks storage for one more than limit, so that an answer cut
// short can say so.
func hintLimit(limit int) int {
	if limit > 0 && limit < math.MaxInt {
		return limit + 1
	}
	return limit
}

// timeRangeParams reads the optional start and end; Prometheus defaults
// them to all of time.
func timeRangeParams(r *http.Request) (mint, maxt int64, err error) {
	mint, maxt = math.MinInt64, math.MaxInt64
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"start", &mint}, {"end", &maxt}} {
		s := r.FormValue(p.name)
		if s == "" {
			continue
		}
		t, err := parseTime(s)
		if err != nil {
			return 0, 0, fmt.Errorf("invalid parameter %q: invalid time value for '%s': %w", p.name, p.name, err)
		}
		*p.dst = t.UnixMilli()
	}
	return mint, maxt, nil
}

// matcherSets parses match[] selectors; each must have a matcher that does
// not match the empty string, or it would select every series.
func (a *App) matcherSets(selectors []string) ([][]*labels.Matcher, error) {
	sets, err := a.parser.ParseMetricSelectors(selectors)
	if err != nil {
		return nil, fmt.Errorf("invalid parameter \"match[]\": %w", err)
	}
	for _, ms := range sets {
		if !slices.ContainsFunc(ms, func(m *labels.Matcher) bool { return m != nil && !m.Matches("") }) {
			return nil, errors.New("match[] must contain at least one non-empty matcher")
		}
	}
	return sets, nil
}

// handleSeries is /api/v1/series: the label sets matching any match[],
// sorted, each once.
func (a *App) handleSeries(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", "error parsing form values: "+err.Error())
		return
	}
	if len(r.Form["match[]"]) == 0 {
		writeError(w, http.StatusBadRequest, "bad_data", "no match[] parameter provided")
		return
	}
	sq, err := a.parseSeriesQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	q, err := a.db.Querier(sq.mint, sq.maxt)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	defer q.Close()
	// Labels only, and no more than limit+1 per selector: each selector's
	// first limit+1 (sorted) hold the union's first limit+1.
	hints := &promstorage.SelectHints{Start: sq.mint, End: sq.maxt, Func: "series", Limit: hintLimit(sq.limit)}
	out := []labels.Labels{}
	for _, ms := range sq.sets {
		ss := q.Select(r.Context(), true, hints, ms...)
		for ss.Next() {
			out = append(out, ss.At().Labels())
		}
		if err := ss.Err(); err != nil {
			writeError(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
	}
	if len(sq.sets) > 1 {
		slices.SortFunc(out, labels.Compare)
		out = slices.CompactFunc(out, labels.Equal)
	}
	var warnings []string
	if sq.limit > 0 && len(out) > sq.limit {
		out, warnings = out[:sq.limit], []string{truncatedWarning}
	}
	writeJSONResponse(w, http.StatusOK, apiResponse{Status: "success", Data: out, Warnings: warnings})
}

// handleLabels is /api/v1/labels: every label name (of series matching match[], if given).
func (a *App) handleLabels(w http.ResponseWriter, r *http.Request) {
	a.labelQuery(w, r, "")
}

// handleLabelValues is /api/v1/label/<name>/values. A name that is not a
// legacy label name comes escaped as U__…, as Prometheus and Grafana do it.
func (a *App) handleLabelValues(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if strings.HasPrefix(name, "U__") {
		name = model.UnescapeName(name, model.ValueEncodingEscaping)
	}
	if !model.UTF8Validation.IsValidLabelName(name) {
		writeError(w, http.StatusBadRequest, "bad_data", fmt.Sprintf("invalid label name: %q", name))
		return
	}
	a.labelQuery(w, r, name)
}

// labelQuery answers the label names (name "") or the values of name,
// sorted, over the series matching any match[] (or all of them).
func (a *App) labelQuery(w http.ResponseWriter, r *http.Request, name string) {
	sq, err := a.parseSeriesQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	q, err := a.db.Querier(sq.mint, sq.maxt)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	defer q.Close()
	sets := sq.sets
	if len(sets) == 0 {
		sets = [][]*labels.Matcher{nil}
	}
	hints := &promstorage.LabelHints{Limit: hintLimit(sq.limit)}
	out := []string{}
	for _, ms := range sets {
		var vals []string
		if name == "" {
			vals, _, err = q.LabelNames(r.Context(), hints, ms...)
		} else {
			vals, _, err = q.LabelValues(r.Context(), name, hints, ms...)
		}
		if err != nil {
			writeError(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
		out = append(out, vals...)
	}
	if len(sets) > 1 {
		slices.Sort(out)
		out = slices.Compact(out)
	}
	var warnings []string
	if sq.limit > 0 && len(out) > sq.limit {
		out, warnings = out[:sq.limit], []string{truncatedWarning}
	}
	writeJSONResponse(w, http.StatusOK, apiResponse{Status: "success", Data: out, Warnings: warnings})
}

// handleQueryExemplars is /api/v1/query_exemplars. archscope keeps no
// exemplars (it does not ask targets for them), so a valid request gets an
// empty list, after Prometheus' checks: start and end (default all of
// time, end not before start) and a PromQL query. Grafana asks once when
// it connects, to learn whether exemplars can be queried.
func (a *App) handleQueryExemplars(w http.ResponseWriter, r *http.Request) {
	mint, maxt, err := timeRangeParams(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	if maxt < mint {
		writeError(w, http.StatusBadRequest, "bad_data", "end timestamp must not be before start timestamp")
		return
	}
	expr, err := a.parser.ParseExpr(r.FormValue("query"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	if len(parser.ExtractSelectors(expr)) == 0 {
		w.WriteHeader(http.StatusNoContent) // as Prometheus answers a query that selects nothing
		return
	}
	writeJSONResponse(w, http.StatusOK, apiResponse{Status: "success", Data: []any{}})
}

// handleFormatQuery is /api/v1/format_query: the query pretty-printed by
// Prometheus' own printer (Grafana's query editor has a button for it).
func (a *App) handleFormatQuery(w http.ResponseWriter, r *http.Request) {
	expr, err := a.parser.ParseExpr(r.FormValue("query"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", `invalid parameter "query": `+err.Error())
		return
	}
	writeJSONResponse(w, http.StatusOK, apiResponse{Status: "success", Data: expr.Pretty(0)})
}
