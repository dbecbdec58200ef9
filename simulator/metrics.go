package simulator

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

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

	productOK, product500, product503, dbOK, db500 prometheus.Counter
	retries, rateLimited, timeouts, late, offered  prometheus.Counter
	breakerOpens, breakerRejected                  prometheus.Counter
	breakerState, desiredReplicas                  prometheus.Gauge
	scaleEvents                                    *prometheus.CounterVec
	edges                                          *prometheus.GaugeVec
	scheduledChanges, coldStarts, throttled        prometheus.Counter
	productLat, dbLat                              prometheus.Observer
	gatewayInFlight, productInFlight, dbInFlight   prometheus.Gauge
	productReplicas                                prometheus.Gauge

	cacheHits, cacheMisses, cacheEvictions, cacheExpired, cacheCoalesced prometheus.Counter
	cacheEntries                                                         prometheus.Gauge

	edgeRequests, edgeSeconds                           *prometheus.CounterVec
	edgeErrors                                          *prometheus.CounterVec
	mqPublished, mqAcked, mqRedelivered, mqDeadLettered prometheus.Counter
	mqReady, mqUnacked, mqDead, mqOldest, mqConsumers   prometheus.Gauge
	cdnHits, cdnMisses, hedges                          prometheus.Counter

	// Children made on first use, so a series appears once it means something.
	svcReqs  [numNodes][len(codes)]prometheus.Counter
	svcLat   [numNodes]prometheus.Observer
	gwReqs   [numJourneys][len(codes)]prometheus.Counter
	gwLat    [numJourneys]prometheus.Observer
	edgeKids [numNodes][numNodes]*edgeMetrics
	replicaG [numNodes]prometheus.Gauge
	dbReqs   [numNodes][2]prometheus.Counter
	dbLatOf  [numNodes]prometheus.Observer
	clientL  [numJourneys]prometheus.Observer
	client   *prometheus.HistogramVec
	flightG  [numNodes]prometheus.Gauge
}

// dbQuery counts a generic service's query by its outcome (200 or 500).
func (m *metrics) dbQuery(n node, code int16) prometheus.Counter {
	k := 0
	if code != 200 {
		k = 1
	}
	if m.dbReqs[n][k] == nil {
		m.dbReqs[n][k] = m.requests.WithLabelValues("db", names[n].query, strconv.Itoa(int(code)))
	}
	return m.dbReqs[n][k]
}

func (m *metrics) dbQueryLatency(n node) prometheus.Observer {
	if m.dbLatOf[n] == nil {
		m.dbLatOf[n] = m.latency.WithLabelValues("db", names[n].query)
	}
	return m.dbLatOf[n]
}

// clientLatency is a journey's latency as its user sees it: network included.
func (m *metrics) clientLatency(j journey) prometheus.Observer {
	if m.clientL[j] == nil {
		m.clientL[j] = m.client.WithLabelValues(journeyRoute[j])
	}
	return m.clientL[j]
}

func (m *metrics) replicasOf(n node) prometheus.Gauge {
	if m.replicaG[n] == nil {
		m.replicaG[n] = m.replicas.WithLabelValues(nodeNames[n])
	}
	return m.replicaG[n]
}

func (m *metrics) inFlightOf(n node) prometheus.Gauge {
	if m.flightG[n] == nil {
		m.flightG[n] = m.inFlight.WithLabelValues(nodeNames[n])
	}
	return m.flightG[n]
}

// codes are the status codes the shop answers with.
var codes = [...]int16{200, 202, 429, 500, 502, 503, 504}

func codeIndex(code int16) int {
	for i, c := range codes {
		if c == code {
			return i
		}
	}
	panic("simulator: unexpected status code " + strconv.Itoa(int(code)))
}

// svcRequest is the requests counter of a generic service for one code.
func (m *metrics) svcRequest(n node, code int16) prometheus.Counter {
	k := codeIndex(code)
	if m.svcReqs[n][k] == nil {
		m.svcReqs[n][k] = m.requests.WithLabelValues(nodeNames[n], serviceRoute(n), strconv.Itoa(int(code)))
	}
	return m.svcReqs[n][k]
}

func (m *metrics) svcLatency(n node) prometheus.Observer {
	if m.svcLat[n] == nil {
		m.svcLat[n] = m.latency.WithLabelValues(nodeNames[n], serviceRoute(n))
	}
	return m.svcLat[n]
}

// gateway is the gateway's requests counter for one route and code.
func (m *metrics) gateway(j journey, code int16) prometheus.Counter {
	k := codeIndex(code)
	if m.gwReqs[j][k] == nil {
		m.gwReqs[j][k] = m.requests.WithLabelValues("gateway", journeyRoute[j], strconv.Itoa(int(code)))
	}
	return m.gwReqs[j][k]
}

func (m *metrics) gatewayLatency(j journey) prometheus.Observer {
	if m.gwLat[j] == nil {
		m.gwLat[j] = m.latency.WithLabelValues("gateway", journeyRoute[j])
	}
	return m.gwLat[j]
}

// edgeMetrics are one call path's: latency as the caller sees it, and failures.
type edgeMetrics struct {
	requests, seconds, errors prometheus.Counter
}

func (e *edgeMetrics) observe(d float64, failed bool) {
	e.requests.Inc()
	e.seconds.Add(d)
	if failed {
		e.errors.Inc()
	}
}

