package simulator

import (
	"math"
	"testing"
	"time"
)

// TestClosedModelObeysTheResponseTimeLaw: N virtual users who think Z on
// average between requests and wait R for each answer send X = N/(R+Z)
// requests a second (the interactive response time law). Checked within
// 2 %, on 300 s and ~15 000 requests; and the overloaded shop, which an
// open model at 150 req/s floods with 503s, is sent less by 150 users who
// wait for their answers.
func TestClosedModelObeysTheResponseTimeLaw(t *testing.T) {
	run := func(users int, thinkMs float64, cache bool) (x, r float64, refused float64) {
		cfg := browseConfig()
		cfg.Cache.Enabled = cache
		cfg.Load.Model, cfg.Load.Users, cfg.Load.ThinkMs = ClosedModel, users, thinkMs
		s, d := measure(t, cfg, 30*time.Second, 300*time.Second)
		n := d("shop_requests_total", "service", "gateway")
		// R over the whole run: the warm-up is a tenth of it and steady too.
		cnt, sum := metric(t, s, "shop_request_duration_seconds", "service", "gateway")
		return n / 300, sum / cnt, d("shop_requests_total", "service", "gateway", "code", "503") / n
	}
	x, r, _ := run(50, 1000, true)
	t.Logf("50 users, 1 s think: X = %.2f req/s, R = %.1f ms, N/(R+Z) = %.2f", x, r*1000, 50/(r+1))
	if want := 50 / (r + 1); math.Abs(x/want-1) > 0.02 {
		t.Errorf("X = %.2f req/s, the response time law says %.2f", x, want)
	}
	xo, ro, refused := run(150, 1000, false)
	t.Logf("150 users, no cache: X = %.1f req/s, R = %.0f ms, %.1f %% refused", xo, ro*1000, 100*refused)
	if !(xo < 130) {
		t.Errorf("150 waiting users sent %.1f req/s to a shop that serves ~125; a closed model must slow down with it", xo)
	}
	if refused > 0.05 {
		t.Errorf("%.1f %% refused: users who wait for answers should rarely overflow the queue", 100*refused)
	}
}
