package simulator

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Config is the shop's knobs, as the control API reads and writes them.
type Config struct {
	Seed            uint64      `json:"seed"`             // fixed when the shop is made
	Speed           float64     `json:"speed"`            // live mode: virtual seconds per wall second
	ArrivalRate     float64     `json:"arrival_rate"`     // offered load, requests/s, Poisson
	ProductReplicas int         `json:"product_replicas"` // instances of the product service
	LoadBalancer    string      `json:"load_balancer"`    // how the gateway picks a product instance
	ProductWorkers  int         `json:"product_workers"`  // worker pool of each product instance
	ProductQueue    int         `json:"product_queue"`    // queue of each product instance; full → 503
	DBConnections   int         `json:"db_connections"`   // database connection pool
	DB              DBConfig    `json:"db"`
	Network         Network     `json:"network"`
	Cache           CacheConfig `json:"cache"`
	RateLimit       RateLimit   `json:"rate_limit"`
	Retries         Retries     `json:"retries"`
	Timeouts        Timeouts    `json:"timeouts"`
	Breaker         Breaker     `json:"circuit_breaker"`
	Autoscaling     Autoscaling `json:"autoscaling"`
	Serverless      Serverless  `json:"serverless"`
	Load            Load        `json:"load"`
	Schedule        []Change    `json:"schedule"`
	Faults          Faults      `json:"faults"`

	Topology string        `json:"topology"` // "microservices" (the default) or "monolith"
	Monolith ServiceConfig `json:"monolith"` // the one process every service runs in, when topology is monolith
	Services Services      `json:"services"` // the microservices other than product, each sized on its own
	Journeys Journeys      `json:"journeys"` // what users do: the mix of requests the load generator sends
	Queue    QueueConfig   `json:"queue"`    // the message queue between order and payment/notification
	CDN      CDNConfig     `json:"cdn"`      // an edge cache in front of the static image service
	Hedging  Hedging       `json:"hedging"`  // the gateway's hedged requests to the product service
}

// ServiceConfig sizes one service: its instances, each instance's worker
// pool, and each instance's queue (full → 503 at once).
type ServiceConfig struct {
	Replicas int `json:"replicas"`
	Workers  int `json:"workers"`
	Queue    int `json:"queue"`
}

// Services are the microservices beside product (whose knobs are the
// product_* ones, for history's sake). Each instance is picked by the
// load_balancer policy.
type Services struct {
	Auth         ServiceConfig `json:"auth"`
	Search       ServiceConfig `json:"search"`
	Cart         ServiceConfig `json:"cart"`
	Order        ServiceConfig `json:"order"`
	Inventory    ServiceConfig `json:"inventory"`
	Payment      ServiceConfig `json:"payment"`
	Notification ServiceConfig `json:"notification"`
	Static       ServiceConfig `json:"static"`
}

// Journeys are relative weights of what each arriving user does (they need
// not sum to 1): browse a product page (gateway → product → cache/db),
// search (→ search → db), add to cart (→ cart → auth, inventory), check out
// (→ order → auth, inventory, db, then payment and notification, or the
// queue), or load an image (→ CDN edge, or the static service behind the
// gateway).
type Journeys struct {
	Browse   float64 `json:"browse"`
	Search   float64 `json:"search"`
	Cart     float64 `json:"cart"`
	Checkout float64 `json:"checkout"`
	Images   float64 `json:"images"`
}

// QueueConfig is the message queue between order and the work that follows
// an order. Synchronous checkout, order calls payment and then notification
// while the user waits. Asynchronous, order publishes a message and answers
// 202; consumers (one worker each) take messages and call payment and
// notification. Each consumer holds up to prefetch unacknowledged messages
// (RabbitMQ's basic.qos): more keeps consumers busy, but a stalled
// consumer then sits on more messages. A message whose processing fails is
// delivered again, up to max_deliveries times, then dead-lettered.
type QueueConfig struct {
	AsyncCheckout bool `json:"async_checkout"`
	Consumers     int  `json:"consumers"`
	Prefetch      int  `json:"prefetch"`
	MaxDeliveries int  `json:"max_deliveries"`
}

