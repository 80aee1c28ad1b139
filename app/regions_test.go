package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/cart"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/testenv"
)

// Two regions, each with its own Redis, sharing one Firestore database (SESSIONS_FIRESTORE=true,
// as multi-region stacks set it): a client moved to the other region keeps its session and its
// cart, a cart change made in one region reaches the client's WebSocket in the other, and
// losing a whole region, Redis included, loses neither.
func TestRegionsShareSessionsCartsAndLiveUpdatesThroughFirestore(t *testing.T) {
	t.Parallel()
	f := testenv.SharedFirestore(t)
	redisA, redisB := testenv.Redis(t), testenv.Redis(t)
	cfgA := sharedConfig(t, redisA, f, "a-1")
	cfgB := sharedConfig(t, redisB, f, "b-1") // same test: same database
	cfgA.SessionsFirestore, cfgB.SessionsFirestore = true, true
	a, b := startInstance(t, cfgA), startInstance(t, cfgB)

	alice := newBrowser(t)
	alice.mustDo("POST", a.URL+"/api/login", `{"user":"alice"}`, nil)
	var me struct{ User, Instance string }
	alice.mustDo("GET", b.URL+"/api/me", "", &me)
	if me.User != "alice" || me.Instance != "b-1" {
		t.Fatalf("session in region B: %+v", me)
	}

	wsB := alice.dialWS(b)
	if m, err := readWS(t, wsB, 5*time.Second); err != nil || m.Type != "hello" {
		t.Fatalf("hello in region B: %+v %v", m, err)
	}
	alice.mustDo("POST", a.URL+"/api/cart/items", `{"sku":"apple","qty":2}`, nil)
	for {
		m, err := readWS(t, wsB, 5*time.Second)
		if err != nil {
			t.Fatalf("cart change made in region A did not reach the WebSocket in region B: %v", err)
		}
		var c cart.Cart
		json.Unmarshal(m.Cart, &c)
		if m.Type == "cart" && len(c.Items) == 1 && c.Items[0] == (cart.Item{SKU: "apple", Qty: 2}) {
			break
		}
	}

	// Region A goes away, its Redis with it: region B still has the session and the cart, and
	// a session made in A after B last cached anything is there too.
	bob := newBrowser(t)
	bob.mustDo("POST", a.URL+"/api/login", `{"user":"bob"}`, nil)
	bob.mustDo("POST", a.URL+"/api/cart/items", `{"sku":"pear","qty":1}`, nil)
	if err := a.stop(t); err != nil {
		t.Fatal(err)
	}
	redisA.Stop()
	for _, u := range []struct {
		b    *browser
		user string
		sku  string
	}{{alice, "alice", "apple"}, {bob, "bob", "pear"}} {
		u.b.mustDo("GET", b.URL+"/api/me", "", &me)
		var c cart.Cart
		u.b.mustDo("GET", b.URL+"/api/cart", "", &c)
		if me.User != u.user || len(c.Items) != 1 || c.Items[0].SKU != u.sku {
			t.Fatalf("%s in region B after region A went: %+v, cart %+v", u.user, me, c)
		}
	}
	// Sign-out in B: the session is gone from Firestore, so no region has it beyond its cache.
	if resp := alice.do("POST", b.URL+"/api/logout", "", nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp := alice.do("GET", b.URL+"/api/me", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after logout: %d", resp.StatusCode)
	}
}
