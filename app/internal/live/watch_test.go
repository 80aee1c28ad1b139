package live_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/cart"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/live"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// regionHub is an instance of one region: its own Redis, carts in the Firestore database every
// region shares, cart changes to sockets through a watch on it.
func regionHub(t *testing.T, id, db string) (*live.Hub, *cart.Firestore) {
	f := testenv.SharedFirestore(t)
	fs, err := cart.DialFirestore(context.Background(), f.Project, db, f.Host)
	if err != nil {
		t.Fatal(err)
	}
	r := testenv.Redis(t)
	c := r.Client()
	t.Cleanup(func() { c.Close(); fs.Close() })
	store := cart.NewFirestore(fs, time.Hour)
	hub := live.NewHub(live.Options{Instance: id, Redis: c,
		WatchCart: func(ctx context.Context, user string, changed func(any)) error {
			return store.Watch(ctx, user, func(c cart.Cart) { changed(c) })
		}})
	testenv.RunHub(t, hub)
	return hub, store
}

type cartMessage struct {
	Type string
	Cart cart.Cart
}

// readCart reads frames until one carries a cart with want of sku (or fails after 5 s).
func readCart(t *testing.T, ws *websocket.Conn, sku string, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var m cartMessage
		if err := read(t, ws, &m); err != nil {
			t.Fatalf("waiting for %d %s: %v", want, sku, err)
		}
		for _, it := range m.Cart.Items {
			if m.Type == "cart" && it.SKU == sku && it.Qty == want {
				return
			}
		}
	}
	t.Fatalf("no cart with %d %s within 5s", want, sku)
}

// Each region's Redis reaches only its own instances: a change made by an instance of region
// A reaches a socket on an instance of region B, which uses another Redis, through Firestore.
func TestCartChangeInOneRegionReachesSocketsInAnother(t *testing.T) {
	t.Parallel()
	db := testenv.Database(t, testenv.SharedFirestore(t))
	hubA, storeA := regionHub(t, "a-1", db)
	hubB, _ := regionHub(t, "b-1", db)
	aliceOnB := dial(t, serve(t, hubB), "alice")
	bobOnB := dial(t, serve(t, hubB), "bob")

	c, err := storeA.Add(context.Background(), "alice", "plum", 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := hubA.Publish(context.Background(), "alice", c); err != nil {
		t.Fatal(err)
	}
	readCart(t, aliceOnB, "plum", 2)
	// Bob's watch shows only bob's cart, never alice's.
	for {
		var m cartMessage
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, data, err := bobOnB.Read(ctx)
		cancel()
		if err != nil {
			break
		}
		if err := json.Unmarshal(data, &m); err != nil || len(m.Cart.Items) != 0 {
			t.Fatalf("bob received %s", data)
		}
	}
}

// One watch per user per instance, however many sockets the user has there, stopped when the
// last closes; a socket that opens later gets the cart the watch last saw at once.
func TestOneWatchPerUserStoppedWithItsLastSocket(t *testing.T) {
	t.Parallel()
	var active, started atomic.Int32
	var mu sync.Mutex
	var push func(any)
	hub := live.NewHub(live.Options{Instance: "i-1", WatchCart: func(ctx context.Context, user string, changed func(any)) error {
		started.Add(1)
		active.Add(1)
		defer active.Add(-1)
		mu.Lock()
		push = changed
		mu.Unlock()
		changed(map[string]int{"n": 1})
		<-ctx.Done()
		return nil
	}})
	url := serve(t, hub)
	first := dial(t, url, "alice")
	var m struct {
		Type string
		Cart map[string]int
	}
	if err := read(t, first, &m); err != nil || m.Type != "cart" || m.Cart["n"] != 1 {
		t.Fatalf("first socket: %+v %v", m, err)
	}
	second := dial(t, url, "alice")
	if err := read(t, second, &m); err != nil || m.Cart["n"] != 1 {
		t.Fatalf("second socket's first cart: %+v %v", m, err)
	}
	mu.Lock()
	push(map[string]int{"n": 2})
	mu.Unlock()
	for _, ws := range []*websocket.Conn{first, second} {
		if err := read(t, ws, &m); err != nil || m.Cart["n"] != 2 {
			t.Fatalf("change through the one watch: %+v %v", m, err)
		}
	}
	if n := started.Load(); n != 1 {
		t.Fatalf("%d watches for one user's two sockets, want 1", n)
	}
	first.Close(websocket.StatusNormalClosure, "")
	time.Sleep(100 * time.Millisecond)
	if active.Load() != 1 {
		t.Fatal("watch stopped while the user still has a socket")
	}
	second.Close(websocket.StatusNormalClosure, "")
	waitFor(t, func() bool { return active.Load() == 0 }, "watch still running after the user's last socket closed")
}

// A watch that fails is started again, and the sockets get the cart it sees then.
func TestFailedWatchIsRestarted(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	hub := live.NewHub(live.Options{Instance: "i-1", WatchCart: func(ctx context.Context, user string, changed func(any)) error {
		if calls.Add(1) == 1 {
			return errors.New("listener broke")
		}
		changed(map[string]int{"n": 7})
		<-ctx.Done()
		return nil
	}})
	ws := dial(t, serve(t, hub), "alice")
	var m struct{ Cart map[string]int }
	if err := read(t, ws, &m); err != nil || m.Cart["n"] != 7 {
		t.Fatalf("after a failed watch: %+v %v", m, err)
	}
}

// A sign-out in another region reaches no instance here through Redis: sockets re-check their
// session and close with 1008 once it is gone. A check that fails is not a sign-out.
func TestSocketClosesAtTheRecheckAfterItsSessionIsGone(t *testing.T) {
	t.Parallel()
	var gone, failing atomic.Bool
	hub := live.NewHub(live.Options{Instance: "i-1", Recheck: 50 * time.Millisecond,
		SignedIn: func(ctx context.Context, session string) (bool, error) {
			if failing.Load() {
				return false, errors.New("firestore unavailable")
			}
			return !gone.Load() || session != "phone", nil
		}})
	url := serveSessions(t, hub)
	phone := dialQuery(t, url, "alice", "&session=phone")
	laptop := dialQuery(t, url, "alice", "&session=laptop")
	failing.Store(true)
	time.Sleep(200 * time.Millisecond) // several failed checks
	if hub.Open() != 2 {
		t.Fatalf("%d sockets open after failed checks, want 2", hub.Open())
	}
	failing.Store(false)
	gone.Store(true)
	wantPolicyClose(t, phone, "signed out")
	time.Sleep(150 * time.Millisecond)
	if hub.Open() != 1 {
		t.Fatalf("%d sockets open, want the laptop's only", hub.Open())
	}
	laptop.Close(websocket.StatusNormalClosure, "")
}

func waitFor(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal(msg)
}