// CDNConfig is an edge cache for product images. On, an image request is
// answered at the edge (near the user) when the image is cached there and
// goes to the static service behind the gateway only on a miss; off, every
// image request crosses to the gateway.
type CDNConfig struct {
	Enabled  bool    `json:"enabled"`
	Capacity int     `json:"capacity"` // images the edge holds (LRU)
	TTLMs    float64 `json:"ttl_ms"`   // 0 = never expires
}

// Hedging is the gateway sending a second try of a product request to
// another instance when the first has not answered within delay_ms; the
// first answer wins and the other is wasted work ("The Tail at Scale").
type Hedging struct {
	Enabled bool    `json:"enabled"`
	DelayMs float64 `json:"delay_ms"`
}

// ServiceFault is what can go wrong with one service.
type ServiceFault struct {
	ErrorRatio     float64 `json:"error_ratio"`      // share of requests answered with error_code
	ErrorCode      int     `json:"error_code"`       // 500, 502, 503 or 504 (0 means 500)
	AddedLatencyMs float64 `json:"added_latency_ms"` // added to each request's work ...
	JitterMs       float64 `json:"jitter_ms"`        // ... plus exponential jitter of this mean
	CPUHog         float64 `json:"cpu_hog"`          // instance 0's own work takes this many times longer (0 or 1: none)
	Down           bool    `json:"down"`             // instance 0 has crashed: requests sent to it are refused (503); clearing it is the restart
}

// ServiceFaults are the per-service faults, by service.
type ServiceFaults struct {
	Product      ServiceFault `json:"product"`
	Auth         ServiceFault `json:"auth"`
	Search       ServiceFault `json:"search"`
	Cart         ServiceFault `json:"cart"`
	Order        ServiceFault `json:"order"`
	Inventory    ServiceFault `json:"inventory"`
	Payment      ServiceFault `json:"payment"`
	Notification ServiceFault `json:"notification"`
	Static       ServiceFault `json:"static"`
	Worker       ServiceFault `json:"worker"`
}

// Partition cuts the network between two services: calls between them
// vanish and the caller gives up after its connect timeout (10 s), as a
// dropped SYN does. In the monolith, calls between its parts cross no
// network and a partition between them changes nothing.
type Partition struct {
	A string `json:"a"`
	B string `json:"b"`
}

// RateLimit is a token bucket at the gateway: requests beyond it get 429 at
// once instead of joining the queues.
type RateLimit struct {
	Enabled bool    `json:"enabled"`
	RPS     float64 `json:"rps"`   // tokens added per second
	Burst   int     `json:"burst"` // bucket size
}

// Retries are the gateway's: a 5xx answer is retried after a backoff of
// uniform(0, backoff_ms × 2^(attempt−1)) ("full jitter"), up to max_attempts
// tries in all. Latency still counts from the first try.
type Retries struct {
	MaxAttempts int     `json:"max_attempts"` // 1 = no retries
	BackoffMs   float64 `json:"backoff_ms"`
}

// Timeouts are the gateway's. A try that has not answered in time is
// answered 504 (or retried, if tries are left), but the work it started goes
// on: nothing tells the product service or the database to stop. That is
// what turns retries into a storm.
type Timeouts struct {
	GatewayMs float64 `json:"gateway_ms"` // 0: wait forever
}

// Breaker is the gateway's circuit breakers, one per route (so one per
// upstream service), all with these settings. Closed, it counts consecutive failed tries (5xx or timeout); at
// failure_threshold it opens and refuses tries at once with 503 for open_ms;
// then it lets half_open_probes tries through: one success closes it, one
// failure opens it again.
type Breaker struct {
	Enabled          bool    `json:"enabled"`
	FailureThreshold int     `json:"failure_threshold"`
	OpenMs           float64 `json:"open_ms"`
	HalfOpenProbes   int     `json:"half_open_probes"`
}

