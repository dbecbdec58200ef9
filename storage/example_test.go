package storage_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/archscope/archscope/storage"
)

// A scrape loop appends one batch per scrape; the PromQL engine reads the
// same *DB as its Queryable.
func Example() {
	dir, err := os.MkdirTemp("", "archscope-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	db, err := storage.Open(filepath.Join(dir, "archscope.db"), nil)
	if err != nil {
		panic(err)
	}
	defer db.Close()

	series := labels.FromStrings("__name__", "shop_requests_total", "job", "demo")
	start := time.Unix(1_700_000_000, 0)
	for s := 0; s <= 60; s++ { // 60 s of a counter growing 20/s, scraped every second
		t := start.Add(time.Duration(s) * time.Second)
		if err := db.Append([]storage.Sample{{Labels: series, T: t.UnixMilli(), V: float64(20 * s)}}); err != nil {
			panic(err)
		}
	}
	if err := db.AddAnnotation(storage.Annotation{Time: start.Add(30 * time.Second).UnixMilli(), Text: "load 10 → 20 rps"}); err != nil {
		panic(err)
	}

	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	q, err := engine.NewInstantQuery(context.Background(), db, nil, `rate(shop_requests_total[30s])`, start.Add(time.Minute))
	if err != nil {
		panic(err)
	}
	defer q.Close()
	fmt.Println(q.Exec(context.Background()).String())

	anns, _ := db.Annotations(start.UnixMilli(), start.Add(time.Minute).UnixMilli())
	fmt.Println(anns[0].Text)
	// Output:
	// {job="demo"} => 20 @[1700000060000]
	// load 10 → 20 rps
}
