package simulator

import (
	"math"
	"testing"
	"time"
)

// TestIndexAndNPlusOne: at light load (2 req/s, cache off, so waits for a
// connection are rare) a page without the index takes ~8× as long in the
// database, and an N+1 page (1 + 10 queries at ½ and ¼ of the joined
// query's cost) makes 11 queries and takes ~3× as long end to end.
// Tolerance 10 %: ~1200 log-normal queries per run put ~2 % noise on a mean.
func TestIndexAndNPlusOne(t *testing.T) {
	type out struct{ queriesPerReq, dbMean, pageMean float64 }
	run := func(mut func(*Config)) out {
		cfg := browseConfig()
		cfg.ArrivalRate = 2
		mut(&cfg)
		s, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Advance(600 * time.Second)
		q, qsum := metric(t, s, "shop_request_duration_seconds", "service", "db")
		p, psum := metric(t, s, "shop_request_duration_seconds", "service", "product")
		return out{q / p, qsum / q, psum / p}
	}
	base := run(func(*Config) {})
	scan := run(func(c *Config) { c.DB.Index = false })
	n1 := run(func(c *Config) { c.DB.NPlusOne = true })
	t.Logf("joined, indexed: %.2f queries per page, query %.1f ms, page %.1f ms", base.queriesPerReq, base.dbMean*1000, base.pageMean*1000)
	t.Logf("no index:        %.2f queries per page, query %.1f ms, page %.1f ms", scan.queriesPerReq, scan.dbMean*1000, scan.pageMean*1000)
	t.Logf("N+1:             %.2f queries per page, query %.1f ms, page %.1f ms", n1.queriesPerReq, n1.dbMean*1000, n1.pageMean*1000)
	within := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got/want-1) > 0.10 {
			t.Errorf("%s: %.3f, want %.3f ± 10 %%", what, got, want)
		}
	}
	within("queries per page, joined", base.queriesPerReq, 1)
	within("query time without the index ÷ with", scan.dbMean/base.dbMean, scanFactor)
	within("queries per page, N+1", n1.queriesPerReq, 11)
	// Less the product service's own ~1 ms of work, which N+1 does not change.
	within("page time N+1 ÷ joined (database part)", (n1.pageMean-0.001)/(base.pageMean-0.001), 3)
}
