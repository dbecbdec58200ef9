// Package collectors scrapes Prometheus exposition endpoints the way
// Prometheus does and hands each scrape's samples to storage in one batch.
//
// A Manager runs one loop per Target. Each loop starts at an offset inside its
// interval derived from the target's URL (so many targets spread over the
// interval instead of all firing at once), then scrapes on a ticker: an HTTP
// GET negotiating OpenMetrics or the Prometheus text format, a body capped in
// size, a timeout from the context, and Prometheus' own parser
// (model/textparse). Every sample is stamped with the scrape's start time and
// labelled with job and instance; a scraped label that clashes with a target
// label is kept as exported_<name>. Like Prometheus, each scrape also writes
// up, scrape_duration_seconds and scrape_samples_scraped; a failed scrape
// writes only those, with up = 0, and the target's health says why. The demo
// shop is scraped exactly like any other target.
package collectors
