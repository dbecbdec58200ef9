package simulator

import (
	"testing"
	"time"
)

// TestCacheDownIsLikeNoCache: a cache that answers nothing sends every
// lookup to the database, as if there were no cache.
func TestCacheDownIsLikeNoCache(t *testing.T) {
	cfg := browseConfig()
	cfg.Cache.Enabled = true
	cfg.Faults.CacheDown = true
	_, d := measure(t, cfg, 20*time.Second, 60*time.Second)
	hits := d("shop_cache_hits_total")
	perReq := d("shop_requests_total", "service", "db") / d("shop_requests_total", "service", "product", "code", "200")
	t.Logf("cache down: %.0f hits, %.3f queries per served request", hits, perReq)
	if hits != 0 || perReq < 0.99 {
		t.Errorf("cache down: %.0f hits and %.3f queries per served request, want 0 and 1", hits, perReq)
	}
}

// TestCacheTTLCostsHits: entries that expire after 1 s survive only for
// products asked for again within that second, so the hit ratio falls well
// below the no-expiry one and expirations are counted.
func TestCacheTTLCostsHits(t *testing.T) {
	ratio := func(ttl float64) (float64, float64) {
		cfg := browseConfig()
		cfg.Cache.Enabled = true
		cfg.Cache.TTLMs = ttl
		_, d := measure(t, cfg, 30*time.Second, 60*time.Second)
		hits, misses := d("shop_cache_hits_total"), d("shop_cache_misses_total")
		return hits / (hits + misses), d("shop_cache_expirations_total")
	}
	forever, _ := ratio(0)
	short, expired := ratio(1000)
	t.Logf("hit ratio %.3f without expiry, %.3f with a 1 s TTL (%.0f expirations)", forever, short, expired)
	if !(short < forever-0.1) || expired == 0 {
		t.Errorf("a 1 s TTL left the hit ratio at %.3f (vs %.3f) with %.0f expirations", short, forever, expired)
	}
}

// TestCoalescingTamesAStampede: a stampede is many requests missing the
// same key at once. Here the popular products expire every 2 s and a read
// takes ~320 ms (no index) so each time a hot product expires, every
// request for it in the next ~320 ms misses too and adds its own query.
// With coalescing they wait for the first one's: the database does
// clearly less work for the same answers. (A plain cold cache, by
// contrast, is mostly many different products missing once each, which
// coalescing cannot help.)
func TestCoalescingTamesAStampede(t *testing.T) {
	run := func(coalesce bool) (queries, coalesced, okShare float64) {
		cfg := browseConfig()
		cfg.Cache.Enabled, cfg.Cache.Coalesce, cfg.Cache.TTLMs = true, coalesce, 2000
		cfg.DB.Index = false
		cfg.ProductWorkers, cfg.ProductQueue, cfg.DBConnections = 200, 200, 100
		_, d := measure(t, cfg, 20*time.Second, 60*time.Second)
		users := d("shop_requests_total", "service", "gateway")
		return d("shop_requests_total", "service", "db"), d("shop_cache_coalesced_total"),
			d("shop_requests_total", "service", "gateway", "code", "200") / users
	}
	plain, _, okPlain := run(false)
	single, coalesced, okSingle := run(true)
	t.Logf("60 s, hot keys expiring every 2 s: %.0f queries without coalescing, %.0f with it (%.0f misses coalesced)", plain, single, coalesced)
	// Every coalesced miss is a query not made; some of those would have
	// been made anyway later (the entry's clock starts at a different
	// moment), so the saving is less than the count, but clear: ≥ 10 %.
	if !(single < 0.9*plain) || coalesced == 0 {
		t.Errorf("coalescing did not cut the stampede: %.0f → %.0f queries, %.0f coalesced", plain, single, coalesced)
	}
	if okPlain < 0.99 || okSingle < 0.99 {
		t.Errorf("requests failed (%.3f, %.3f answered 200); the comparison needs a shop that keeps up", okPlain, okSingle)
	}
}
