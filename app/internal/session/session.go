// Package session keeps who is signed in, in Redis (shared by every instance), for local runs
// in memory, or, in several regions, in Firestore with each region's Redis as its cache. It
// wraps alexedwards/scs: one store read per request, a write only when the session changes.
package session

import (
	"context"
	"net/http"
	"time"

	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"github.com/redis/go-redis/v9"
)

// CookieName is the session cookie. It must not be GAESA: that one belongs to Cloud Run's
// session affinity.
const CookieName = "sid"

const (
	userKey     = "user"
	instanceKey = "instance" // the instance that served the session's previous request
)

// Manager loads and saves sessions around handlers.
type Manager struct {
	scs      *scs.SessionManager
	signedIn func(ctx context.Context, token string) (bool, error)
}

// Options shape the session cookie and lifetime.
type Options struct {
	TTL          time.Duration
	CookieSecure bool
	// OnError answers a request whose session could not be loaded or saved.
	OnError func(w http.ResponseWriter, r *http.Request, err error)
	// CacheTTL bounds how long the region's Redis keeps a copy of a session kept in Firestore
	// (NewFirestore only; 0 means DefaultCacheTTL).
	CacheTTL time.Duration
	// WrapStore, if set, wraps the store sessions are kept in (telemetry times its calls).
	WrapStore func(scs.Store) scs.Store
}

// redisPrefix names a session's Redis key: "session:<token>".
const redisPrefix = "session:"

// NewRedis keeps sessions in Redis under "session:<token>" with Redis-side expiry.
func NewRedis(client *redis.Client, o Options) *Manager {
	return newManager(goredisstore.NewWithPrefix(client, redisPrefix), o)
}

// NewMemory keeps sessions in this process only (local runs and tests). Its cleanup
// goroutine lives as long as the process: memstore's StopCleanup races with the goroutine's
// start (the race detector flags it), so it is never called.
func NewMemory(o Options) *Manager {
	return newManager(memstore.NewWithCleanupInterval(time.Minute), o)
}

func newManager(store scs.Store, o Options) *Manager {
	if o.WrapStore != nil {
		store = o.WrapStore(store)
	}
	sm := scs.New()
	sm.Store = store
	sm.Codec = jsonCodec{}
	sm.Lifetime = o.TTL
	sm.Cookie.Name = CookieName
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Secure = o.CookieSecure
	sm.Cookie.Path = "/"
	sm.Cookie.Persist = true
	if o.OnError != nil {
		sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
			o.OnError(w, r, err)
			if aw, ok := r.Context().Value(answeredKey{}).(*answeredWriter); ok {
				aw.answered = true
			}
		}
	}
	m := &Manager{scs: sm}
	m.signedIn = func(ctx context.Context, token string) (bool, error) {
		var found bool
		var err error
		if cs, ok := store.(scs.CtxStore); ok {
			_, found, err = cs.FindCtx(ctx, token)
		} else {
			_, found, err = store.Find(token)
		}
		return found, err
	}
	return m
}

// Middleware loads the session before next and saves it (only if changed) after. scs saves
// when the handler starts its answer; if that fails, OnError has answered and whatever the
// handler writes after it (e.g. a 200 body behind the 503) is dropped.
func (m *Manager) Middleware(next http.Handler) http.Handler {
	inner := m.scs.LoadAndSave(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		aw := &answeredWriter{ResponseWriter: w}
		inner.ServeHTTP(aw, r.WithContext(context.WithValue(r.Context(), answeredKey{}, aw)))
	})
}

type answeredKey struct{}

// answeredWriter ignores writes once OnError has answered the request.
type answeredWriter struct {
	http.ResponseWriter
	answered bool
}

func (w *answeredWriter) WriteHeader(code int) {
	if !w.answered {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *answeredWriter) Write(b []byte) (int, error) {
	if w.answered {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *answeredWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Load reads the session named by the request's cookie into a context, for handlers outside
// Middleware (the WebSocket upgrade, which must not be wrapped).
func (m *Manager) Load(r *http.Request) (context.Context, error) {
	var token string
	if c, err := r.Cookie(CookieName); err == nil {
		token = c.Value
	}
	return m.scs.Load(r.Context(), token)
}

// User is the signed-in user, or "" if nobody is.
func (m *Manager) User(ctx context.Context) string { return m.scs.GetString(ctx, userKey) }

// Token names the session (the cookie's value), or "" when none was loaded or saved.
func (m *Manager) Token(ctx context.Context) string { return m.scs.Token(ctx) }

// Expires is when the session ends.
func (m *Manager) Expires(ctx context.Context) time.Time { return m.scs.Deadline(ctx) }

// Login signs user in with a fresh token, so a token planted before sign-in is worthless.
func (m *Manager) Login(ctx context.Context, user string) error {
	if err := m.scs.RenewToken(ctx); err != nil {
		return err
	}
	m.scs.Put(ctx, userKey, user)
	return nil
}

// SignedIn reports whether the session named token still exists where every instance and
// region sees it first: in Firestore for NewFirestore (not the region's cached copy), else in
// the store. A WebSocket re-checks its session with it.
func (m *Manager) SignedIn(ctx context.Context, token string) (bool, error) {
	if token == "" {
		return false, nil
	}
	return m.signedIn(ctx, token)
}

// Visit records that instance serves this request of the session and returns the instance that
// served the session's previous request, "" if none did. The session changes, and so is written
// to the store, only when the instance does: a request that stays costs no write.
func (m *Manager) Visit(ctx context.Context, instance string) (previous string) {
	previous = m.scs.GetString(ctx, instanceKey)
	if previous != instance {
		m.scs.Put(ctx, instanceKey, instance)
	}
	return previous
}

// Logout ends the session in the store and clears the cookie.
func (m *Manager) Logout(ctx context.Context) error { return m.scs.Destroy(ctx) }
