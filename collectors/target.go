package collectors

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Target is one endpoint to scrape.
type Target struct {
	Job      string
	URL      string            // full scrape URL; the instance label is its host:port
	Interval time.Duration     // default 1s
	Timeout  time.Duration     // default: the interval; never more than it
	Labels   map[string]string // extra target labels
}

// withDefaults fills the zero fields and checks the rest, naming the field
// and the reason in the error.
func (t Target) withDefaults() (Target, error) {
	if t.Job == "" {
		return t, errors.New("target: job is empty")
	}
	u, err := url.Parse(t.URL)
	if err != nil {
		return t, fmt.Errorf("target %s: url %q: %w", t.Job, t.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return t, fmt.Errorf("target %s: url %q: scheme must be http or https", t.Job, t.URL)
	}
	if u.Host == "" {
		return t, fmt.Errorf("target %s: url %q has no host", t.Job, t.URL)
	}
	if t.Interval == 0 {
		t.Interval = time.Second
	}
	if t.Timeout == 0 {
		t.Timeout = t.Interval
	}
	if t.Interval < 0 || t.Timeout < 0 {
		return t, fmt.Errorf("target %s: scrape_interval %v and scrape_timeout %v must be positive", t.Job, t.Interval, t.Timeout)
	}
	if t.Timeout > t.Interval {
		return t, fmt.Errorf("target %s: scrape_timeout %v exceeds scrape_interval %v", t.Job, t.Timeout, t.Interval)
	}
	return t, nil
}

func (t Target) instance() string {
	u, _ := url.Parse(t.URL)
	return u.Host
}

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
