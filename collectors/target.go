package collectors

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	config_util "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"
)

// Target is one endpoint to scrape.
type Target struct {
	Job      string
	URL      string            // full scrape URL; the instance label is its host:port
	Interval time.Duration     // default 1s
	Timeout  time.Duration     // default 0.9 × Interval; never more than Interval
	Labels   map[string]string // extra target labels; not job, instance or __name__
	Instance string            // the instance label; default the URL's host:port
	// MetricRelabel is applied to every scraped series before it is stored,
	// as Prometheus' metric_relabel_configs (drop, keep, replace, …).
	MetricRelabel []*relabel.Config
	// HTTP is the client configuration (basic_auth, authorization, tls_config,
	// follow_redirects, proxy) with prometheus.yml's fields and Prometheus'
	// own implementation; nil is a plain client that follows redirects.
	HTTP *config_util.HTTPClientConfig
	// HonorLabels keeps a scraped label that clashes with a target label
	// (job, instance, extra) instead of renaming it exported_<name>.
	HonorLabels bool
	// HonorTimestamps stores a sample at the timestamp the target gave it;
	// by default every sample is stamped with the scrape's start.
	HonorTimestamps bool
	Limits          Limits
	// Protocols is the Accept header's preference order, in Prometheus'
	// scrape_protocols names; default DefaultProtocols.
	Protocols []string
}

// Limits bound what one scrape may cost; a scrape over any of them fails
// whole (up = 0), as in Prometheus. Zero fields take the defaults below:
// unlike Prometheus, where zero means unlimited, archscope always bounds a
// scrape, so that any endpoint it is pointed at costs bounded memory.
type Limits struct {
	SampleLimit           int   // samples after metric relabelling; default DefaultSampleLimit
	LabelLimit            int   // labels per series, target labels included; default none
	LabelNameLengthLimit  int   // bytes per label name; default none
	LabelValueLengthLimit int   // bytes per label value; default DefaultLabelValueLengthLimit
	BodySizeLimit         int64 // bytes of body after gzip; default DefaultBodySizeLimit
}

// The defaults of Limits.
const (
	// DefaultSampleLimit is about 20 node_exporters' worth of series; a
	// scrape of this many costs some 60 MB while it is parsed.
	DefaultSampleLimit = 200_000
	// DefaultLabelValueLengthLimit keeps one series well inside storage's
	// 32 KiB key.
	DefaultLabelValueLengthLimit = 16 << 10
	// DefaultBodySizeLimit caps a body (after gzip decoding), so an endless
	// or enormous body costs bounded memory.
	DefaultBodySizeLimit = 64 << 20
)

func (l Limits) withDefaults() Limits {
	if l.SampleLimit == 0 {
		l.SampleLimit = DefaultSampleLimit
	}
	if l.LabelValueLengthLimit == 0 {
		l.LabelValueLengthLimit = DefaultLabelValueLengthLimit
	}
	if l.BodySizeLimit == 0 {
		l.BodySizeLimit = DefaultBodySizeLimit
	}
	return l
}

// Defaults for a Target's zero fields.
const (
	DefaultInterval = time.Second
	// The default timeout leaves a tenth of the interval to store the scrape
	// before the next tick, so a target at its timeout still keeps its rhythm.
	defaultTimeoutFraction = 0.9
)

// Scrape protocols, by the names prometheus.yml's scrape_protocols uses, and
// the media type each asks for.
var protocolHeaders = map[string]string{
	"PrometheusProto":      "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
	"OpenMetricsText1.0.0": "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8",
	"OpenMetricsText0.0.1": "application/openmetrics-text;version=0.0.1",
	"PrometheusText1.0.0":  "text/plain;version=1.0.0;escaping=allow-utf-8",
	"PrometheusText0.0.4":  "text/plain;version=0.0.4",
}

// DefaultProtocols is Prometheus 3's default scrape_protocols.
var DefaultProtocols = []string{"OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0", "PrometheusText0.0.4"}

// NativeHistogramProtocols asks for protobuf first, the only format in which
// client libraries expose native histograms, as Prometheus does when native
// histograms are enabled.
var NativeHistogramProtocols = append([]string{"PrometheusProto"}, DefaultProtocols...)

// acceptFor builds the Accept header for protocols, in order, with falling
// q values and */* last, as Prometheus does.
func acceptFor(protocols []string) string {
	var b strings.Builder
	for i, p := range protocols {
		fmt.Fprintf(&b, "%s;q=0.%d,", protocolHeaders[p], len(protocols)+3-i)
	}
	b.WriteString("*/*;q=0.3")
	return b.String()
}

