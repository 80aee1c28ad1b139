// Package testenv gives tests the real backing services of package localdeps, stopped by
// t.Cleanup, and the path of a headless browser. A missing component fails the test with the
// command that installs it; nothing here skips.
package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/live"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/localdeps"
)

// Redis starts a TLS + requirepass redis-server for this test and stops it when the test ends.
func Redis(t testing.TB) *localdeps.Redis {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := localdeps.StartRedis(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("start redis: %v", err)
	}
	t.Cleanup(r.Stop)
	return r
}

// Firestore starts a Firestore emulator for this test alone and stops it when the test ends.
// Prefer SharedFirestore with a fresh Database: the emulator takes seconds to start.
func Firestore(t testing.TB) *localdeps.Firestore {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	f, err := localdeps.StartFirestore(ctx)
	if err != nil {
		t.Fatalf("start firestore emulator: %v", err)
	}
	t.Cleanup(f.Stop)
	return f
}

var shared struct {
	once sync.Once
	fs   *localdeps.Firestore
	err  error
}

// SharedFirestore returns one emulator per test binary, started on first use. The package's
// TestMain must call Main so that it is stopped when the tests end.
func SharedFirestore(t testing.TB) *localdeps.Firestore {
	t.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		shared.fs, shared.err = localdeps.StartFirestore(ctx)
	})
	if shared.err != nil {
		t.Fatalf("start firestore emulator: %v", shared.err)
	}
	return shared.fs
}

var databaseSeq atomic.Int64

// Database names a fresh Firestore database for this test (the emulator creates named
// databases on first use) and deletes its documents when the test ends.
func Database(t testing.TB, f *localdeps.Firestore) string {
	t.Helper()
	db := fmt.Sprintf("test-%d-%d", os.Getpid(), databaseSeq.Add(1))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f.Reset(ctx, db); err != nil {
			t.Errorf("reset database %s: %v", db, err)
		}
	})
	return db
}

// Main runs the tests and then stops servers shared between them. Use it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if shared.fs != nil {
		shared.fs.Stop()
	}
	os.Exit(code)
}

// ChromiumPath is where Debian's chromium package installs the browser.
const ChromiumPath = "/usr/bin/chromium"

// Chromium returns the path of the headless-capable browser or fails the test.
func Chromium(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		if p, lerr := exec.LookPath("chromium"); lerr == nil {
			return p
		}
		t.Fatalf("chromium not found at %s (%v): install it with: apt-get install chromium", ChromiumPath, err)
	}
	return ChromiumPath
}

// Context returns a context cancelled when the test ends.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

// RunHub runs hub until the test ends and returns once it is subscribed (with Redis) and
// ready to fan out; it fails the test if the hub stops or is not ready within 5 s.
func RunHub(t testing.TB, hub *live.Hub) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-hub.Ready():
	case err := <-done:
		t.Fatalf("hub stopped: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("hub not ready after 5s")
	}
}

// ClosedAddr is a 127.0.0.1 address nothing listens on (a port just freed), for tests of a
// dependency that does not answer.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	port, err := localdeps.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}
