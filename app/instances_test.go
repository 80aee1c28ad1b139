package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/cart"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/testenv"
)

// Three instances share one Redis (TLS + AUTH) and one Firestore database, the way Cloud Run
// instances share Memorystore and Firestore: whichever instance a request lands on, the
// session and the cart are the same, live updates cross instances, and an instance that
// goes away loses nothing.
func TestInstancesShareSessionsCartsAndLiveUpdates(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	f := testenv.SharedFirestore(t)
	a := startInstance(t, sharedConfig(t, r, f, "i-a"))
	b := startInstance(t, sharedConfig(t, r, f, "i-b"))
	c := startInstance(t, sharedConfig(t, r, f, "i-c"))

	alice := newBrowser(t)
	alice.mustDo("POST", a.URL+"/api/login", `{"user":"alice"}`, nil)

	var me struct{ User, Instance string }
	resp := alice.mustDo("GET", b.URL+"/api/me", "", &me)
	if me.User != "alice" || me.Instance != "i-b" || resp.Header.Get("X-Instance-Id") != "i-b" {
		t.Fatalf("session on B: %+v, X-Instance-Id %q", me, resp.Header.Get("X-Instance-Id"))
	}

	wsB := alice.dialWS(b)
	if m, err := readWS(t, wsB, 5*time.Second); err != nil || m.Type != "hello" || m.Instance != "i-b" {
		t.Fatalf("hello on B: %+v %v", m, err)
	}

	alice.mustDo("POST", a.URL+"/api/cart/items", `{"sku":"apple","qty":2}`, nil)
	m, err := readWS(t, wsB, 5*time.Second)
	if err != nil || m.Type != "cart" {
		t.Fatalf("cart change made on A did not reach the WebSocket on B: %+v %v", m, err)
	}
	var pushed cart.Cart
	json.Unmarshal(m.Cart, &pushed)
	if len(pushed.Items) != 1 || pushed.Items[0] != (cart.Item{SKU: "apple", Qty: 2}) {
		t.Fatalf("pushed cart %+v", pushed)
	}
	var onC cart.Cart
	alice.mustDo("GET", c.URL+"/api/cart", "", &onC)
	if len(onC.Items) != 1 || onC.Items[0].Qty != 2 {
		t.Fatalf("cart on C %+v", onC)
	}

	// Concurrent adds through different instances are transactional: none is lost.
	var wg sync.WaitGroup
	for _, in := range []*instanceUnderTest{a, b} {
		wg.Go(func() { alice.mustDo("POST", in.URL+"/api/cart/items", `{"sku":"pear","qty":1}`, nil) })
	}
	wg.Wait()

	// A goes away (SIGTERM) while a WebSocket is open on it and a slow request is in flight.
	wsA := alice.dialWS(a)
	if m, err := readWS(t, wsA, 5*time.Second); err != nil || m.Instance != "i-a" {
		t.Fatalf("hello on A: %+v %v", m, err)
	}
	inflight := make(chan int, 1)
	go func() {
		resp, err := alice.http.Get(a.URL + "/api/report?q=drain")
		if err != nil {
			inflight <- 0
			return
		}
		resp.Body.Close()
		inflight <- resp.StatusCode
	}()
	time.Sleep(100 * time.Millisecond) // the report takes 300ms: it is in flight now
	stopped := time.Now()
	stopErr := make(chan error, 1)
	go func() { stopErr <- a.stop(t) }()

	// Messages may still be queued before the close frame; read until the socket closes.
	var closeErr error
	for closeErr == nil {
		_, closeErr = readWS(t, wsA, 5*time.Second)
	}
	if code := websocket.CloseStatus(closeErr); code != websocket.StatusGoingAway {
		t.Fatalf("socket on A closed with %v (%v), want 1001 going away", code, closeErr)
	}
	if code := <-inflight; code != http.StatusOK {
		t.Fatalf("request in flight during shutdown answered %d, want 200", code)
	}
	if err := <-stopErr; err != nil {
		t.Fatalf("run returned %v", err)
	}
	if took := time.Since(stopped); took > 5*time.Second {
		t.Fatalf("shutdown took %v", took)
	}
	if !strings.Contains(a.logs.String(), `"message":"stopped"`) {
		t.Fatalf("no shutdown log:\n%s", a.logs)
	}
	if _, err := http.Get(a.URL + "/healthz"); err == nil {
		t.Fatal("A still accepts connections after shutdown")
	}

	// Nothing was lost: the session and every add are there on the survivors.
	var final cart.Cart
	alice.mustDo("GET", c.URL+"/api/cart", "", &final)
	got := map[string]int{}
	for _, it := range final.Items {
		got[it.SKU] = it.Qty
	}
	if got["apple"] != 2 || got["pear"] != 2 {
		t.Fatalf("cart after A stopped: %+v", final.Items)
	}
	// B's socket is still open and still receives changes.
	alice.mustDo("DELETE", c.URL+"/api/cart/items/apple", "", nil)
	for {
		m, err := readWS(t, wsB, 5*time.Second)
		if err != nil {
			t.Fatalf("socket on B after A stopped: %v", err)
		}
		if m.Type == "cart" && !strings.Contains(string(m.Cart), "apple") {
			break
		}
	}
}

// Start-up stops on a Redis it cannot log in to or trust, since no wait fixes that, and says
// which variable to fix.
func TestStartupFailsClearlyOnRedisMisconfiguration(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	other := testenv.Redis(t)
	other.Stop() // only its CA is needed: valid PEM that did not sign r's certificate
	for _, tc := range []struct {
		name       string
		pass, ca   string
		wantInText string
	}{
		{"wrong password", "wrong", r.CAPEM, "REDIS_PASSWORD"},
		{"CA of another server", r.Password, other.CAPEM, "REDIS_TLS_CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := memoryConfig("i-bad")
			cfg.RedisAddr, cfg.RedisPassword, cfg.RedisTLSCA = r.Addr, tc.pass, tc.ca
			ln, err := netListen()
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			err = run(ctx, cfg, ln, discardLog())
			if err == nil || !strings.Contains(err.Error(), tc.wantInText) {
				t.Fatalf("got %v, want an error naming %s", err, tc.wantInText)
			}
		})
	}
}

// Without REDIS_TLS_CA a TLS-only Redis drops the connection, which a network path that is
// still coming up may do too: the instance stays up, and /startupz names what to check.
func TestMissingRedisCAHoldsStartupNamingIt(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	cfg := memoryConfig("i-noca")
	cfg.RedisAddr, cfg.RedisPassword = r.Addr, r.Password
	in := startInstanceUntil(t, cfg, "/healthz")
	if code, body := request(t, "GET", in.URL+"/startupz", nil); code != 503 || !strings.Contains(jsonError(t, body), "REDIS_TLS_CA") {
		t.Fatalf("startupz without the CA: %d %s, want 503 naming REDIS_TLS_CA", code, body)
	}
}

func TestReadinessNamesRedisWhenItGoesAway(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	f := testenv.SharedFirestore(t)
	in := startInstance(t, sharedConfig(t, r, f, "i-r"))
	b := newBrowser(t)
	if resp := b.do("GET", in.URL+"/readyz", "", nil); resp.StatusCode != 200 {
		t.Fatalf("readyz with Redis and Firestore up: %d", resp.StatusCode)
	}
	r.Stop()
	resp, err := http.Get(in.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Error string }
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(e.Error, "redis") || strings.Contains(e.Error, "firestore:") {
		t.Fatalf("readyz with Redis gone: %d %q", resp.StatusCode, e.Error)
	}
}
