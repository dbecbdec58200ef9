package simulator

// place is the box a service's work runs in: in the monolith every part
// but the queue's consumers runs in the one process.
func (r *request) place(n node) node {
	if r.mono && n != nWorker {
		return nMonolith
	}
	return n
}

// topologyEdges lists the call paths of the architecture in force, for the
// UI to draw: which box calls which.
func (c *Config) topologyEdges() [][2]node {
	var e [][2]node
	add := func(from, to node) { e = append(e, [2]node{from, to}) }
	if c.CDN.Enabled {
		add(nClient, nCDN)
		add(nCDN, nGateway)
	}
	add(nClient, nGateway)
	if c.Topology == Monolith {
		add(nGateway, nMonolith)
		if c.Cache.Enabled {
			add(nMonolith, nCache)
		}
		add(nMonolith, nDB)
		if c.Queue.AsyncCheckout {
			add(nMonolith, nQueue)
			add(nQueue, nWorker)
		}
		return e
	}
	for _, n := range []node{nProduct, nSearch, nCart, nOrder, nStatic} {
		add(nGateway, n)
	}
	if c.Cache.Enabled {
		add(nProduct, nCache)
	}
	for _, n := range []node{nProduct, nSearch, nInventory, nOrder, nPayment} {
		add(n, nDB)
	}
	add(nCart, nAuth)
	add(nCart, nInventory)
	add(nOrder, nAuth)
	add(nOrder, nInventory)
	if c.Queue.AsyncCheckout {
		add(nOrder, nQueue)
		add(nQueue, nWorker)
		add(nWorker, nPayment)
		add(nWorker, nNotification)
	} else {
		add(nOrder, nPayment)
		add(nOrder, nNotification)
	}
	return e
}

// setTopology publishes the edges in force as 1 and those of earlier
// architectures as 0, so a chart of an edge shows when it was switched off.
func (s *Shop) setTopology() {
	for from := range s.edgesShown {
		for to := range s.edgesShown[from] {
			if s.edgesShown[from][to] {
				s.m.edges.WithLabelValues(nodeNames[from], nodeNames[to]).Set(0)
			}
		}
	}
	for _, e := range s.cfg.topologyEdges() {
		s.edgesShown[e[0]][e[1]] = true
		s.m.edges.WithLabelValues(nodeNames[e[0]], nodeNames[e[1]]).Set(1)
	}
}
