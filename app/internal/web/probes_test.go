package web_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/live"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/web"
)

// Google's front end reserves some paths ending in "z", so through the load balancer they may
// never reach the app: only the probes, which reach the instance directly, may use them.
func TestPublicRoutesDoNotEndInZ(t *testing.T) {
	t.Parallel()
	_, srv := newServer(t)
	routes := srv.Routes()
	if len(routes) < 10 {
		t.Fatalf("Routes lists %d patterns: %q", len(routes), routes)
	}
	for _, pattern := range routes {
		_, path, _ := strings.Cut(pattern, " ")
		path = strings.TrimSuffix(path, "{$}")
		if strings.HasSuffix(path, "z") && !slices.Contains(web.ProbePaths, path) {
			t.Errorf("route %q ends in z and is not a probe path %q", pattern, web.ProbePaths)
		}
	}
	for _, want := range []string{"GET /healthz", "GET /health", "GET /readyz", "GET /ready", "GET /startupz"} {
		if !slices.Contains(routes, want) {
			t.Errorf("no route %q in %q", want, routes)
		}
	}
}

// The demo page is a public client: every path it names must reach the app.
func TestDemoPageUsesNoPathEndingInZ(t *testing.T) {
	t.Parallel()
	ts, _ := newServer(t)
	resp, err := http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	paths := regexp.MustCompile(`["'](/[A-Za-z0-9_./-]*)`).FindAllStringSubmatch(string(page), -1)
	if len(paths) < 5 {
		t.Fatalf("found only %d paths in the page: %q", len(paths), paths)
	}
	for _, m := range paths {
		if strings.HasSuffix(m[1], "z") {
			t.Errorf("the demo page uses %q, which ends in z", m[1])
		}
	}
}

func TestPublicHealthAndReadyAnswerLikeTheProbes(t *testing.T) {
	t.Parallel()
	down := web.Check{Name: "redis", Ping: func(context.Context) error { return errors.New("connection refused") }}
	for _, checks := range [][]web.Check{nil, {down}} {
		ts, _ := newServer(t, checks...)
		c := newClient(t, ts.URL)
		for probe, public := range map[string]string{"/healthz": "/health", "/readyz": "/ready"} {
			var a, b map[string]string
			ra, rb := c.do("GET", probe, "", &a), c.do("GET", public, "", &b)
			if ra.StatusCode != rb.StatusCode || !maps.Equal(a, b) {
				t.Errorf("%s: %d %v, but %s: %d %v", probe, ra.StatusCode, a, public, rb.StatusCode, b)
			}
		}
	}
}

func TestStartupAnswers200OnMemoryStores(t *testing.T) {
	t.Parallel()
	ts, _ := newServer(t)
	var body map[string]string
	wantStatus(t, newClient(t, ts.URL).do("GET", "/startupz", "", &body), 200)
	if body["status"] != "started" {
		t.Fatalf("startupz body %v", body)
	}
}

// Until Redis answers and the live updates are subscribed, /startupz says which is missing;
// the instance stays alive (/healthz) and refuses sockets that would miss changes. Firestore
// is a readiness check only: it does not hold start-up.
func TestStartupNamesWhatIsNotReady(t *testing.T) {
	t.Parallel()
	unreachable := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	t.Cleanup(func() { unreachable.Close() })
	hub := live.NewHub(live.Options{Instance: "i-test", Redis: unreachable}) // not running
	redisDown := web.Check{Name: "redis", Ping: func(context.Context) error { return errors.New("connection refused") }}
	firestoreDown := web.Check{Name: "firestore", Ping: func(context.Context) error { return errors.New("unavailable") }}
	ts, _ := newServerWith(t, func(d *web.Deps) {
		d.Hub = hub
		d.Startup = []web.Check{redisDown, {Name: "live updates", Ping: hub.Check}}
		d.Checks = append(slices.Clone(d.Startup), firestoreDown)
	})
	c := newClient(t, ts.URL)
	var e struct{ Error string }
	wantStatus(t, c.do("GET", "/startupz", "", &e), 503)
	if !strings.Contains(e.Error, "redis: connection refused") || !strings.Contains(e.Error, "live updates: ") ||
		strings.Contains(e.Error, "firestore") {
		t.Fatalf("startupz error %q", e.Error)
	}
	wantStatus(t, c.do("GET", "/healthz", "", nil), 200)

	wantStatus(t, c.do("POST", "/api/login", `{"user":"alice"}`, nil), 200)
	_, resp, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(ts.URL, "http")+"/ws",
		&websocket.DialOptions{HTTPClient: c.http})
	if err == nil || resp == nil || resp.StatusCode != 503 {
		t.Fatalf("socket before the hub is subscribed: %v %v, want 503", resp, err)
	}
}

// A probe gets its answer before its 3 s timeout even when a check overruns its context.
func TestProbesAnswerWithinTheirDeadline(t *testing.T) {
	t.Parallel()
	stuck := web.Check{Name: "redis", Ping: func(context.Context) error { time.Sleep(5 * time.Second); return nil }}
	ts, _ := newServerWith(t, func(d *web.Deps) { d.Checks, d.Startup = []web.Check{stuck}, []web.Check{stuck} })
	for _, path := range []string{"/startupz", "/ready"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			var e struct{ Error string }
			wantStatus(t, newClient(t, ts.URL).do("GET", path, "", &e), 503)
			if took := time.Since(start); took > 2500*time.Millisecond || !strings.Contains(e.Error, "redis: no answer within 2s") {
				t.Fatalf("%s after %v: %q", path, took, e.Error)
			}
		})
	}
}
