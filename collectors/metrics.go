package collectors

import "github.com/prometheus/client_golang/prometheus"

// metrics are the collectors' own metrics, served on archscope's /metrics.
type metrics struct {
	scrapes    *prometheus.CounterVec
	failures   *prometheus.CounterVec
	samples    *prometheus.CounterVec
	duplicates *prometheus.CounterVec
	limits     *prometheus.CounterVec

	metadataDropped *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		scrapes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archscope_scrapes_total", Help: "Scrapes attempted, by job.",
		}, []string{"job"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archscope_scrape_failures_total", Help: "Scrapes that failed (up = 0), by job.",
		}, []string{"job"}),
		samples: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archscope_scraped_samples_total", Help: "Samples stored from scrapes, by job.",
		}, []string{"job"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archscope_scrape_duplicate_samples_total", Help: "Samples dropped because their series came twice in one scrape (the first is kept), by job.",
		}, []string{"job"}),
		limits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archscope_scrape_limit_exceeded_total", Help: "Scrapes failed by a limit (sample_limit, body_size_limit, …), by job and limit.",
		}, []string{"job", "limit"}),
		metadataDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archscope_scrape_metadata_dropped_total", Help: "Metadata lines (# TYPE, # HELP, # UNIT) not kept because the target's metadata reached its bounds, by job.",
		}, []string{"job"}),
	}
	if reg != nil {
		reg.MustRegister(m.scrapes, m.failures, m.samples, m.duplicates, m.limits, m.metadataDropped)
	}
	return m
}
