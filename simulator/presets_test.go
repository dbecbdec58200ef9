package simulator

import (
	"encoding/json"
	"os"
	"testing"
	"time"
)

// preset is one of the dashboard's scenario presets (frontend/src/presets.json).
type preset struct {
	ID    string         `json:"id"`
	Title string         `json:"title"`
	Story string         `json:"story"`
	Watch string         `json:"watch"`
	Patch map[string]any `json:"patch"`
}

// window is what the shop did between two moments: rates and means over it.
type window struct {
	ok, errors, offered, rateLimited, retries, timeouts float64 // per second
	meanLatency, checkoutLatency                        float64 // seconds
	dbUtil, productUtil                                 float64 // busy share
	breakerOpens, coldStarts, product503                float64 // counts
}

type tally struct {
	ok, all, offered, limited, retries, timeouts, n, sum, cn, csum, dbBusy, prodBusy, prodServers, opens, cold, p503 float64
}

func tallyOf(t *testing.T, s *Shop) tally {
	n, sum := histOf(t, s, "shop_request_duration_seconds", "service", "gateway")
	cn, csum := histOf(t, s, "shop_request_duration_seconds", "service", "gateway", "route", "/api/checkout")
	var ok float64
	for _, code := range []string{"200", "202"} {
		ok += sumOf(t, s, "shop_requests_total", "service", "gateway", "code", code)
	}
	servers, _ := metric(t, s, "shop_servers", "service", "product", "replica", "0")
	return tally{
		ok: ok, all: sumOf(t, s, "shop_requests_total", "service", "gateway"),
		offered: sumOf(t, s, "shop_offered_requests_total"), limited: sumOf(t, s, "shop_rate_limited_total"),
		retries: sumOf(t, s, "shop_retries_total"), timeouts: sumOf(t, s, "shop_timeouts_total"),
		n: n, sum: sum, cn: cn, csum: csum,
		dbBusy: sumOf(t, s, "shop_busy_seconds_total", "service", "db"), prodBusy: sumOf(t, s, "shop_busy_seconds_total", "service", "product"),
		prodServers: servers,
		opens:       sumOf(t, s, "shop_circuit_breaker_opens_total"), cold: sumOf(t, s, "shop_cold_starts_total"),
		p503: sumOf(t, s, "shop_requests_total", "service", "product", "code", "503"),
	}
}

// run advances the shop by d and reports the window.
func runWindow(t *testing.T, s *Shop, d time.Duration, dbConns float64) window {
	a := tallyOf(t, s)
	s.Advance(d)
	b := tallyOf(t, s)
	sec := d.Seconds()
	w := window{
		ok: (b.ok - a.ok) / sec, errors: (b.all - a.all - (b.ok - a.ok)) / sec, offered: (b.offered - a.offered) / sec,
		rateLimited: (b.limited - a.limited) / sec, retries: (b.retries - a.retries) / sec, timeouts: (b.timeouts - a.timeouts) / sec,
		dbUtil: (b.dbBusy - a.dbBusy) / sec / dbConns, productUtil: (b.prodBusy - a.prodBusy) / sec,
		breakerOpens: b.opens - a.opens, coldStarts: b.cold - a.cold, product503: b.p503 - a.p503,
	}
	if b.n > a.n {
		w.meanLatency = (b.sum - a.sum) / (b.n - a.n)
	}
	if b.cn > a.cn {
		w.checkoutLatency = (b.csum - a.csum) / (b.cn - a.cn)
	}
	return w
}

// TestPresetsTellTheirStories replays each of the dashboard's presets in
// fast mode, from the defaults as the page applies them, and checks the
// effect its text promises, in numbers. Two-act presets are measured before
// their 30 s change (after a 10 s warm-up) and after it (from 40 s).
func TestPresetsTellTheirStories(t *testing.T) {
	b, err := os.ReadFile("../frontend/src/presets.json")
	if err != nil {
		t.Fatal(err)
	}
	var presets []preset
	if err := json.Unmarshal(b, &presets); err != nil {
		t.Fatal(err)
	}
	base := newShopT(t, DefaultConfig())
	base.Advance(10 * time.Second)
	def := runWindow(t, base, 20*time.Second, 4)
	seen := map[string]bool{}
	for _, p := range presets {
		seen[p.ID] = true
		t.Run(p.ID, func(t *testing.T) {
			cfg, err := patched(DefaultConfig(), p.Patch)
			if err != nil {
				t.Fatalf("%s: %v", p.Title, err)
			}
			s := newShopT(t, cfg)
			conns := float64(cfg.DBConnections)
			s.Advance(10 * time.Second)
			one := runWindow(t, s, 20*time.Second, conns)
			s.Advance(10 * time.Second)
			two := runWindow(t, s, 50*time.Second, conns)
			t.Logf("%s\n  defaults: %+v\n  act one:  %+v\n  act two:  %+v", p.Title, def, one, two)
			check := func(ok bool, what string) {
				t.Helper()
				if !ok {
					t.Errorf("%s: %s", p.Title, what)
				}
			}
			switch p.ID {
			case "cache":
				check(def.errors > 10 && one.errors < 0.5, "errors should stop")
				check(one.ok > 0.98*one.offered && one.ok > def.ok*1.1, "throughput should rise to the offered load")
				check(one.meanLatency < def.meanLatency/4, "latency should fall")
			case "async":
				check(one.checkoutLatency < 0.06, "checkout should answer before payment and notification")
				check(one.errors < 0.5, "nothing should fail")
			case "storm":
				check(one.retries > 20 && one.timeouts > 20, "timeouts and retries should storm")
				check(one.dbUtil > 0.95, "the database should drown")
				check(two.breakerOpens > 0, "the breaker should open")
				check(two.dbUtil < 0.9 && two.ok > 3*one.ok, "the database should recover and serve more once the breakers shed load")
			case "scale":
				check(one.product503 > 100, "one instance should refuse requests")
				check(two.product503 == 0, "three instances should refuse none")
				check(two.meanLatency < one.meanLatency/2, "latency should fall after scaling out")
			case "index":
				check(one.dbUtil > 0.95 && two.dbUtil < 0.5, "the database should go from saturated to idle")
				check(two.meanLatency < one.meanLatency/4, "latency should collapse when the index returns")
			case "nplus1":
				check(one.dbUtil > 2*two.dbUtil, "N+1 should load the database far more than batching")
				check(two.meanLatency < one.meanLatency, "batching should be faster")
			case "serverless":
				check(one.coldStarts+two.coldStarts > 5, "instances should start cold again and again")
				check(one.errors+two.errors < 1, "nothing should be throttled at this load")
			case "flash":
				// The spike holds from 15 s to 45 s: act one is inside it.
				check(one.offered > 500 && one.rateLimited > 200, "the spike should be rate-limited")
				check(one.ok > 225 && one.ok < 275, "the gateway should pass about 250 req/s")
				check(one.meanLatency < 0.05, "latency should stay low for those served")
			case "monolith":
				check(one.checkoutLatency-two.checkoutLatency > 0.06, "checkout should be ~80 ms faster in the monolith")
			default:
				t.Errorf("preset %q has no check here: add one", p.ID)
			}
		})
	}
	if len(seen) < 8 {
		t.Errorf("%d presets, want the issue's 8 stories at least", len(seen))
	}
}
