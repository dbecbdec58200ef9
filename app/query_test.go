package app

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"
)

// storedScrapes counts the demo's stored up samples, through PromQL.
func storedScrapes(t *testing.T, base string) int {
	t.Helper()
	code, pr := get(t, base+"/api/v1/query?"+url.Values{"query": {`count_over_time(up{job="demo"}[1h])`}}.Encode())
	if code != 200 {
		t.Fatalf("count of scrapes: %d %s", code, pr.Error)
	}
	var v struct {
		Result []struct {
			Value [2]any `json:"value"`
		} `json:"result"`
	}
	if err := json.Unmarshal(pr.Data, &v); err != nil || len(v.Result) != 1 {
		t.Fatalf("count of scrapes: %s %v", pr.Data, err)
	}
	n, _ := strconv.Atoi(v.Result[0].Value[1].(string))
	return n
}

// TestHeavyQueries: a query past its timeout answers 503 "timeout" as
// Prometheus does; a range of more than 11 000 points is refused up front
// with 400 "bad_data"; and while heavy queries keep both cores busy for
// seconds, scrapes go on being stored.
func TestHeavyQueries(t *testing.T) {
	start := time.Now().Add(-time.Second)
	a := run(t, Options{})
	waitScrapes(t, a.URL(), start, 2)

	code, pr := get(t, a.URL()+"/api/v1/query_range?"+url.Values{"query": {"up"}, "start": {"0"}, "end": {"11001"}, "step": {"1"}}.Encode())
	if code != 400 || pr.ErrorType != "bad_data" {
		t.Errorf("11 001 points: %d %s %q, want 400 bad_data", code, pr.ErrorType, pr.Error)
	}

	// For each of 600 steps, the median of the 60 000 points of a subquery
	// at a 1 ms step: 600 sorts of 60 000 numbers, whatever the data; 1.25 s
	// of work on the build machine, twelve times the timeout.
	heavy := a.URL() + "/api/v1/query?" + url.Values{
		"query":   {`max_over_time(quantile_over_time(0.5, vector(time())[1m:1ms])[10m:1s])`},
		"timeout": {"100ms"},
	}.Encode()
	before := storedScrapes(t, a.URL())
	var wg sync.WaitGroup
	codes := make(chan promResponse, 64)
	until := time.Now().Add(3 * time.Second)
	for range 2 {
		wg.Go(func() {
			for time.Now().Before(until) {
				// Not get: t.Fatal belongs to the test's goroutine.
				var pr promResponse
				resp, err := http.Get(heavy)
				if err != nil {
					pr.Error = err.Error()
				} else {
					if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil {
						pr.Error = err.Error()
					}
					resp.Body.Close()
					if resp.StatusCode != 503 {
						pr.Status = strconv.Itoa(resp.StatusCode)
					}
				}
				codes <- pr
			}
		})
	}
	wg.Wait()
	close(codes)
	n := 0
	for pr := range codes {
		n++
		if pr.Status != "error" || pr.ErrorType != "timeout" {
			t.Errorf("heavy query answered %+v, want 503 timeout", pr)
		}
	}
	after := storedScrapes(t, a.URL())
	t.Logf("%d heavy queries over 3 s; scrapes stored meanwhile: %d", n, after-before)
	// One scrape a second: a total stall would store none.
	if after-before < 1 {
		t.Errorf("no scrape was stored during 3 s of heavy queries (%d before, %d after)", before, after)
	}
}
