package live_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/live"
)

// Across regions against the real emulator (two instances, each on its own Redis): see
// TestRegionsShareSessionsCartsAndLiveUpdatesThroughFirestore in package main.

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
