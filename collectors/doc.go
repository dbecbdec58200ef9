// Package collectors scrapes Prometheus exposition endpoints the way
// Prometheus does and hands each scrape's samples to storage in one batch.
//
// A Manager runs one loop per target, keyed by job and URL. Targets come in
// sets, one per source (Run's own, the config file's Reloader, the HTTP
// API's Add): SetTargets replaces a source's set while the Manager runs,
// leaving unchanged targets on their loops, restarting changed ones (the
// new loop inherits the old one's series) and stopping the ones that went.
// A target can belong to one source only.
//
// Each loop waits for its slot in the interval (a hash of job and URL, so
// targets spread out and keep their phase across restarts), then scrapes on
// a ticker: an HTTP GET with Prometheus 3's Accept header (or the target's
// scrape_protocols; protobuf first with NativeHistogramProtocols), gzip
// decoded by the loop under the body limit, and a timeout carried by the
// request's context. The Content-Type picks Prometheus' own parser from
// model/textparse. Storage keeps floats only, so a native histogram is read
// as its classic series (a native-only one as its +Inf bucket, _sum and
// _count); OpenMetrics exemplars are not kept.
//
// Each series' text maps to its final labels (target labels added,
// exported_<name> on a clash unless HonorLabels, metric_relabel_configs
// applied, label limits checked) through a cache kept between scrapes, as
// Prometheus' scrape cache: a steady target's series cost a map lookup.
// Samples are stamped with the scrape's start unless HonorTimestamps. A
// series repeated in one body keeps its first sample.
//
// The metadata lines (# TYPE, # HELP, # UNIT, or a protobuf family's
// fields) are kept per target as Prometheus' scrape cache keeps them, by
// family name, in memory and bounded, for the metadata API
// (Manager.Metadata). They cost a steady target a map lookup each.
//
// Every scrape also writes up, scrape_duration_seconds,
// scrape_samples_scraped, scrape_samples_post_metric_relabeling and
// scrape_series_added, all in the same Append. A scrape is all or nothing:
// any failure (refused connection, TLS, non-2xx status, redirect loop,
// timeout, a body or sample or label over its Limits, a parse error) stores
// only those five series, with up = 0, and TargetHealth says what went wrong
// and where. Other targets are unaffected. Limits are never off: zero fields
// take defaults (64 MiB of body, 200 000 samples, 16 KiB label values), so
// any endpoint costs bounded memory.
//
// Staleness follows Prometheus: a series missing from a scrape, every series
// of a scrape that failed, and every series (and the five above) of a target
// that is removed get the StaleNaN marker, which PromQL treats as the end of
// the series, so it leaves instant queries at once rather than after the
// five-minute lookback. Stopping the Manager writes no markers.
//
// LoadConfig and the Reloader read a prometheus.yml: static_configs,
// file_sd_configs (JSON or YAML, polled for changes), relabel_configs,
// metric_relabel_configs, the per-job options above and Prometheus' own HTTP
// client settings (basic_auth, authorization, tls_config, …). What archscope
// does not support is ignored with a warning naming the field and its line;
// an invalid file is one error naming the job, the field and the reason. A
// reload that fails keeps the previous config in force.
//
// The demo shop is scraped exactly like any other target.
package collectors
