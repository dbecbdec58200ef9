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

// cacheSet is an eviction policy over product ids.
type cacheSet interface {
	get(id int32) bool                     // is id cached? counts as a use
	put(id int32, now float64) bool        // cache id; reports whether something was evicted
	expired(id int32, cutoff float64) bool // drop id if stored before cutoff
	resize(capacity int)
	clear()
	len() int
}

func (c *lru) len() int { return c.size }

func newCache(policy string, catalog, capacity int) cacheSet {
	if policy == LFU {
		return newLFU(catalog, capacity)
	}
	return newLRU(catalog, capacity)
}

// lfu evicts the least frequently used id, the least recently used among
// equals. It is a binary min-heap on (uses, last use) with each id's place
// in it, all in slices indexed by id: O(log n) per operation, no allocation.
type lfu struct {
	capacity int
	heap     []int32 // ids; the next to evict at 0
	pos      []int32 // id → index in heap, -1 when not cached
	uses     []uint32
	last     []uint64
	putAt    []float64
	tick     uint64
}

func newLFU(catalog, capacity int) *lfu {
	c := &lfu{capacity: capacity, heap: make([]int32, 0, catalog), pos: make([]int32, catalog),
		uses: make([]uint32, catalog), last: make([]uint64, catalog), putAt: make([]float64, catalog)}
	for i := range c.pos {
		c.pos[i] = -1
	}
	return c
}

func (c *lfu) len() int { return len(c.heap) }

func (c *lfu) less(a, b int) bool {
	x, y := c.heap[a], c.heap[b]
	if c.uses[x] != c.uses[y] {
		return c.uses[x] < c.uses[y]
	}
	return c.last[x] < c.last[y]
}

func (c *lfu) swap(a, b int) {
	c.heap[a], c.heap[b] = c.heap[b], c.heap[a]
	c.pos[c.heap[a]], c.pos[c.heap[b]] = int32(a), int32(b)
}

func (c *lfu) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !c.less(i, p) {
			return
		}
		c.swap(i, p)
		i = p
	}
}

func (c *lfu) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(c.heap) {
			return
		}
		m := l
		if r := l + 1; r < len(c.heap) && c.less(r, l) {
			m = r
		}
		if !c.less(m, i) {
			return
		}
		c.swap(i, m)
		i = m
	}
}

func (c *lfu) touch(id int32) {
	c.tick++
	c.uses[id]++
	c.last[id] = c.tick
	c.down(int(c.pos[id])) // only ever grows: it can only sink
}

func (c *lfu) get(id int32) bool {
	if c.pos[id] < 0 {
		return false
	}
	c.touch(id)
	return true
}

func (c *lfu) put(id int32, now float64) (evicted bool) {
	c.putAt[id] = now
	if c.pos[id] >= 0 {
		c.touch(id)
		return false
	}
	if c.capacity <= 0 {
		return false
	}
	for len(c.heap) >= c.capacity {
		c.remove(0)
		evicted = true
	}
	c.tick++
	c.uses[id], c.last[id] = 1, c.tick
	c.heap = append(c.heap, id)
	c.pos[id] = int32(len(c.heap) - 1)
	c.up(len(c.heap) - 1)
	return evicted
}

// remove takes the id at heap index i out.
func (c *lfu) remove(i int) {
	id := c.heap[i]
	last := len(c.heap) - 1
	c.swap(i, last)
	c.heap = c.heap[:last]
	c.pos[id] = -1
	if i < last {
		c.down(i)
		c.up(i)
	}
}

func (c *lfu) expired(id int32, cutoff float64) bool {
	if c.pos[id] < 0 || c.putAt[id] >= cutoff {
		return false
	}
	c.remove(int(c.pos[id]))
	return true
}

func (c *lfu) resize(capacity int) {
	c.capacity = capacity
	for len(c.heap) > max(capacity, 0) {
		c.remove(0)
	}
}

func (c *lfu) clear() { c.resize(0) }
