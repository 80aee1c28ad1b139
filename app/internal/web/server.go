// Package web is the app's HTTP surface: plain http.Handlers on a ServeMux with method
// patterns, JSON in and out, and the embedded demo page.
package web

import (
	"bytes"
	"context"
	"embed"
	"html"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/cache"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/cart"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/live"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/logging"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/report"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/session"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/telemetry"
)

//go:embed static
var static embed.FS

// Check is one dependency readiness or start-up depends on.
type Check struct {
	Name string // named in the 503 body, e.g. "redis"
	Ping func(ctx context.Context) error
}

// ProbePaths are for Cloud Run's probes, which reach the instance directly. Public clients use
// the same answers at paths that do not end in "z" (/health, /ready): Google's front end
// reserves some paths ending in "z", so through the load balancer those may never reach the
// app.
var ProbePaths = []string{"/healthz", "/readyz", "/startupz"}

// Deps are what the handlers work with; main wires them.
type Deps struct {
	Instance string
	Project  string // for trace ids in logs
	Sessions *session.Manager
	Carts    cart.Store
	Reports  report.Backend
	Cache    *cache.Cache[report.Result]
	Hub      *live.Hub
	Checks   []Check // every dependency: /readyz and /ready
	Startup  []Check // what start-up waits for, the network path included: /startupz
	Log      *slog.Logger
	// Telemetry counts cache hits, affinity and sockets and measures requests; nil records
	// nothing.
	Telemetry *telemetry.Telemetry
	// CartTimeout bounds each cart read or write; 0 means DefaultCartTimeout.
	CartTimeout time.Duration
}

// DefaultCartTimeout bounds a cart call that normally takes milliseconds. Without a bound a
// write waiting on a document another transaction holds (one an instance began and never
// ended because it vanished) would wait as long as the client does; with it the client gets
// 503 and a reason, and may retry.
const DefaultCartTimeout = 10 * time.Second

// Server serves the HTTP contract.
type Server struct {
	Deps
	started  time.Time
	draining atomic.Bool
	handler  http.Handler
	routes   []string // every pattern registered, for Routes
	pageHTML []byte   // the demo page with this instance's id filled in
}

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 4 << 10

// New builds the server and its routes.
func New(d Deps) *Server {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Telemetry == nil {
		d.Telemetry = telemetry.Discard()
	}
	if d.CartTimeout <= 0 {
		d.CartTimeout = DefaultCartTimeout
	}
	s := &Server{Deps: d, started: time.Now(), pageHTML: renderPage(d.Instance)}
	mux := http.NewServeMux()
	withSession := func(h http.Handler) http.Handler { return d.Sessions.Middleware(s.visit(h)) }
	// Every route goes through handle, so Routes lists them all.
	handle := func(pattern string, h http.Handler) {
		mux.Handle(pattern, h)
		s.routes = append(s.routes, pattern)
	}
	f := func(h func(http.ResponseWriter, *http.Request)) http.Handler { return http.HandlerFunc(h) }

	handle("GET /{$}", f(s.page))
	handle("GET /healthz", f(s.healthz)) // liveness probe
	handle("GET /health", f(s.healthz))
	handle("GET /readyz", f(s.readyz))
	handle("GET /ready", f(s.readyz))
	handle("GET /startupz", f(s.startupz)) // startup probe
	handle("POST /api/login", withSession(f(s.login)))
	handle("POST /api/logout", withSession(f(s.logout)))
	handle("GET /api/me", withSession(f(s.me)))
	handle("GET /api/cart", withSession(s.signedIn(s.getCart)))
	handle("POST /api/cart/items", withSession(s.signedIn(s.addItem)))
	handle("DELETE /api/cart/items/{sku}", withSession(s.signedIn(s.removeItem)))
	handle("GET /api/report", withSession(s.signedIn(s.report)))
	handle("GET /api/stats", f(s.stats))
	// Not wrapped in the session middleware: its writer cannot be hijacked for the upgrade.
	handle("GET /ws", f(s.websocket))

	cop := http.NewCrossOriginProtection() // compares Origin (or Sec-Fetch-Site) with Host
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "cross-origin request refused")
	}))

	var h http.Handler = jsonFallback(mux)
	h = cop.Handler(h)
	h = s.recoverPanics(h)
	// Between the mux and the first handler that copies the request (logging.Trace), so that
	// the route the mux matched reaches the request duration's http.route.
	h = d.Telemetry.HTTP(h)
	h = logging.Trace(d.Project, h)
	h = s.instanceHeader(h)
	s.handler = h
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Routes are the ServeMux patterns the server answers, e.g. "GET /api/me".
func (s *Server) Routes() []string { return slices.Clone(s.routes) }

// Drain makes /readyz and /ready answer 503 from now on, for the shutdown window.
func (s *Server) Drain() { s.draining.Store(true) }

func (s *Server) instanceHeader(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Instance-Id", s.Instance)
		next.ServeHTTP(w, r)
	})
}

// visit counts whether a signed-in request stayed on the instance of the session's previous
// request, and records this instance in the session when it did not.
func (s *Server) visit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Sessions.User(r.Context()) != "" {
			s.Telemetry.Affinity(r.Context(), s.Sessions.Visit(r.Context(), s.Instance), s.Instance)
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Log.ErrorContext(r.Context(), "handler panic", "panic", v, "path", r.URL.Path)
				writeError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// jsonFallback answers the mux's own 404 and 405 in JSON like every other error.
func jsonFallback(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		probe := &statusProbe{header: http.Header{}}
		mux.ServeHTTP(probe, r)
		if allow := probe.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		switch probe.code {
		case http.StatusMethodNotAllowed:
			writeError(w, probe.code, "method "+r.Method+" not allowed; allowed: "+probe.header.Get("Allow"))
		default:
			writeError(w, http.StatusNotFound, "no such path: "+r.URL.Path)
		}
	})
}

// statusProbe records what the mux's fallback handler would answer.
type statusProbe struct {
	header http.Header
	code   int
}

func (p *statusProbe) Header() http.Header { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) {
	if p.code == 0 {
		p.code = http.StatusOK
	}
	return len(b), nil
}
func (p *statusProbe) WriteHeader(code int) {
	if p.code == 0 {
		p.code = code
	}
}

// renderPage fills in the id of the instance serving the page, which the page cannot read
// from its own response headers.
func renderPage(instance string) []byte {
	page, err := static.ReadFile("static/index.html")
	if err != nil {
		panic(err) // embedded at build time
	}
	return bytes.Replace(page, []byte(`<code id="instance">?</code>`),
		[]byte(`<code id="instance">`+html.EscapeString(instance)+`</code>`), 1)
}
