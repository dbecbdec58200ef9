// Package collectors scrapes Prometheus exposition endpoints the way
// Prometheus does and hands each scrape's samples to storage in one batch.
//
// A Manager runs one loop per Target until its context is done. Each loop
// waits for its slot in the interval (a hash of job and URL, so targets spread
// out and keep their phase across restarts), then scrapes on a ticker: an
// HTTP GET with Prometheus 3's Accept header (OpenMetrics first, then the text
// format), gzip accepted, a body capped at 64 MiB, and a timeout (default 0.9
// of the interval, never more than it) carried by the request's context. The
// response's Content-Type picks Prometheus' own parser from model/textparse,
// the text format when it is missing.
//
// Every sample is stamped with the scrape's start time (explicit timestamps
// are ignored) and labelled with job, instance (the URL's host:port) and the
// target's extra labels; a scraped label that clashes with one of those is
// kept as exported_<name>. Classic histograms and summaries arrive as their
// _bucket, _sum and _count (and quantile) series, as Prometheus stores them.
// Like Prometheus, each scrape also writes up, scrape_duration_seconds,
// scrape_samples_scraped and scrape_samples_post_metric_relabeling (after the
// target's metric_relabel_configs), all in the same Append. A scrape is all
// or nothing: any failure (refused connection, non-2xx status, timeout,
// oversized body, parse error) stores only those four series, with up = 0,
// and the target's TargetHealth says what went wrong and where. Other targets are unaffected.
//
// The demo shop is scraped exactly like any other target.
package collectors
