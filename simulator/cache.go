package simulator

// lru is a least-recently-used set of product ids. Ids are small integers
// (the catalog), so the list lives in two slices indexed by id: no maps and
// no allocation per operation.
type lru struct {
	capacity   int
	size       int
	head, tail int32 // most and least recently used; -1 when empty
	prev, next []int32
	in         []bool
	putAt      []float64 // virtual time each entry was stored, for TTL
}

func newLRU(catalog, capacity int) *lru {
	c := &lru{capacity: capacity, head: -1, tail: -1,
		prev: make([]int32, catalog), next: make([]int32, catalog), in: make([]bool, catalog),
		putAt: make([]float64, catalog)}
	return c
}

// get reports whether id is cached, and marks it most recently used.
func (c *lru) get(id int32) bool {
	if !c.in[id] {
		return false
	}
	c.unlink(id)
	c.pushFront(id)
	return true
}

// expired removes id if it was stored before cutoff, and reports whether it did.
func (c *lru) expired(id int32, cutoff float64) bool {
	if !c.in[id] || c.putAt[id] >= cutoff {
		return false
	}
	c.unlink(id)
	c.in[id] = false
	c.size--
	return true
}

// put caches id, evicting the least recently used when full; it reports
// whether something was evicted.
func (c *lru) put(id int32, now float64) (evicted bool) {
	c.putAt[id] = now
	if c.in[id] {
		c.unlink(id)
		c.pushFront(id)
		return false
	}
	if c.capacity <= 0 {
		return false
	}
	for c.size >= c.capacity {
		c.evict()
		evicted = true
	}
	c.in[id] = true
	c.size++
	c.pushFront(id)
	return evicted
}

func (c *lru) evict() {
	t := c.tail
	c.unlink(t)
	c.in[t] = false
	c.size--
}

// resize changes the capacity, evicting down to it.
func (c *lru) resize(capacity int) {
	c.capacity = capacity
	for c.size > max(capacity, 0) {
		c.evict()
	}
}

func (c *lru) clear() { c.resize(0) }

func (c *lru) unlink(id int32) {
	p, n := c.prev[id], c.next[id]
	if p >= 0 {
		c.next[p] = n
	} else {
		c.head = n
	}
	if n >= 0 {
		c.prev[n] = p
	} else {
		c.tail = p
	}
}

func (c *lru) pushFront(id int32) {
	c.prev[id], c.next[id] = -1, c.head
	if c.head >= 0 {
		c.prev[c.head] = id
	}
	c.head = id
	if c.tail < 0 {
		c.tail = id
	}
}
