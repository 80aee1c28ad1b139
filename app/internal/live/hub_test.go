package live_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/live"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/testenv"
)

// serve exposes hub on a test server; the user comes from ?user= (the web package checks
// sessions; here only the hub is under test).
func serve(t *testing.T, hub *live.Hub) string {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := hub.Serve(w, r, r.URL.Query().Get("user")); err == live.ErrClosing || err == live.ErrNotReady {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(ts.Close)
	return "ws" + strings.TrimPrefix(ts.URL, "http")
}

func dial(t *testing.T, url, user string) *websocket.Conn {
	t.Helper()
	return dialQuery(t, url, user, "")
}

// dialQuery is dial with more query parameters (e.g. "&session=s").
func dialQuery(t *testing.T, url, user, query string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url+"?user="+user+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	var hello map[string]string
	read(t, ws, &hello)
	if hello["type"] != "hello" || hello["user"] != user {
		t.Fatalf("hello %v", hello)
	}
	return ws
}

func read(t *testing.T, ws *websocket.Conn, v any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, data, err := ws.Read(ctx)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// twoHubsOnRedis runs two instances' hubs, i-1 and i-2, on one real Redis until the test ends.
func twoHubsOnRedis(t *testing.T) (*live.Hub, *live.Hub) {
	r := testenv.Redis(t)
	c1, c2 := r.Client(), r.Client()
	t.Cleanup(func() { c1.Close(); c2.Close() })
	h1 := live.NewHub(live.Options{Instance: "i-1", Redis: c1})
	h2 := live.NewHub(live.Options{Instance: "i-2", Redis: c2})
	testenv.RunHub(t, h1)
	testenv.RunHub(t, h2)
	return h1, h2
}

func TestChangesFanOutThroughRedisToTheUsersSocketsOnEveryHub(t *testing.T) {
	h1, h2 := twoHubsOnRedis(t)
	url1, url2 := serve(t, h1), serve(t, h2)

	aliceOn2 := dial(t, url2, "alice")
	bobOn2 := dial(t, url2, "bob")
	aliceOn1 := dial(t, url1, "alice")

	if err := h1.Publish(context.Background(), "alice", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	for _, ws := range []*websocket.Conn{aliceOn1, aliceOn2} {
		var m struct {
			Type string
			Cart map[string]int
		}
		if err := read(t, ws, &m); err != nil || m.Type != "cart" || m.Cart["n"] != 1 {
			t.Fatalf("alice's socket: %+v %v", m, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, data, err := bobOn2.Read(ctx); err == nil {
		t.Fatalf("bob received alice's change: %s", data)
	}
}

// A hub started while Redis does not answer keeps trying, refuses sockets meanwhile (they would
// miss changes from other instances), and is ready, without a restart, once Redis is up.
func TestHubWaitsForARedisThatComesUpLate(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	r.Stop()
	c := r.Client()
	t.Cleanup(func() { c.Close() })
	hub := live.NewHub(live.Options{Instance: "i-late", Redis: c})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	url := serve(t, hub)

	time.Sleep(300 * time.Millisecond) // a few failed attempts
	if err := hub.Check(ctx); !errors.Is(err, live.ErrNotReady) {
		t.Fatalf("Check with Redis down: %v, want ErrNotReady", err)
	}
	if _, resp, err := websocket.Dial(ctx, url+"?user=alice", nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("socket before the subscription: %v %v, want 503", resp, err)
	}
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hub.Ready():
	case err := <-done:
		t.Fatalf("hub stopped: %v", err)
	case <-ctx.Done():
		t.Fatal("hub not ready after Redis came up")
	}
	ws := dial(t, url, "alice")
	if err := hub.Publish(ctx, "alice", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	var m struct{ Type string }
	if err := read(t, ws, &m); err != nil || m.Type != "cart" {
		t.Fatalf("change through Redis after it came up: %+v %v", m, err)
	}
}

func TestCloseAllSaysGoingAwayAndRefusesNewSockets(t *testing.T) {
	hub := live.NewHub(live.Options{Instance: "i-1"})
	url := serve(t, hub)
	socks := []*websocket.Conn{dial(t, url, "alice"), dial(t, url, "bob")}
	if hub.Open() != 2 {
		t.Fatalf("open %d", hub.Open())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { hub.CloseAll(ctx); close(done) }()
	for _, ws := range socks {
		var v any
		err := read(t, ws, &v)
		if websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Fatalf("closed with %v, want 1001", err)
		}
	}
	<-done
	if hub.Open() != 0 {
		t.Fatalf("open after CloseAll: %d", hub.Open())
	}
	_, resp, err := websocket.Dial(context.Background(), url+"?user=carol", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("new socket during shutdown: %v %v", resp, err)
	}
}

func TestLocalHubDeliversWithoutRedis(t *testing.T) {
	hub := live.NewHub(live.Options{Instance: "i-1", PingInterval: 20 * time.Millisecond})
	testenv.RunHub(t, hub)
	ws := dial(t, serve(t, hub), "alice")
	time.Sleep(100 * time.Millisecond) // keepalive pings go out while idle; the socket stays open
	if err := hub.Publish(context.Background(), "alice", []string{"x"}); err != nil {
		t.Fatal(err)
	}
	var m struct {
		Type string
		Cart []string
	}
	if err := read(t, ws, &m); err != nil || m.Type != "cart" || len(m.Cart) != 1 {
		t.Fatalf("got %+v %v", m, err)
	}
}

// serveSessions is serve with the session from ?session= and its end ?ttl= from now.
func serveSessions(t *testing.T, hub *live.Hub) string {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var until time.Time
		if ttl, err := time.ParseDuration(r.URL.Query().Get("ttl")); err == nil {
			until = time.Now().Add(ttl)
		}
		_ = hub.ServeSession(w, r, r.URL.Query().Get("user"), r.URL.Query().Get("session"), until)
	}))
	t.Cleanup(ts.Close)
	return "ws" + strings.TrimPrefix(ts.URL, "http")
}

func wantPolicyClose(t *testing.T, ws *websocket.Conn, reason string) {
	t.Helper()
	var v any
	err := read(t, ws, &v)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != reason {
		t.Fatalf("closed with %v, want 1008 %q", err, reason)
	}
}

func TestSignOutClosesThatSessionsSocketsOnEveryHub(t *testing.T) {
	h1, h2 := twoHubsOnRedis(t)
	url1, url2 := serveSessions(t, h1), serveSessions(t, h2)

	phoneOn1 := dialQuery(t, url1, "alice", "&session=phone")
	phoneOn2 := dialQuery(t, url2, "alice", "&session=phone")
	laptopOn2 := dialQuery(t, url2, "alice", "&session=laptop")

	if err := h1.EndSession(context.Background(), "alice", "phone"); err != nil {
		t.Fatal(err)
	}
	wantPolicyClose(t, phoneOn1, "signed out")
	wantPolicyClose(t, phoneOn2, "signed out")
	// The other session's socket stays open and still gets the cart.
	if err := h1.Publish(context.Background(), "alice", map[string]int{"n": 2}); err != nil {
		t.Fatal(err)
	}
	var m struct{ Type string }
	if err := read(t, laptopOn2, &m); err != nil || m.Type != "cart" {
		t.Fatalf("socket of the session still signed in: %+v %v", m, err)
	}
}

func TestSocketClosesWhenItsSessionExpires(t *testing.T) {
	hub := live.NewHub(live.Options{Instance: "i-1"})
	ws := dialQuery(t, serveSessions(t, hub), "alice", "&session=s&ttl=300ms")
	wantPolicyClose(t, ws, "session expired")
}
