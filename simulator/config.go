package simulator

import (
	"errors"
	"fmt"
)

// Config is the shop's knobs, as the control API reads and writes them.
type Config struct {
	Seed           uint64      `json:"seed"`            // fixed when the shop is made
	Speed          float64     `json:"speed"`           // live mode: virtual seconds per wall second
	ArrivalRate    float64     `json:"arrival_rate"`    // offered load, requests/s, Poisson
	ProductWorkers int         `json:"product_workers"` // product service worker pool
	ProductQueue   int         `json:"product_queue"`   // product service queue; full → 503
	DBConnections  int         `json:"db_connections"`  // database connection pool
	Cache          CacheConfig `json:"cache"`
}

// CacheConfig is the in-process LRU cache in front of the database.
type CacheConfig struct {
	Enabled  bool `json:"enabled"`
	Capacity int  `json:"capacity"` // entries
}

// DefaultConfig is the demo as it starts: an overloaded shop that a cache
// rescues.
//
// The database is the bottleneck: 5 connections × 1/40 ms = 125 queries/s
// at most, against 150 requests/s offered. Without the cache every request
// needs a query, so the product workers pile up waiting for connections, the
// product queue fills, and about one request in six is refused with a 503;
// the rest wait up to ~0.6 s (16 workers + 64 queued, drained at 125/s). With
// the cache on, product popularity is Zipf (s = 1.2) over 10 000 products, so
// a 1 000-entry LRU answers ~85 % of lookups once warm (a few seconds at this
// rate): the database sees ~22 queries/s, utilisation ~18 %, no queue, and
// p99 is a slow query plus hops, tens of milliseconds.
func DefaultConfig() Config {
	return Config{
		Seed:           1,
		Speed:          1,
		ArrivalRate:    150,
		ProductWorkers: 16,
		ProductQueue:   64,
		DBConnections:  5,
		Cache:          CacheConfig{Enabled: false, Capacity: 1000},
	}
}

// Limits keep the simulation meaningful and its memory bounded.
const (
	maxArrivalRate = 100_000
	maxWorkers     = 10_000
	maxQueue       = 1_000_000
	maxConnections = 10_000
	catalogSize    = 10_000
)

// Live-mode speed bounds: slow motion to fast-forward.
const minSpeed, maxSpeed = 0.25, 100.0

// Validate reports every knob out of range, each with its bounds.
func (c Config) Validate() error {
	var errs []error
	if !(c.Speed >= minSpeed && c.Speed <= maxSpeed) {
		errs = append(errs, fmt.Errorf("speed must be in [%g, %g] (virtual seconds per wall second), got %v", minSpeed, maxSpeed, c.Speed))
	}
	if !(c.ArrivalRate > 0 && c.ArrivalRate <= maxArrivalRate) {
		errs = append(errs, fmt.Errorf("arrival_rate must be in (0, %d], got %v", maxArrivalRate, c.ArrivalRate))
	}
	if c.ProductWorkers < 1 || c.ProductWorkers > maxWorkers {
		errs = append(errs, fmt.Errorf("product_workers must be in [1, %d], got %d", maxWorkers, c.ProductWorkers))
	}
	if c.ProductQueue < 0 || c.ProductQueue > maxQueue {
		errs = append(errs, fmt.Errorf("product_queue must be in [0, %d], got %d", maxQueue, c.ProductQueue))
	}
	if c.DBConnections < 1 || c.DBConnections > maxConnections {
		errs = append(errs, fmt.Errorf("db_connections must be in [1, %d], got %d", maxConnections, c.DBConnections))
	}
	if c.Cache.Capacity < 0 || c.Cache.Capacity > catalogSize {
		errs = append(errs, fmt.Errorf("cache.capacity must be in [0, %d] (the catalog's size), got %d", catalogSize, c.Cache.Capacity))
	}
	return errors.Join(errs...)
}