func (m *metrics) edge(from, to node) *edgeMetrics {
	if m.edgeKids[from][to] == nil {
		m.edgeKids[from][to] = &edgeMetrics{
			requests: m.edgeRequests.WithLabelValues(nodeNames[from], nodeNames[to]),
			seconds:  m.edgeSeconds.WithLabelValues(nodeNames[from], nodeNames[to]),
			errors:   m.edgeErrors.WithLabelValues(nodeNames[from], nodeNames[to]),
		}
	}
	return m.edgeKids[from][to]
}

// names are the services' routes and query names, for metric labels: fixed
// whatever a test does to the model's times.
var names = defaultSpecs()

// serviceRoute is the one route each service serves.
func serviceRoute(n node) string {
	switch n {
	case nCDN:
		return journeyRoute[jImages]
	case nProduct:
		return routeProduct
	}
	return names[n].route
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
	// Edges are counters, not histograms: there are many, a map needs their
	// rate and mean, and a histogram observation costs several counters'.
	m.edgeRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shop_edge_requests_total", Help: "Calls along one edge of the topology (caller → callee).",
	}, []string{"from", "to"})
	m.edgeSeconds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shop_edge_request_duration_seconds_total", Help: "Time the callers along one edge waited for answers: divided by shop_edge_requests_total, the mean latency as the caller sees it.",
	}, []string{"from", "to"})
	m.edgeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shop_edge_errors_total", Help: "Calls along one edge of the topology that failed (5xx, refused or timed out).",
	}, []string{"from", "to"})
	m.mqPublished = prometheus.NewCounter(prometheus.CounterOpts{Name: "shop_queue_published_total", Help: "Checkout messages published to the queue."})
	m.mqAcked = prometheus.NewCounter(prometheus.CounterOpts{Name: "shop_queue_acked_total", Help: "Messages consumers processed and acknowledged: its rate is the consumer rate."})
	m.mqRedelivered = prometheus.NewCounter(prometheus.CounterOpts{Name: "shop_queue_redelivered_total", Help: "Deliveries of a message whose earlier processing failed."})
	m.mqDeadLettered = prometheus.NewCounter(prometheus.CounterOpts{Name: "shop_queue_dead_lettered_total", Help: "Messages moved to the dead-letter queue after max_deliveries failures."})
	m.mqReady = prometheus.NewGauge(prometheus.GaugeOpts{Name: "shop_queue_ready_messages", Help: "Messages waiting in the queue for a consumer."})
	m.mqUnacked = prometheus.NewGauge(prometheus.GaugeOpts{Name: "shop_queue_unacked_messages", Help: "Messages consumers hold: prefetched or being processed."})
	m.mqDead = prometheus.NewGauge(prometheus.GaugeOpts{Name: "shop_queue_dead_letter_messages", Help: "Messages in the dead-letter queue."})
	m.mqOldest = prometheus.NewGauge(prometheus.GaugeOpts{Name: "shop_queue_oldest_message_age_seconds", Help: "Age of the oldest ready message: the consumers' lag."})
	m.mqConsumers = prometheus.NewGauge(prometheus.GaugeOpts{Name: "shop_queue_consumers", Help: "Consumers taking messages."})
	m.cdnHits = prometheus.NewCounter(prometheus.CounterOpts{Name: "shop_cdn_hits_total", Help: "Image requests the CDN edge answered from its cache."})
	m.cdnMisses = prometheus.NewCounter(prometheus.CounterOpts{Name: "shop_cdn_misses_total", Help: "Image requests the CDN edge sent on to the gateway."})
	m.hedges = prometheus.NewCounter(prometheus.CounterOpts{Name: "shop_hedged_requests_total", Help: "Second tries the gateway sent because the first was slower than hedging.delay_ms."})
	m.client = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "shop_client_request_duration_seconds", Help: "Latency as the user sees it, from the intended send time, with the user's network round trip to the shop's region (or to a CDN edge).",
		Buckets: latencyBuckets,
	}, []string{"route"})
	m.reg.MustRegister(m.client, m.hedges, m.edgeRequests, m.edgeSeconds, m.edgeErrors, m.mqPublished, m.mqAcked, m.mqRedelivered, m.mqDeadLettered, m.mqReady, m.mqUnacked, m.mqDead, m.mqOldest, m.mqConsumers, m.cdnHits, m.cdnMisses)
	m.reg.MustRegister(m.requests, m.latency, m.inFlight, m.queueLen, m.replicas, m.servers, m.busySeconds, m.queuedSeconds, m.waits, m.wait, m.edges, m.coldStarts, m.throttled, m.scheduledChanges, m.desiredReplicas, m.scaleEvents, m.breakerOpens, m.breakerRejected, m.breakerState, m.offered, m.retries, m.rateLimited, m.timeouts, m.late, m.cacheExpired, m.cacheCoalesced, m.cacheHits, m.cacheMisses, m.cacheEvictions, m.cacheEntries)

	m.product500 = m.requests.WithLabelValues("product", routeProduct, "500")
	m.db500 = m.requests.WithLabelValues("db", routeDB, "500")
	m.productOK = m.requests.WithLabelValues("product", routeProduct, "200")
	m.product503 = m.requests.WithLabelValues("product", routeProduct, "503")
	m.dbOK = m.requests.WithLabelValues("db", routeDB, "200")
	m.productLat = m.latency.WithLabelValues("product", routeProduct)
	m.dbLat = m.latency.WithLabelValues("db", routeDB)
	m.gatewayInFlight = m.inFlight.WithLabelValues("gateway")
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
