package cache

import (
	"testing"
	"time"
)

func TestCacheCountsHitsAndMissesPerUserAndQuery(t *testing.T) {
	c := New[string](10, time.Minute)
	if _, ok := c.Get(Key{"alice", "q"}); ok {
		t.Fatal("hit on an empty cache")
	}
	c.Add(Key{"alice", "q"}, "A")
	if v, ok := c.Get(Key{"alice", "q"}); !ok || v != "A" {
		t.Fatalf("got %q, %v", v, ok)
	}
	if _, ok := c.Get(Key{"bob", "q"}); ok {
		t.Fatal("bob hit alice's entry")
	}
	if s := c.Stats(); s != (Stats{Hits: 1, Misses: 2, Entries: 1}) {
		t.Fatalf("stats %+v", s)
	}
}

func TestCacheIsBoundedAndExpires(t *testing.T) {
	c := New[int](2, 100*time.Millisecond)
	c.Add(Key{"u", "1"}, 1)
	c.Add(Key{"u", "2"}, 2)
	c.Add(Key{"u", "3"}, 3)
	if _, ok := c.Get(Key{"u", "1"}); ok {
		t.Fatal("oldest entry not evicted past the size bound")
	}
	if c.Stats().Entries != 2 {
		t.Fatalf("entries %d, want 2", c.Stats().Entries)
	}
	time.Sleep(150 * time.Millisecond)
	if _, ok := c.Get(Key{"u", "3"}); ok {
		t.Fatal("entry outlived its ttl")
	}
}
