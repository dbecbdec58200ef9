package simulator

import "github.com/prometheus/client_golang/prometheus"

// Routes, one per service for now.
const (
	routeGateway = "/api/products/:id"
	routeProduct = "GetProduct"
	routeDB      = "SELECT product"
)

var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// metrics are the shop's client_golang metrics, on the shop's own registry.
// The hot path holds the per-label children, not the vectors.
type metrics struct {
	reg *prometheus.Registry

	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	inFlight      *prometheus.GaugeVec
	queueLen      *prometheus.GaugeVec
	servers       *prometheus.GaugeVec
	replicas      *prometheus.GaugeVec
	busySeconds   *prometheus.CounterVec
	queuedSeconds *prometheus.CounterVec
	waits         *prometheus.CounterVec
	wait          *prometheus.HistogramVec

	gatewayOK, gateway429, gateway500, gateway503, gateway504 prometheus.Counter
	productOK, product500, product503, dbOK, db500            prometheus.Counter
	retries, rateLimited, timeouts, late, offered             prometheus.Counter
	breakerOpens, breakerRejected                             prometheus.Counter
	breakerState, desiredReplicas                             prometheus.Gauge
	scaleEvents                                               *prometheus.CounterVec
	edges                                                     *prometheus.GaugeVec
	edgeCache                                                 prometheus.Gauge
	scheduledChanges, coldStarts, throttled                   prometheus.Counter
	gatewayLat, productLat, dbLat                             prometheus.Observer
	gatewayInFlight, productInFlight, dbInFlight              prometheus.Gauge
	productReplicas                                           prometheus.Gauge

	cacheHits, cacheMisses, cacheEvictions, cacheExpired, cacheCoalesced prometheus.Counter
	cacheEntries                                                         prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shop_requests_total", Help: "Requests completed, by service, route and status code.",
	}, []string{"service", "route", "code"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:                            "shop_request_duration_seconds",
		Help:                            "Request latency from the intended start, by service and route.",
		Buckets:                         latencyBuckets,
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  160,
		NativeHistogramMinResetDuration: 0,
	}, []string{"service", "route"})
	m.inFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "shop_requests_in_flight", Help: "Requests inside a service, queued or being served.",
	}, []string{"service"})
	m.queueLen = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "shop_queue_length", Help: "Requests waiting for a worker or connection.",
	}, []string{"service", "replica"})
	m.replicas = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "shop_replicas", Help: "Instances of a service taking new requests.",
	}, []string{"service"})
	m.servers = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "shop_servers", Help: "Workers or connections a service serves with; utilisation = rate(shop_busy_seconds_total) / shop_servers.",
	}, []string{"service", "replica"})
	m.busySeconds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shop_busy_seconds_total", Help: "Time-integral of busy workers or connections: its rate is the mean number busy.",
	}, []string{"service", "replica"})
	m.queuedSeconds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shop_queued_seconds_total", Help: "Time-integral of the queue length: its rate is the mean queue length.",
	}, []string{"service", "replica"})
	m.waits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shop_queue_waits_total", Help: "Requests that found every worker or connection busy and had to wait.",
	}, []string{"service", "replica"})
	m.wait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "shop_queue_wait_seconds", Help: "Time from reaching a service to getting a worker or connection.",
		Buckets: latencyBuckets,
	}, []string{"service", "replica"})
	m.retries = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shop_retries_total", Help: "Requests the gateway sent again after a 5xx answer.",
	})
	m.rateLimited = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shop_rate_limited_total", Help: "Requests the gateway's rate limiter refused with 429.",
	})
	m.breakerOpens = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shop_circuit_breaker_opens_total", Help: "Times the gateway's circuit breaker to the product service opened.",
	})
	m.breakerRejected = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shop_circuit_breaker_rejections_total", Help: "Tries the open circuit breaker refused at once (503).",
	})
	m.breakerState = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "shop_circuit_breaker_state", Help: "The gateway's circuit breaker to the product service: 0 closed, 1 open, 2 half-open.",
	})
	m.desiredReplicas = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "shop_autoscaler_desired_replicas", Help: "Product instances the autoscaler last asked for.",
	})
	m.scaleEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shop_scale_events_total", Help: "Autoscaler changes to the product service's instances, by direction.",
	}, []string{"direction"})
	m.scheduledChanges = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shop_scheduled_changes_total", Help: "Scheduled knob changes (and their undoing) the shop has applied.",
	})
	m.coldStarts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shop_cold_starts_total", Help: "Serverless product instances started for a request that found none free.",
	})
	m.throttled = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shop_throttled_total", Help: "Requests refused with 429 because every serverless instance allowed was busy.",
	})
	m.edges = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "shop_topology_edge", Help: "1 for each call path in the shop's current architecture (0 for one switched off), for drawing the topology.",
	}, []string{"from", "to"})
	m.offered = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shop_offered_requests_total", Help: "Requests the load generator sent (the offered load; compare with what the gateway answered).",
	})
	m.timeouts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shop_timeouts_total", Help: "Tries the gateway stopped waiting for.",
	})
	m.late = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "shop_late_responses_total", Help: "Answers that arrived after the gateway gave up on them: wasted work.",
	})
	m.cacheExpired = prometheus.NewCounter(prometheus.CounterOpts{Name: "shop_cache_expirations_total", Help: "Lookups that found an entry past its TTL (counted as misses too)."})
	m.cacheCoalesced = prometheus.NewCounter(prometheus.CounterOpts{Name: "shop_cache_coalesced_total", Help: "Misses that waited for another request's query instead of making their own."})
	m.cacheHits = prometheus.NewCounter(prometheus.CounterOpts{Name: "shop_cache_hits_total", Help: "Product lookups the cache answered."})
	m.cacheMisses = prometheus.NewCounter(prometheus.CounterOpts{Name: "shop_cache_misses_total", Help: "Product lookups the cache could not answer."})
	m.cacheEvictions = prometheus.NewCounter(prometheus.CounterOpts{Name: "shop_cache_evictions_total", Help: "Entries evicted to make room."})
	m.cacheEntries = prometheus.NewGauge(prometheus.GaugeOpts{Name: "shop_cache_entries", Help: "Entries in the cache."})
	m.reg.MustRegister(m.requests, m.latency, m.inFlight, m.queueLen, m.replicas, m.servers, m.busySeconds, m.queuedSeconds, m.waits, m.wait, m.edges, m.coldStarts, m.throttled, m.scheduledChanges, m.desiredReplicas, m.scaleEvents, m.breakerOpens, m.breakerRejected, m.breakerState, m.offered, m.retries, m.rateLimited, m.timeouts, m.late, m.cacheExpired, m.cacheCoalesced, m.cacheHits, m.cacheMisses, m.cacheEvictions, m.cacheEntries)

	m.gatewayOK = m.requests.WithLabelValues("gateway", routeGateway, "200")
	m.gateway503 = m.requests.WithLabelValues("gateway", routeGateway, "503")
	m.gateway429 = m.requests.WithLabelValues("gateway", routeGateway, "429")
	m.gateway500 = m.requests.WithLabelValues("gateway", routeGateway, "500")
	m.gateway504 = m.requests.WithLabelValues("gateway", routeGateway, "504")
	m.product500 = m.requests.WithLabelValues("product", routeProduct, "500")
	m.db500 = m.requests.WithLabelValues("db", routeDB, "500")
	m.productOK = m.requests.WithLabelValues("product", routeProduct, "200")
	m.product503 = m.requests.WithLabelValues("product", routeProduct, "503")
	m.dbOK = m.requests.WithLabelValues("db", routeDB, "200")
	m.gatewayLat = m.latency.WithLabelValues("gateway", routeGateway)
	m.productLat = m.latency.WithLabelValues("product", routeProduct)
	m.dbLat = m.latency.WithLabelValues("db", routeDB)
	m.gatewayInFlight = m.inFlight.WithLabelValues("gateway")
	m.edges.WithLabelValues("client", "gateway").Set(1)
	m.edges.WithLabelValues("gateway", "product").Set(1)
	m.edges.WithLabelValues("product", "db").Set(1)
	m.edgeCache = m.edges.WithLabelValues("product", "cache") // the one edge a knob switches
	m.productInFlight = m.inFlight.WithLabelValues("product")
	m.dbInFlight = m.inFlight.WithLabelValues("db")
	m.productReplicas = m.replicas.WithLabelValues("product")
	return m
}

// station returns the children one instance of a service updates.
func (m *metrics) station(service, replica string) stationMetrics {
	return stationMetrics{
		queueLen:      m.queueLen.WithLabelValues(service, replica),
		servers:       m.servers.WithLabelValues(service, replica),
		busySeconds:   m.busySeconds.WithLabelValues(service, replica),
		queuedSeconds: m.queuedSeconds.WithLabelValues(service, replica),
		waits:         m.waits.WithLabelValues(service, replica),
		wait:          m.wait.WithLabelValues(service, replica),
	}
}

// b2f is a gauge's value for a switch.
func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