// Autoscaling sizes the product service like a Kubernetes HPA: every
// interval it compares the instances' utilisation over that interval with
// the target and asks for ceil(replicas × utilisation / target) instances,
// within [min, max]. New instances take scale_up_delay_ms to start; after a
// change the autoscaler waits cooldown_ms before changing again.
type Autoscaling struct {
	Enabled           bool    `json:"enabled"`
	TargetUtilisation float64 `json:"target_utilisation"` // of the workers, 0–1
	Min               int     `json:"min"`
	Max               int     `json:"max"`
	IntervalMs        float64 `json:"interval_ms"`
	CooldownMs        float64 `json:"cooldown_ms"`
	ScaleUpDelayMs    float64 `json:"scale_up_delay_ms"`
}

// Load is how the load generator sends. Open (as k6's arrival-rate
// executors): requests arrive at a rate whether or not the shop keeps up.
// Closed (as k6's virtual users, Locust): users virtual users each send a
// request, wait for its answer, think, and send again, so a slow shop is
// sent less. In the open model the rate can be shaped over time, on top of
// arrival_rate. Stages
// run once from the moment they are set, like k6's ramping-arrival-rate:
// each moves the rate linearly from where the last one ended to its target
// over its duration ("ramp"; a short stage is a spike, equal targets hold it
// steady); after the last, its target holds. A sine multiplies the rate by
// 1 + amplitude·sin(2πt/period), a day/night cycle. Arrivals stay Poisson at
// the rate of the moment.
type Load struct {
	Model         string  `json:"model"`    // "open" (arrivals at a rate, the default) or "closed" (virtual users)
	Users         int     `json:"users"`    // closed: virtual users, each sending, waiting, thinking, sending
	ThinkMs       float64 `json:"think_ms"` // closed: mean think time (exponential)
	Stages        []Stage `json:"stages"`
	SineAmplitude float64 `json:"sine_amplitude"` // 0–1; 0 = none
	SinePeriodS   float64 `json:"sine_period_s"`
}

// Stage is one leg of the load schedule.
type Stage struct {
	DurationS  float64 `json:"duration_s"`
	TargetRate float64 `json:"target_rate"` // requests/s at the end of the stage
}

// Serverless runs the product service as functions: no instance until a
// request needs one; a new instance takes cold_start_ms before it serves
// (the request that called it waits); each serves up to concurrency
// requests at once; one idle for idle_timeout_ms is reclaimed. With
// max_instances all busy, requests are throttled with 429. It replaces
// product_replicas, product_workers and the autoscaler while on.
type Serverless struct {
	Enabled       bool    `json:"enabled"`
	Concurrency   int     `json:"concurrency"`
	ColdStartMs   float64 `json:"cold_start_ms"`
	IdleTimeoutMs float64 `json:"idle_timeout_ms"`
	MaxInstances  int     `json:"max_instances"`
}

// Network adds latency to every hop between the gateway and the product
// service, each way: a fixed delay plus exponential jitter of the given mean.
// Hops are ~0.5 ms without it.
type Network struct {
	AddedMs  float64 `json:"added_ms"`
	JitterMs float64 `json:"jitter_ms"`
}

// DBConfig is how the product service reads a product page: the product
// and its related items. Batched, that is one joined query (~40 ms). With
// n_plus_one it is one query for the product (half the cost) and then one
// per related item (a quarter each), one after another, each waiting for a
// connection. Without the index every query scans the table: 8× the time.
type DBConfig struct {
	Index        bool `json:"index"`
	NPlusOne     bool `json:"n_plus_one"`
	RelatedItems int  `json:"related_items"` // the N of N+1
	// Distribution of a query's time, same mean: "lognormal" (σ 0.5, the
	// default), "exponential", "deterministic", or "hyperexponential"
	// (squared coefficient of variation 4: a heavy tail).
	Distribution string `json:"distribution"`
}

// scanFactor is how much longer a query takes without its index.
const scanFactor = 8

