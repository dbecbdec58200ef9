package app

import (
	"math"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// BenchmarkScrapeToBrowser measures the live stream end to end on a real App
// with the demo shop at its defaults (1 s scrapes): from a scrape's
// timestamp (its start, which is the points message's time) to a websocket
// client over loopback having read and decoded that points message. One
// iteration is one scrape. It covers the scrape itself, storing it, the
// dashboard's PromQL, the broadcast and the write; archscope_live_delay_seconds
// covers only the part up to the broadcast (queued-mean-ms, its mean over the
// run). app-cpu-%-of-core is the whole
// process: shop, scrapes, queries, one browser.
func BenchmarkScrapeToBrowser(b *testing.B) {
	a := run(b, Options{})
	c, _ := dialLive(b, a)
	// Warm up until the 10 s rate() window behind every panel is full, so the
	// queries cost what they cost from then on.
	for range 12 {
		nextPoints(b, c)
	}
	delays := make([]time.Duration, 0, b.N)
	queuedSum, queuedCount := liveDelaySum(b, a)
	before := cpuTime()
	start := time.Now()
	b.ResetTimer()
	for range b.N {
		m := nextPoints(b, c)
		delays = append(delays, time.Since(time.UnixMilli(int64(math.Round(m.Time*1000)))))
	}
	b.StopTimer()
	cpu, wall := cpuTime()-before, time.Since(start)
	sum, count := liveDelaySum(b, a)
	slices.Sort(delays)
	b.ReportMetric(ms(quantile(delays, 0.5)), "p50-ms")
	b.ReportMetric(ms(quantile(delays, 0.99)), "p99-ms")
	b.ReportMetric(ms(delays[len(delays)-1]), "max-ms")
	b.ReportMetric(1000*(sum-queuedSum)/float64(count-queuedCount), "queued-mean-ms")
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "app-cpu-%-of-core")
}

// liveDelaySum reads archscope_live_delay_seconds (scrape start → queued
// for every browser): its sum and count so far.
func liveDelaySum(b *testing.B, a *App) (float64, uint64) {
	var m dto.Metric
	if err := a.liveDelay.Write(&m); err != nil {
		b.Fatal(err)
	}
	return m.GetHistogram().GetSampleSum(), m.GetHistogram().GetSampleCount()
}

// quantile is the nearest-rank q-quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
