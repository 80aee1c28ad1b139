package lab

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// fakeStore is the shared state behind fake app instances. With dropEvery > 0 it acknowledges
// every cart add but forgets every dropEvery-th one, like an app keeping carts in memory.
type fakeStore struct {
	mu        sync.Mutex
	carts     map[string]map[string]int
	adds      int
	dropEvery int
	dropped   int
}

// fakeApp is a small stand-in for the app's HTTP contract: sessions and carts in the shared
// store, an unbounded per-instance report cache, and a WebSocket hello.
func fakeApp(t *testing.T, id string, store *fakeStore) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	cache := map[string]bool{}
	user := func(r *http.Request) string {
		c, err := r.Cookie("sid")
		if err != nil {
			return ""
		}
		return c.Value
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/login", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ User string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: in.User, Path: "/"})
		_ = json.NewEncoder(w).Encode(map[string]string{"user": in.User})
	})
	mux.HandleFunc("GET /api/me", func(w http.ResponseWriter, r *http.Request) {
		if user(r) == "" {
			http.Error(w, `{"error":"not signed in"}`, http.StatusUnauthorized)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"user": user(r), "instance": id})
	})
	mux.HandleFunc("GET /api/report", func(w http.ResponseWriter, r *http.Request) {
		key := user(r) + "|" + r.URL.Query().Get("q")
		mu.Lock()
		hit := cache[key]
		cache[key] = true
		mu.Unlock()
		if hit {
			w.Header().Set("X-Cache", "hit")
		} else {
			time.Sleep(5 * time.Millisecond)
			w.Header().Set("X-Cache", "miss")
		}
		_, _ = w.Write([]byte(`{}`))
	})
	mux.HandleFunc("POST /api/cart/items", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			SKU string
			Qty int
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		// A durable write costs more than a cache hit, as a Firestore transaction does; were it
		// as cheap, the median of all requests could fall below the median hit.
		time.Sleep(5 * time.Millisecond)
		store.mu.Lock()
		defer store.mu.Unlock()
		store.adds++
		if store.dropEvery > 0 && store.adds%store.dropEvery == 0 {
			store.dropped += in.Qty
		} else {
			if store.carts[user(r)] == nil {
				store.carts[user(r)] = map[string]int{}
			}
			store.carts[user(r)][in.SKU] += in.Qty
		}
		_, _ = w.Write([]byte(`{}`))
	})
	mux.HandleFunc("GET /api/cart", func(w http.ResponseWriter, r *http.Request) {
		store.mu.Lock()
		defer store.mu.Unlock()
		type item struct {
			SKU string `json:"sku"`
			Qty int    `json:"qty"`
		}
		items := []item{}
		for sku, qty := range store.carts[user(r)] {
			items = append(items, item{sku, qty})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"items": items})
	})
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_ = c.Write(r.Context(), websocket.MessageText, []byte(`{"type":"hello","instance":"`+id+`"}`))
		_, _, _ = c.Read(r.Context())
	})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Instance-Id", id)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func fakeLab(t *testing.T, mode Mode, store *fakeStore) string {
	t.Helper()
	r := NewRouter(mode, 80)
	for _, id := range []string{"i-0", "i-1", "i-2"} {
		u, _ := url.Parse(fakeApp(t, id, store).URL)
		r.Add(id, u)
	}
	front := httptest.NewServer(r)
	t.Cleanup(func() { front.Close(); r.Close() })
	return front.URL
}

func runFakeWorkload(t *testing.T, base string) Result {
	t.Helper()
	// 1.5 s: on two loaded cores 0.5 s sometimes gave fewer than 60 reports (the fake apps are
	// in-process, so their requests compete with the rest of the test run).
	w := Workload{BaseURL: base, Clients: 6, Queries: 3, Duration: 1500 * time.Millisecond,
		ThinkTime: time.Millisecond, CartEvery: 4, RunID: "t"}
	res, err := w.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.ReportRequests < 60 || res.CartItemsWritten < 10 {
		t.Fatalf("workload too small to judge: %+v", res)
	}
	return res
}

func TestWorkloadWithAffinityMissesEachKeyOnce(t *testing.T) {
	t.Parallel()
	res := runFakeWorkload(t, fakeLab(t, AffinityOn, &fakeStore{carts: map[string]map[string]int{}}))
	// Every client stays on one instance with an unbounded cache: each key misses exactly once.
	if res.DistinctKeys != 6*3 || res.CacheHits != res.ReportRequests-res.DistinctKeys {
		t.Errorf("hits %d of %d with %d distinct keys, want every key to miss exactly once", res.CacheHits, res.ReportRequests, res.DistinctKeys)
	}
	if math.Abs(res.HitRate-res.PhysicalLimit) > 1e-9 { // one fraction computed two ways may differ in the last bit
		t.Errorf("hit rate %.3f, physical limit %.3f: want equal", res.HitRate, res.PhysicalLimit)
	}
	if res.InstanceMoves != 0 || res.Errors != 0 || res.LostSessions != 0 || res.LostCartItems != 0 {
		t.Errorf("want no moves, errors or losses: %+v", res)
	}
	if res.WSConnects != 6 || res.WSReconnects != 0 || res.WSSameInstance != 6 {
		t.Errorf("ws connects %d, reconnects %d, on the client's instance %d; want 6, 0, 6",
			res.WSConnects, res.WSReconnects, res.WSSameInstance)
	}
	if res.HitP50Ms <= 0 || res.P50Ms < res.HitP50Ms || res.P99Ms < res.P50Ms {
		t.Errorf("latency percentiles out of order: %+v", res)
	}
}

func TestWorkloadWithoutAffinityMovesAndMissesMore(t *testing.T) {
	t.Parallel()
	res := runFakeWorkload(t, fakeLab(t, AffinityOff, &fakeStore{carts: map[string]map[string]int{}}))
	if res.InstanceMoves == 0 {
		t.Errorf("no instance moves without affinity: %+v", res)
	}
	if res.CacheHits >= res.ReportRequests-res.DistinctKeys {
		t.Errorf("hits %d, want fewer than the %d a perfect router gets", res.CacheHits, res.ReportRequests-res.DistinctKeys)
	}
	if res.LostSessions != 0 || res.LostCartItems != 0 {
		t.Errorf("shared store lost data: %+v", res)
	}
}

func TestWorkloadCountsCartItemsTheAppAcknowledgedButLost(t *testing.T) {
	t.Parallel()
	store := &fakeStore{carts: map[string]map[string]int{}, dropEvery: 3}
	res := runFakeWorkload(t, fakeLab(t, AffinityOn, store))
	store.mu.Lock()
	dropped := store.dropped
	store.mu.Unlock()
	// An add cut off by the end of the run is not counted as written; each of the 6 clients
	// has at most one such request in flight.
	if dropped == 0 || res.LostCartItems > dropped || res.LostCartItems < dropped-6 {
		t.Fatalf("lost cart items %d, want the %d the fake app dropped (less at most 6 cut off)", res.LostCartItems, dropped)
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	var s []time.Duration
	for i := 100; i >= 1; i-- {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct{ p, want float64 }{{50, 50}, {95, 95}, {99, 99}, {100, 100}} {
		if got := percentileMs(s, c.p); got != c.want {
			t.Errorf("p%.0f = %v, want %v", c.p, got, c.want)
		}
	}
	if got := percentileMs(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v, want 0", got)
	}
}