// Faults injected into the shop.
type Faults struct {
	DBErrorRatio     float64 `json:"db_error_ratio"`      // share of queries that fail (the product service answers 500)
	ProductCPUHog    float64 `json:"product_cpu_hog"`     // product instance 0's own work takes this many times longer (0 or 1: none)
	CacheDown        bool    `json:"cache_down"`          // the cache answers nothing: every lookup misses
	ProductDown      bool    `json:"product_down"`        // product instance 0 has crashed: tries sent to it are refused (503)
	Partition        bool    `json:"partition"`           // gateway and product cannot reach each other: tries vanish until a timeout
	GCPauseMs        float64 `json:"gc_pause_ms"`         // product instances stop the world this long ...
	GCIntervalS      float64 `json:"gc_interval_s"`       // ... this often (each at its own phase)
	LeakMsPerMin     float64 `json:"leak_ms_per_min"`     // a memory leak: product work grows this much per minute until the fault is cleared (a restart)
	DBAddedLatencyMs float64 `json:"db_added_latency_ms"` // added to every query: a slow-query fault

	// DBLockContention c makes a query that starts with n connections busy
	// take 1 + c·(n−1) times as long: lock waits grow with concurrency.
	DBLockContention   float64       `json:"db_lock_contention"`
	CacheFlush         bool          `json:"cache_flush"`          // turning it on empties the cache once (a stampede follows); turn it off before flushing again
	QueueConsumerStall bool          `json:"queue_consumer_stall"` // consumer 0 stops taking messages (those it holds wait)
	Service            ServiceFaults `json:"service"`
	Partitions         []Partition   `json:"partitions"`
}

// CacheConfig is the in-process LRU cache in front of the database.
type CacheConfig struct {
	Enabled  bool    `json:"enabled"`
	Capacity int     `json:"capacity"` // entries
	TTLMs    float64 `json:"ttl_ms"`   // an entry older than this is a miss; 0 = never expires
	Coalesce bool    `json:"coalesce"` // concurrent misses for one product wait for a single query
	Policy   string  `json:"policy"`   // what to evict when full: "lru" (least recently used) or "lfu" (least frequently used)
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
		Seed:            1,
		Speed:           1,
		ArrivalRate:     150,
		ProductReplicas: 1,
		LoadBalancer:    RoundRobin,
		ProductWorkers:  16,
		ProductQueue:    64,
		DBConnections:   4,
		DB:              DBConfig{Index: true, NPlusOne: false, RelatedItems: 10, Distribution: LogNormal},
		Cache:           CacheConfig{Enabled: false, Capacity: 1000, Policy: LRU},
		RateLimit:       RateLimit{Enabled: false, RPS: 200, Burst: 50},
		Retries:         Retries{MaxAttempts: 1, BackoffMs: 50},
		Breaker:         Breaker{Enabled: false, FailureThreshold: 5, OpenMs: 2000, HalfOpenProbes: 1},
		Serverless:      Serverless{Enabled: false, Concurrency: 1, ColdStartMs: 800, IdleTimeoutMs: 30_000, MaxInstances: maxReplicas},
		Load:            Load{Model: OpenModel, Users: 50, ThinkMs: 1000},
		Autoscaling: Autoscaling{Enabled: false, TargetUtilisation: 0.6, Min: 1, Max: 10,
			IntervalMs: 1000, CooldownMs: 10_000, ScaleUpDelayMs: 5000},
		Topology: Microservices,
		Monolith: ServiceConfig{Replicas: 1, Workers: 32, Queue: 128},
		Services: Services{
			Auth:         ServiceConfig{Replicas: 1, Workers: 8, Queue: 64},
			Search:       ServiceConfig{Replicas: 1, Workers: 8, Queue: 64},
			Cart:         ServiceConfig{Replicas: 1, Workers: 8, Queue: 64},
			Order:        ServiceConfig{Replicas: 1, Workers: 8, Queue: 64},
			Inventory:    ServiceConfig{Replicas: 1, Workers: 8, Queue: 64},
			Payment:      ServiceConfig{Replicas: 1, Workers: 8, Queue: 64},
			Notification: ServiceConfig{Replicas: 1, Workers: 8, Queue: 64},
			Static:       ServiceConfig{Replicas: 1, Workers: 8, Queue: 64},
		},
		Journeys: Journeys{Browse: 0.8, Search: 0.06, Cart: 0.06, Checkout: 0.03, Images: 0.05},
		Queue:    QueueConfig{AsyncCheckout: false, Consumers: 2, Prefetch: 10, MaxDeliveries: 3},
		CDN:      CDNConfig{Enabled: false, Capacity: 2000},
		Hedging:  Hedging{Enabled: false, DelayMs: 50},
	}
}

