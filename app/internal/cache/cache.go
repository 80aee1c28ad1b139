// Package cache is the per-instance result cache: bounded, expiring, keyed by (user, query).
// It is only a cache: session affinity makes it effective by sending a user back to the
// instance that holds their entries, and a miss costs time, never correctness.
package cache

import (
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
)

// Key is who asked what.
type Key struct{ User, Q string }

// Stats are the counters /api/stats shows.
type Stats struct {
	Hits    int64 `json:"hits"`
	Misses  int64 `json:"misses"`
	Entries int   `json:"entries"`
}

// Cache is an expirable LRU with hit and miss counters. Safe for concurrent use.
type Cache[V any] struct {
	lru    *expirable.LRU[Key, V]
	hits   atomic.Int64
	misses atomic.Int64
}

// New holds at most size entries, each for at most ttl. The library's expiry goroutine lives
// as long as the process, so make one cache per process, not per request.
func New[V any](size int, ttl time.Duration) *Cache[V] {
	return &Cache[V]{lru: expirable.NewLRU[Key, V](size, nil, ttl)}
}

// Get returns the entry for k and counts a hit or a miss.
func (c *Cache[V]) Get(k Key) (V, bool) {
	v, ok := c.lru.Get(k)
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return v, ok
}

// Add stores v under k, evicting the least recently used entry when full.
func (c *Cache[V]) Add(k Key, v V) { c.lru.Add(k, v) }

// Stats returns the counters and the current number of entries.
func (c *Cache[V]) Stats() Stats {
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Entries: c.lru.Len()}
}
