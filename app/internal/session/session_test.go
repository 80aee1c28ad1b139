package session_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/redis/go-redis/v9"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/cart"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/session"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/testenv"
)

// commandCounter counts the commands a client sends (pipelines count once: one round trip).
type commandCounter struct{ n atomic.Int64 }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(1); return next(ctx, cmds) }
}

func routes(m *session.Manager) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Login(r.Context(), r.URL.Query().Get("u")); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		u := m.User(r.Context())
		if u == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write([]byte(u))
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Logout(r.Context()); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	return m.Middleware(mux)
}

func do(t *testing.T, h http.Handler, method, path string, cookie *http.Cookie) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func sessionCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == session.CookieName {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", session.CookieName, resp.Header["Set-Cookie"])
	return nil
}

func TestRedisSessionIsSharedRenewedAndCostsOneRoundTrip(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	counter := &commandCounter{}
	c1 := r.Client()
	c1.AddHook(counter)
	t.Cleanup(func() { c1.Close() })
	c2 := r.Client()
	t.Cleanup(func() { c2.Close() })
	a := routes(session.NewRedis(c1, session.Options{TTL: time.Hour, CookieSecure: true}))
	b := routes(session.NewRedis(c2, session.Options{TTL: time.Hour, CookieSecure: true}))

	// The attacker plants a token that exists in the store (their own session): a made-up
	// token would be replaced by scs anyway and prove nothing about renewal.
	planted := sessionCookie(t, do(t, a, "POST", "/login?u=mallory", nil))
	resp := do(t, a, "POST", "/login?u=alice", planted)
	ck := sessionCookie(t, resp)
	if ck.Value == planted.Value || ck.Value == "" {
		t.Fatalf("token not renewed on login: %q", ck.Value)
	}
	if resp := do(t, b, "GET", "/me", planted); resp.StatusCode == 200 {
		if body, _ := io.ReadAll(resp.Body); string(body) == "alice" {
			t.Fatalf("the planted token signs the attacker in as alice (session fixation)")
		}
	}
	if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.Name == "GAESA" {
		t.Fatalf("cookie attributes: %+v", ck)
	}

	// Another instance (its own client) sees the session.
	if resp := do(t, b, "GET", "/me", ck); resp.StatusCode != 200 {
		t.Fatalf("instance B: status %d", resp.StatusCode)
	}

	before := counter.n.Load()
	resp = do(t, a, "GET", "/me", ck)
	if resp.StatusCode != 200 || len(resp.Header["Set-Cookie"]) != 0 {
		t.Fatalf("GET /me: %d %v", resp.StatusCode, resp.Header["Set-Cookie"])
	}
	if got := counter.n.Load() - before; got != 1 {
		t.Fatalf("authenticated read cost %d Redis round trips, want 1", got)
	}

	resp = do(t, a, "POST", "/logout", ck)
	if cleared := sessionCookie(t, resp); cleared.MaxAge >= 0 {
		t.Fatalf("logout did not clear the cookie: %+v", cleared)
	}
	if resp := do(t, b, "GET", "/me", ck); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after logout, instance B: status %d", resp.StatusCode)
	}
}

func TestMemorySessionWorksWithoutRedis(t *testing.T) {
	t.Parallel()
	m := session.NewMemory(session.Options{TTL: time.Hour})
	h := routes(m)
	ck := sessionCookie(t, do(t, h, "POST", "/login?u=bob", nil))
	if ck.Secure {
		t.Fatal("Secure cookie with CookieSecure=false")
	}
	if resp := do(t, h, "GET", "/me", ck); resp.StatusCode != 200 {
		t.Fatalf("GET /me: %d", resp.StatusCode)
	}
}

func TestRedisOutageAnswersThroughOnError(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: testenv.ClosedAddr(t), MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	var got error
	m := session.NewRedis(c, session.Options{TTL: time.Hour, OnError: func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(http.StatusServiceUnavailable)
	}})
	resp := do(t, routes(m), "GET", "/me", &http.Cookie{Name: session.CookieName, Value: "x"})
	if resp.StatusCode != http.StatusServiceUnavailable || got == nil || !strings.Contains(got.Error(), "refused") {
		t.Fatalf("status %d, err %v", resp.StatusCode, got)
	}
}