// Topologies.
const (
	Microservices = "microservices"
	Monolith      = "monolith"
)

// Query-time distributions.
const (
	LogNormal        = "lognormal"
	Exponential      = "exponential"
	Deterministic    = "deterministic"
	HyperExponential = "hyperexponential"
)

// Cache eviction policies.
const (
	LRU = "lru"
	LFU = "lfu"
)

// Load models.
const (
	OpenModel   = "open"
	ClosedModel = "closed"
)

// Load-balancing policies for the product service's instances.
const (
	RoundRobin       = "round_robin"
	LeastConnections = "least_connections"
	Random           = "random"
	PowerOfTwo       = "power_of_two" // two random instances, the less busy one
)

var loadBalancers = []string{RoundRobin, LeastConnections, Random, PowerOfTwo}

// Limits keep the simulation meaningful and its memory bounded.
const (
	maxArrivalRate = 100_000
	maxWorkers     = 10_000
	maxQueue       = 1_000_000
	maxConnections = 10_000
	catalogSize    = 10_000
	maxReplicas    = 100
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
	if c.ProductReplicas < 1 || c.ProductReplicas > maxReplicas {
		errs = append(errs, fmt.Errorf("product_replicas must be in [1, %d], got %d", maxReplicas, c.ProductReplicas))
	}
	if !slices.Contains(loadBalancers, c.LoadBalancer) {
		errs = append(errs, fmt.Errorf("load_balancer must be one of %s, got %q", strings.Join(loadBalancers, ", "), c.LoadBalancer))
	}
	if !(c.Faults.ProductCPUHog >= 0 && c.Faults.ProductCPUHog <= 1000) {
		errs = append(errs, fmt.Errorf("faults.product_cpu_hog must be in [0, 1000], got %v", c.Faults.ProductCPUHog))
	}
	if a := c.Autoscaling; !(a.TargetUtilisation > 0 && a.TargetUtilisation <= 1) {
		errs = append(errs, fmt.Errorf("autoscaling.target_utilisation must be in (0, 1], got %v", a.TargetUtilisation))
	}
	if a := c.Autoscaling; a.Min < 1 || a.Max > maxReplicas || a.Min > a.Max {
		errs = append(errs, fmt.Errorf("autoscaling.min and .max must satisfy 1 ≤ min ≤ max ≤ %d, got %d and %d", maxReplicas, a.Min, a.Max))
	}
	if a := c.Autoscaling; !(a.IntervalMs >= 100 && a.IntervalMs <= 600_000) {
		errs = append(errs, fmt.Errorf("autoscaling.interval_ms must be in [100, 600000], got %v", a.IntervalMs))
	}
	if a := c.Autoscaling; !(a.CooldownMs >= 0 && a.CooldownMs <= 3_600_000 && a.ScaleUpDelayMs >= 0 && a.ScaleUpDelayMs <= 3_600_000) {
		errs = append(errs, fmt.Errorf("autoscaling.cooldown_ms and .scale_up_delay_ms must be in [0, 3600000], got %v and %v", a.CooldownMs, a.ScaleUpDelayMs))
	}
	if c.Load.Model != OpenModel && c.Load.Model != ClosedModel {
		errs = append(errs, fmt.Errorf("load.model must be %q or %q, got %q", OpenModel, ClosedModel, c.Load.Model))
	}
	if c.Load.Users < 1 || c.Load.Users > 100_000 || !(c.Load.ThinkMs >= 0 && c.Load.ThinkMs <= 3_600_000) {
		errs = append(errs, fmt.Errorf("load.users must be in [1, 100000] and load.think_ms in [0, 3600000], got %d and %v", c.Load.Users, c.Load.ThinkMs))
	}
	if len(c.Load.Stages) > 100 {
		errs = append(errs, fmt.Errorf("load.stages: at most 100 stages, got %d", len(c.Load.Stages)))
	}
	for i, st := range c.Load.Stages {
		if !(st.DurationS > 0 && st.DurationS <= 86_400*7) || !(st.TargetRate >= 0 && st.TargetRate <= maxArrivalRate) {
			errs = append(errs, fmt.Errorf("load.stages[%d]: duration_s must be in (0, 604800] and target_rate in [0, %d], got %v and %v", i, maxArrivalRate, st.DurationS, st.TargetRate))
		}
	}
	if l := c.Load; !(l.SineAmplitude >= 0 && l.SineAmplitude <= 1) || (l.SineAmplitude > 0 && !(l.SinePeriodS >= 1 && l.SinePeriodS <= 86_400*7)) {
		errs = append(errs, fmt.Errorf("load.sine_amplitude must be in [0, 1] and, when set, load.sine_period_s in [1, 604800], got %v and %v", l.SineAmplitude, l.SinePeriodS))
	}
	if !(c.Cache.TTLMs >= 0 && c.Cache.TTLMs <= 86_400_000) {
		errs = append(errs, fmt.Errorf("cache.ttl_ms must be in [0, 86400000] (0 = no expiry), got %v", c.Cache.TTLMs))
	}
	if sl := c.Serverless; sl.Concurrency < 1 || sl.Concurrency > 1000 || sl.MaxInstances < 1 || sl.MaxInstances > maxReplicas {
		errs = append(errs, fmt.Errorf("serverless.concurrency must be in [1, 1000] and .max_instances in [1, %d], got %d and %d", maxReplicas, sl.Concurrency, sl.MaxInstances))
	}
	if sl := c.Serverless; !(sl.ColdStartMs >= 0 && sl.ColdStartMs <= 600_000 && sl.IdleTimeoutMs >= 0 && sl.IdleTimeoutMs <= 86_400_000) {
		errs = append(errs, fmt.Errorf("serverless.cold_start_ms must be in [0, 600000] and .idle_timeout_ms in [0, 86400000], got %v and %v", sl.ColdStartMs, sl.IdleTimeoutMs))
	}
	if c.Serverless.Enabled && c.Autoscaling.Enabled {
		errs = append(errs, errors.New("serverless and autoscaling cannot both be enabled: serverless scales the product service itself"))
	}
	if f := c.Faults; !(f.GCPauseMs >= 0 && f.GCPauseMs <= 60_000) || !(f.GCIntervalS >= 0 && f.GCIntervalS <= 3600) || (f.GCPauseMs > 0 && f.GCPauseMs/1000 >= f.GCIntervalS) {
		errs = append(errs, fmt.Errorf("faults.gc_pause_ms must be in [0, 60000] and shorter than faults.gc_interval_s (≤ 3600), got %v ms every %v s", f.GCPauseMs, f.GCIntervalS))
	}
	if f := c.Faults; !(f.LeakMsPerMin >= 0 && f.LeakMsPerMin <= 60_000) {
		errs = append(errs, fmt.Errorf("faults.leak_ms_per_min must be in [0, 60000], got %v", f.LeakMsPerMin))
	}
	if n := c.Network; !(n.AddedMs >= 0 && n.AddedMs <= 60_000 && n.JitterMs >= 0 && n.JitterMs <= 60_000) {
		errs = append(errs, fmt.Errorf("network.added_ms and .jitter_ms must be in [0, 60000], got %v and %v", n.AddedMs, n.JitterMs))
	}
	if c.DB.RelatedItems < 1 || c.DB.RelatedItems > 100 {
		errs = append(errs, fmt.Errorf("db.related_items must be in [1, 100], got %d", c.DB.RelatedItems))
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
	if !(c.RateLimit.RPS > 0 && c.RateLimit.RPS <= maxArrivalRate) {
		errs = append(errs, fmt.Errorf("rate_limit.rps must be in (0, %d], got %v", maxArrivalRate, c.RateLimit.RPS))
	}
	if c.RateLimit.Burst < 1 || c.RateLimit.Burst > maxQueue {
		errs = append(errs, fmt.Errorf("rate_limit.burst must be in [1, %d], got %d", maxQueue, c.RateLimit.Burst))
	}
	if c.Retries.MaxAttempts < 1 || c.Retries.MaxAttempts > 10 {
		errs = append(errs, fmt.Errorf("retries.max_attempts must be in [1, 10] (1 = no retries), got %d", c.Retries.MaxAttempts))
	}
	if !(c.Retries.BackoffMs >= 0 && c.Retries.BackoffMs <= 60_000) {
		errs = append(errs, fmt.Errorf("retries.backoff_ms must be in [0, 60000], got %v", c.Retries.BackoffMs))
	}
	if !(c.Timeouts.GatewayMs >= 0 && c.Timeouts.GatewayMs <= 600_000) {
		errs = append(errs, fmt.Errorf("timeouts.gateway_ms must be in [0, 600000] (0 = none), got %v", c.Timeouts.GatewayMs))
	}
	if c.Breaker.FailureThreshold < 1 || c.Breaker.FailureThreshold > 10_000 {
		errs = append(errs, fmt.Errorf("circuit_breaker.failure_threshold must be in [1, 10000], got %d", c.Breaker.FailureThreshold))
	}
	if !(c.Breaker.OpenMs > 0 && c.Breaker.OpenMs <= 600_000) {
		errs = append(errs, fmt.Errorf("circuit_breaker.open_ms must be in (0, 600000], got %v", c.Breaker.OpenMs))
	}
	if c.Breaker.HalfOpenProbes < 1 || c.Breaker.HalfOpenProbes > 1000 {
		errs = append(errs, fmt.Errorf("circuit_breaker.half_open_probes must be in [1, 1000], got %d", c.Breaker.HalfOpenProbes))
	}
	if !(c.Faults.DBErrorRatio >= 0 && c.Faults.DBErrorRatio <= 1) {
		errs = append(errs, fmt.Errorf("faults.db_error_ratio must be in [0, 1], got %v", c.Faults.DBErrorRatio))
	}
	if !(c.Faults.DBAddedLatencyMs >= 0 && c.Faults.DBAddedLatencyMs <= 60_000) {
		errs = append(errs, fmt.Errorf("faults.db_added_latency_ms must be in [0, 60000], got %v", c.Faults.DBAddedLatencyMs))
	}
	errs = append(errs, c.validateServices()...)
	return errors.Join(errs...)
}

// validateServices checks the knobs of the services beside product, the
// journeys, the queue, the CDN and the per-service faults.
func (c Config) validateServices() []error {
	var errs []error
	if c.Topology != Microservices && c.Topology != Monolith {
		errs = append(errs, fmt.Errorf("topology must be %q or %q, got %q", Microservices, Monolith, c.Topology))
	}
	if c.Topology == Monolith && (c.Serverless.Enabled || c.Autoscaling.Enabled) {
		errs = append(errs, errors.New("serverless and autoscaling act on the product service, which the monolith does not have: switch them off first"))
	}
	check := func(name string, sc ServiceConfig) {
		if sc.Replicas < 1 || sc.Replicas > maxReplicas || sc.Workers < 1 || sc.Workers > maxWorkers || sc.Queue < 0 || sc.Queue > maxQueue {
			errs = append(errs, fmt.Errorf("%s: replicas must be in [1, %d], workers in [1, %d] and queue in [0, %d], got %d, %d and %d",
				name, maxReplicas, maxWorkers, maxQueue, sc.Replicas, sc.Workers, sc.Queue))
		}
	}
	check("monolith", c.Monolith)
	for _, n := range services {
		check("services."+nodeNames[n], *c.Services.of(n))
	}
	j := c.Journeys
	weights := []float64{j.Browse, j.Search, j.Cart, j.Checkout, j.Images}
	sum := 0.0
	for _, w := range weights {
		if !(w >= 0 && w <= 1000) {
			errs = append(errs, fmt.Errorf("journeys: each weight must be in [0, 1000], got %v", weights))
			break
		}
		sum += w
	}
	if !(sum > 0) {
		errs = append(errs, errors.New("journeys: at least one weight must be above 0"))
	}
	if q := c.Queue; q.Consumers < 1 || q.Consumers > 1000 || q.Prefetch < 1 || q.Prefetch > 10_000 || q.MaxDeliveries < 1 || q.MaxDeliveries > 100 {
		errs = append(errs, fmt.Errorf("queue: consumers must be in [1, 1000], prefetch in [1, 10000] and max_deliveries in [1, 100], got %d, %d and %d", q.Consumers, q.Prefetch, q.MaxDeliveries))
	}
	if d := c.CDN; d.Capacity < 0 || d.Capacity > catalogSize || !(d.TTLMs >= 0 && d.TTLMs <= 86_400_000) {
		errs = append(errs, fmt.Errorf("cdn: capacity must be in [0, %d] and ttl_ms in [0, 86400000], got %d and %v", catalogSize, d.Capacity, d.TTLMs))
	}
	if h := c.Hedging; !(h.DelayMs >= 0 && h.DelayMs <= 60_000) {
		errs = append(errs, fmt.Errorf("hedging.delay_ms must be in [0, 60000], got %v", h.DelayMs))
	}
	if !slices.Contains([]string{LogNormal, Exponential, Deterministic, HyperExponential}, c.DB.Distribution) {
		errs = append(errs, fmt.Errorf("db.distribution must be one of %s, %s, %s, %s, got %q", LogNormal, Exponential, Deterministic, HyperExponential, c.DB.Distribution))
	}
	if c.Cache.Policy != LRU && c.Cache.Policy != LFU {
		errs = append(errs, fmt.Errorf("cache.policy must be %q or %q, got %q", LRU, LFU, c.Cache.Policy))
	}
	if !(c.Faults.DBLockContention >= 0 && c.Faults.DBLockContention <= 10) {
		errs = append(errs, fmt.Errorf("faults.db_lock_contention must be in [0, 10], got %v", c.Faults.DBLockContention))
	}
	for _, n := range faultable {
		f := c.Faults.Service.of(n)
		name := "faults.service." + nodeNames[n]
		if !(f.ErrorRatio >= 0 && f.ErrorRatio <= 1) {
			errs = append(errs, fmt.Errorf("%s.error_ratio must be in [0, 1], got %v", name, f.ErrorRatio))
		}
		if !slices.Contains([]int{0, 500, 502, 503, 504}, f.ErrorCode) {
			errs = append(errs, fmt.Errorf("%s.error_code must be 500, 502, 503 or 504, got %d", name, f.ErrorCode))
		}
		if !(f.AddedLatencyMs >= 0 && f.AddedLatencyMs <= 60_000 && f.JitterMs >= 0 && f.JitterMs <= 60_000) {
			errs = append(errs, fmt.Errorf("%s.added_latency_ms and .jitter_ms must be in [0, 60000], got %v and %v", name, f.AddedLatencyMs, f.JitterMs))
		}
		if !(f.CPUHog >= 0 && f.CPUHog <= 1000) {
			errs = append(errs, fmt.Errorf("%s.cpu_hog must be in [0, 1000], got %v", name, f.CPUHog))
		}
	}
	if len(c.Faults.Partitions) > 100 {
		errs = append(errs, fmt.Errorf("faults.partitions: at most 100, got %d", len(c.Faults.Partitions)))
	}
	for i, p := range c.Faults.Partitions {
		a, okA := nodeByName(p.A)
		b, okB := nodeByName(p.B)
		if !okA || !okB || a == b || !a.partitionable() || !b.partitionable() {
			errs = append(errs, fmt.Errorf("faults.partitions[%d]: a and b must be two different services of %s, got %q and %q", i, strings.Join(partitionableNames(), ", "), p.A, p.B))
		}
	}
	return errs
}
