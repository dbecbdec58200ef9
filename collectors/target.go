package collectors

import (
	"github.com/prometheus/prometheus/model/relabel"

	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/prometheus/common/model"
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
}

// Defaults for a Target's zero fields.
const (
	DefaultInterval = time.Second
	// The default timeout leaves a tenth of the interval to store the scrape
	// before the next tick, so a target at its timeout still keeps its rhythm.
	defaultTimeoutFraction = 0.9
)

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

// errDuplicateTarget is returned by Run when two targets share a job and URL,
// which would write the same series twice per interval.
var errDuplicateTarget = errors.New("duplicate target")

// TargetHealth is what /api/v1/targets reports for one target.
type TargetHealth struct {
	Job, Instance, ScrapeURL string
	Labels                   map[string]string // job, instance and the extra labels
	Health                   string            // "up", "down" or "unknown", as in Prometheus
	LastError                string
	LastScrape               time.Time
	LastScrapeDuration       time.Duration
	Interval, Timeout        time.Duration
}

// Health values, as Prometheus' /api/v1/targets spells them.
const (
	HealthUnknown = "unknown"
	HealthUp      = "up"
	HealthDown    = "down"
)