// withDefaults fills the zero fields and checks the rest, naming the target,
// the field and what to do in the error.
func (t Target) withDefaults() (Target, error) {
	if t.Job == "" {
		return t, fmt.Errorf("target %q: job is empty; every target needs a job name", t.URL)
	}
	u, err := url.Parse(t.URL)
	if err != nil {
		return t, fmt.Errorf("target %s: url %q: %w", t.Job, t.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return t, fmt.Errorf("target %s: url %q: scheme must be http or https", t.Job, t.URL)
	}
	if u.Host == "" {
		return t, fmt.Errorf("target %s: url %q has no host:port", t.Job, t.URL)
	}
	if t.Interval < 0 || t.Timeout < 0 {
		return t, fmt.Errorf("target %s: scrape_interval %v and scrape_timeout %v must not be negative", t.Job, t.Interval, t.Timeout)
	}
	if t.Interval == 0 {
		t.Interval = DefaultInterval
	}
	if t.Timeout == 0 {
		t.Timeout = time.Duration(float64(t.Interval) * defaultTimeoutFraction)
	}
	if t.Timeout > t.Interval {
		return t, fmt.Errorf("target %s: scrape_timeout %v exceeds scrape_interval %v; lower the timeout or raise the interval", t.Job, t.Timeout, t.Interval)
	}
	for name := range t.Labels {
		switch {
		case name == model.JobLabel || name == model.InstanceLabel || name == model.MetricNameLabel:
			return t, fmt.Errorf("target %s: extra label %q is set by the scraper; use Job and URL instead", t.Job, name)
		case !model.LabelName(name).IsValid():
			return t, fmt.Errorf("target %s: extra label %q is not a valid label name", t.Job, name)
		}
	}
	l := t.Limits
	if l.SampleLimit < 0 || l.LabelLimit < 0 || l.LabelNameLengthLimit < 0 || l.LabelValueLengthLimit < 0 || l.BodySizeLimit < 0 {
		return t, fmt.Errorf("target %s: limits must not be negative: %+v", t.Job, l)
	}
	t.Limits = l.withDefaults()
	if len(t.Protocols) == 0 {
		t.Protocols = DefaultProtocols
	}
	for _, p := range t.Protocols {
		if _, ok := protocolHeaders[p]; !ok {
			return t, fmt.Errorf("target %s: scrape_protocols: unknown protocol %q; want one of %s", t.Job, p, strings.Join(slices.Sorted(maps.Keys(protocolHeaders)), ", "))
		}
	}
	if t.HTTP != nil {
		if err := t.HTTP.Validate(); err != nil {
			return t, fmt.Errorf("target %s: %w", t.Job, err)
		}
	}
	return t, nil
}

// instance is the target's instance label: the URL's host:port.
func (t Target) instance() string {
	if t.Instance != "" {
		return t.Instance
	}
	u, err := url.Parse(t.URL)
	if err != nil {
		return t.URL // unreachable after withDefaults
	}
	return u.Host
}

// Errors a caller branches on.
var (
	// ErrDuplicateTarget: two targets share a job and URL, which would
	// write the same series twice per interval.
	ErrDuplicateTarget = errors.New("duplicate target")
	// ErrTargetNotFound: Remove found no target with that job and URL.
	ErrTargetNotFound = errors.New("no such target")
	// ErrStopped: the Manager's Run has returned; it takes no more targets.
	ErrStopped = errors.New("scrape manager stopped")
)

// Scrape failures that limits cause, one sentinel each, as Prometheus'
// target.go has them.
var (
	errSampleLimit      = errors.New("sample_limit exceeded")
	errLabelLimit       = errors.New("label_limit exceeded")
	errLabelNameLength  = errors.New("label_name_length_limit exceeded")
	errLabelValueLength = errors.New("label_value_length_limit exceeded")
	errBodySizeLimit    = errors.New("body_size_limit exceeded")

	limitErrors = []error{errSampleLimit, errLabelLimit, errLabelNameLength, errLabelValueLength, errBodySizeLimit}
)

// TargetHealth is what /api/v1/targets reports for one target.
type TargetHealth struct {
	Job, Instance, ScrapeURL string
	Labels                   map[string]string // job, instance and the extra labels
	Health                   string            // "up", "down" or "unknown", as in Prometheus
	LastError                string
	LastScrape               time.Time
	LastScrapeDuration       time.Duration
	Interval, Timeout        time.Duration
	// Source is who added the target: the name given to SetTargets or Add
	// ("config", "api", "demo", "static" for Run's).
	Source string
}

// Health values, as Prometheus' /api/v1/targets spells them.
const (
	HealthUnknown = "unknown"
	HealthUp      = "up"
	HealthDown    = "down"
)
