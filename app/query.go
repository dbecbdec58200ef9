package app

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
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

// metadataRange reads the optional start/end of the metadata endpoints;
// Prometheus defaults them to all of time.
func metadataRange(r *http.Request) (mint, maxt int64, err error) {
	mint, maxt = math.MinInt64, math.MaxInt64
	if s := r.FormValue("start"); s != "" {
		t, err := parseTime(s)
		if err != nil {
			return 0, 0, fmt.Errorf("invalid parameter \"start\": %w", err)
		}
		mint = t.UnixMilli()
	}
	if s := r.FormValue("end"); s != "" {
		t, err := parseTime(s)
		if err != nil {
			return 0, 0, fmt.Errorf("invalid parameter \"end\": %w", err)
		}
		maxt = t.UnixMilli()
	}
	return mint, maxt, nil
}

// matcherSets parses every match[] selector.
func (a *App) matcherSets(r *http.Request) ([][]*labels.Matcher, error) {
	var sets [][]*labels.Matcher
	for _, s := range r.Form["match[]"] {
		ms, err := a.parser.ParseMetricSelector(s)
		if err != nil {
			return nil, fmt.Errorf("invalid parameter \"match[]\": %w", err)
		}
		sets = append(sets, ms)
	}
	return sets, nil
}

// metadataRequest reads the match[] selectors and the start/end of a
// metadata request and opens a querier over that range.
func (a *App) metadataRequest(r *http.Request) ([][]*labels.Matcher, promstorage.Querier, error) {
	if err := r.ParseForm(); err != nil {
		return nil, nil, err
	}
	sets, err := a.matcherSets(r)
	if err != nil {
		return nil, nil, err
	}
	mint, maxt, err := metadataRange(r)
	if err != nil {
		return nil, nil, err
	}
	q, err := a.db.Querier(mint, maxt)
	return sets, q, err
}

// handleSeries is /api/v1/series: the label sets matching any match[].
func (a *App) handleSeries(w http.ResponseWriter, r *http.Request) {
	sets, q, err := a.metadataRequest(r)
	if err == nil && len(sets) == 0 {
		err = errors.New("no match[] parameter provided")
	}
	if err != nil {
		if q != nil {
			q.Close()
		}
		writeError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	defer q.Close()
	seen := map[string]bool{}
	out := []labels.Labels{}
	for _, ms := range sets {
		ss := q.Select(r.Context(), true, nil, ms...)
		for ss.Next() {
			l := ss.At().Labels()
			if k := l.String(); !seen[k] {
				seen[k] = true
				out = append(out, l)
			}
		}
		if err := ss.Err(); err != nil {
			writeError(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
	}
	writeJSONResponse(w, http.StatusOK, apiResponse{Status: "success", Data: out})
}

// handleLabels is /api/v1/labels: every label name (of series matching match[], if given).
func (a *App) handleLabels(w http.ResponseWriter, r *http.Request) {
	a.labelQuery(w, r, "")
}

// handleLabelValues is /api/v1/label/<name>/values.
func (a *App) handleLabelValues(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !model.LabelName(name).IsValid() {
		writeError(w, http.StatusBadRequest, "bad_data", fmt.Sprintf("invalid label name: %q", name))
		return
	}
	a.labelQuery(w, r, name)
}

func (a *App) labelQuery(w http.ResponseWriter, r *http.Request, name string) {
	sets, q, err := a.metadataRequest(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	defer q.Close()
	if len(sets) == 0 {
		sets = [][]*labels.Matcher{nil}
	}
	union := map[string]struct{}{}
	for _, ms := range sets {
		var vals []string
		if name == "" {
			vals, _, err = q.LabelNames(r.Context(), nil, ms...)
		} else {
			vals, _, err = q.LabelValues(r.Context(), name, nil, ms...)
		}
		if err != nil {
			writeError(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
		for _, v := range vals {
			union[v] = struct{}{}
		}
	}
	out := make([]string, 0, len(union))
	for v := range union {
		out = append(out, v)
	}
	slices.Sort(out)
	writeJSONResponse(w, http.StatusOK, apiResponse{Status: "success", Data: out})
}