// A sign-in whose session cannot be saved answers only what OnError wrote: one JSON error,
// not the error followed by the handler's 200 body.
func TestSaveFailureAnswersOnlyTheError(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: testenv.ClosedAddr(t), MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	m := session.NewRedis(c, session.Options{TTL: time.Hour, OnError: func(w http.ResponseWriter, r *http.Request, err error) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":"session store unavailable"}`))
	}})
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := m.Login(r.Context(), "alice"); err != nil {
			t.Fatal(err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"user":"alice"}`))
	}))
	resp := do(t, h, "POST", "/login", nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || string(body) != `{"error":"session store unavailable"}` {
		t.Fatalf("status %d, body %q; want 503 and only the error", resp.StatusCode, body)
	}
	if len(resp.Header["Set-Cookie"]) != 0 {
		t.Fatalf("a cookie for a session that was not saved: %v", resp.Header["Set-Cookie"])
	}
}

// With sessions in Firestore, a client moved to another region (its own Redis) keeps its
// session; a sign-out is seen at once there by SignedIn (what sockets re-check) and by
// requests once the region's cached copy expires.
func TestFirestoreSessionsFollowTheClientAcrossRegions(t *testing.T) {
	t.Parallel()
	f := testenv.SharedFirestore(t)
	db := testenv.Database(t, f)
	const cacheTTL = 300 * time.Millisecond
	region := func() (*session.Manager, http.Handler) {
		r := testenv.Redis(t)
		c := r.Client()
		fs, err := cart.DialFirestore(context.Background(), f.Project, db, f.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(); fs.Close() })
		m := session.NewFirestore(fs, c, session.Options{TTL: time.Hour, CacheTTL: cacheTTL})
		return m, routes(m)
	}
	mA, a := region()
	mB, b := region()
	ck := sessionCookie(t, do(t, a, "POST", "/login?u=alice", nil))
	if resp := do(t, b, "GET", "/me", ck); resp.StatusCode != 200 {
		t.Fatalf("region B: status %d", resp.StatusCode)
	}
	if ok, err := mB.SignedIn(context.Background(), ck.Value); !ok || err != nil {
		t.Fatalf("SignedIn in B: %v %v", ok, err)
	}
	do(t, a, "POST", "/logout", ck)
	for _, m := range []*session.Manager{mA, mB} {
		if ok, err := m.SignedIn(context.Background(), ck.Value); ok || err != nil {
			t.Fatalf("SignedIn after sign-out: %v %v", ok, err)
		}
	}
	time.Sleep(cacheTTL + 100*time.Millisecond)
	if resp := do(t, b, "GET", "/me", ck); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("region B after sign-out in A and its cache TTL: status %d", resp.StatusCode)
	}
}

// commitCounter counts the writes that reach a session store.
type commitCounter struct {
	scs.Store
	commits atomic.Int64
}

func (c *commitCounter) Commit(token string, b []byte, expiry time.Time) error {
	c.commits.Add(1)
	return c.Store.Commit(token, b, expiry)
}

// Visit tells which instance served the session's previous request, and writes the session
// only when the instance changes: requests that stay cost no write.
func TestVisitRemembersTheInstanceAndWritesOnlyWhenItChanges(t *testing.T) {
	t.Parallel()
	var store *commitCounter
	m := session.NewMemory(session.Options{TTL: time.Hour, WrapStore: func(s scs.Store) scs.Store {
		store = &commitCounter{Store: s}
		return store
	}})
	var previous []string
	visit := func(instance string) http.Handler {
		return m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/login" {
				m.Login(r.Context(), "alice")
			}
			previous = append(previous, m.Visit(r.Context(), instance))
		}))
	}
	cookie := sessionCookie(t, do(t, visit("i-a"), "POST", "/login", nil))
	for _, instance := range []string{"i-a", "i-a", "i-b", "i-b", "i-a"} {
		do(t, visit(instance), "GET", "/me", cookie)
	}
	if want := []string{"", "i-a", "i-a", "i-a", "i-b", "i-b"}; strings.Join(previous, ",") != strings.Join(want, ",") {
		t.Errorf("previous instances %q, want %q", previous, want)
	}
	// The login, the move to B and the move back to A.
	if n := store.commits.Load(); n != 3 {
		t.Errorf("%d session writes, want 3", n)
	}
}
