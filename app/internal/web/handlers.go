package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/cache"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/cart"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/live"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/report"
)

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(s.pageHTML)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when every dependency answers within a short deadline, else 503
// naming the ones that did not.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeError(w, http.StatusServiceUnavailable, "instance is shutting down")
		return
	}
	if failed := runChecks(r.Context(), s.Checks); failed != "" {
		s.Log.WarnContext(r.Context(), "not ready", "error", failed)
		writeError(w, http.StatusServiceUnavailable, "not ready: "+failed)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// startupz answers Cloud Run's startup probe: 200 once Redis answers through the client the
// sessions use, and the live updates are subscribed, else 503 naming what is not. Failures are
// not logged here: the background retries already log them, and the probe asks every few
// seconds.
func (s *Server) startupz(w http.ResponseWriter, r *http.Request) {
	if failed := runChecks(r.Context(), s.Startup); failed != "" {
		writeError(w, http.StatusServiceUnavailable, "not started: "+failed)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "started"})
}

// checkDeadline keeps the probes' answers under their 3 s timeout.
const checkDeadline = 2 * time.Second

// runChecks pings every check at once and returns "" when all answered within checkDeadline,
// else "name: error; ..." for the ones that did not, in check order. It answers at the
// deadline even if a check overruns its context (a client's own read timeout, say); such a
// check is cancelled and finishes on its own.
func runChecks(ctx context.Context, checks []Check) string {
	ctx, cancel := context.WithTimeout(ctx, checkDeadline)
	defer cancel()
	type result struct {
		i   int
		err error
	}
	results := make(chan result, len(checks)) // buffered: a late check never blocks
	for i, c := range checks {
		go func() { results <- result{i, c.Ping(ctx)} }()
	}
	errs := make([]error, len(checks))
	for i := range errs {
		errs[i] = fmt.Errorf("no answer within %v", checkDeadline)
	}
wait:
	for range checks {
		select {
		case r := <-results:
			errs[r.i] = r.err
		case <-ctx.Done():
			break wait
		}
	}
	var failed []string
	for i, err := range errs {
		if err != nil {
			failed = append(failed, checks[i].Name+": "+err.Error())
		}
	}
	return strings.Join(failed, "; ")
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err.status, err.msg)
		return
	}
	if err := s.Sessions.Login(r.Context(), req.User); err != nil {
		s.storeDown(w, r, "renew session", err)
		return
	}
	// The session is written anyway: the instance goes with it at no extra cost, and the
	// session's next request counts as held or moved.
	s.Sessions.Visit(r.Context(), s.Instance)
	writeJSON(w, http.StatusOK, map[string]string{"user": req.User})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	user, token := s.Sessions.User(r.Context()), s.Sessions.Token(r.Context())
	if err := s.Sessions.Logout(r.Context()); err != nil {
		s.storeDown(w, r, "end session", err)
		return
	}
	if user != "" && token != "" {
		// Sockets opened with this session, on any instance, stop carrying the user's cart.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		if err := s.Hub.EndSession(ctx, user, token); err != nil {
			s.Log.WarnContext(r.Context(), "sign-out not announced to WebSockets", "error", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

type meResponse struct {
	User      string    `json:"user"`
	Instance  string    `json:"instance"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	user := s.Sessions.User(r.Context())
	if user == "" {
		writeError(w, http.StatusUnauthorized, "not signed in")
		return
	}
	writeJSON(w, http.StatusOK, meResponse{user, s.Instance, s.Sessions.Expires(r.Context()).UTC()})
}

// signedIn passes the session's user to next, or answers 401.
func (s *Server) signedIn(next func(http.ResponseWriter, *http.Request, string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := s.Sessions.User(r.Context())
		if user == "" {
			writeError(w, http.StatusUnauthorized, "not signed in")
			return
		}
		next(w, r, user)
	})
}

// cartCall runs one cart store call within CartTimeout. When the time runs out the error
// wraps context.DeadlineExceeded (a gRPC DEADLINE_EXCEEDED from Firestore does not), so fail
// answers 503.
func (s *Server) cartCall(r *http.Request, call func(ctx context.Context) (cart.Cart, error)) (cart.Cart, error) {
	ctx, cancel := context.WithTimeout(r.Context(), s.CartTimeout)
	defer cancel()
	c, err := call(ctx)
	if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return c, err
}

func (s *Server) getCart(w http.ResponseWriter, r *http.Request, user string) {
	c, err := s.cartCall(r, func(ctx context.Context) (cart.Cart, error) { return s.Carts.Get(ctx, user) })
	if err != nil {
		s.fail(w, r, "read cart", err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) addItem(w http.ResponseWriter, r *http.Request, user string) {
	var req addItemRequest
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err.status, err.msg)
		return
	}
	c, err := s.cartCall(r, func(ctx context.Context) (cart.Cart, error) { return s.Carts.Add(ctx, user, req.SKU, req.Qty) })
	s.cartChanged(w, r, user, c, err)
}

func (s *Server) removeItem(w http.ResponseWriter, r *http.Request, user string) {
	sku := r.PathValue("sku")
	if !cart.ValidName(sku) {
		writeError(w, http.StatusBadRequest, "sku must be 1-64 of [A-Za-z0-9._-]")
		return
	}
	c, err := s.cartCall(r, func(ctx context.Context) (cart.Cart, error) { return s.Carts.Remove(ctx, user, sku) })
	s.cartChanged(w, r, user, c, err)
}

// cartChanged answers a cart write and tells the user's sockets on every instance. The cart
// is already durable, so a failed announcement is logged, not returned: clients re-read the
// cart when they reconnect.
func (s *Server) cartChanged(w http.ResponseWriter, r *http.Request, user string, c cart.Cart, err error) {
	if errors.Is(err, cart.ErrInvalid) {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err != nil {
		s.fail(w, r, "write cart", err)
		return
	}
	// Committed: announce it even if this client has gone away, or the user's other sockets
	// keep showing the old cart.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := s.Hub.Publish(pctx, user, c); err != nil {
		s.Log.WarnContext(r.Context(), "cart change not announced", "error", err)
	}
	writeJSON(w, http.StatusOK, c)
}

// MaxQueryLen bounds the report query.
const MaxQueryLen = 256

type reportResponse struct {
	User     string        `json:"user"`
	Q        string        `json:"q"`
	Result   report.Result `json:"result"`
	Cache    string        `json:"cache"`
	Instance string        `json:"instance"`
}

func (s *Server) report(w http.ResponseWriter, r *http.Request, user string) {
	q := r.URL.Query().Get("q")
	if len(q) > MaxQueryLen {
		writeError(w, http.StatusBadRequest, "q must be at most 256 bytes")
		return
	}
	key := cache.Key{User: user, Q: q}
	status := "hit"
	res, ok := s.Cache.Get(key)
	if !ok {
		status = "miss"
		var err error
		if res, err = s.Reports.Compute(r.Context(), user, q); err != nil {
			s.fail(w, r, "compute report", err)
			return
		}
		s.Cache.Add(key, res)
	}
	s.Telemetry.ReportCache(r.Context(), ok)
	w.Header().Set("X-Cache", status)
	writeJSON(w, http.StatusOK, reportResponse{user, q, res, status, s.Instance})
}

type statsResponse struct {
	Instance      string      `json:"instance"`
	UptimeSeconds float64     `json:"uptime_seconds"`
	Cache         cache.Stats `json:"cache"`
	WebSockets    int         `json:"websockets"`
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, statsResponse{
		Instance:      s.Instance,
		UptimeSeconds: time.Since(s.started).Seconds(),
		Cache:         s.Cache.Stats(),
		WebSockets:    s.Hub.Open(),
	})
}

func (s *Server) websocket(w http.ResponseWriter, r *http.Request) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		writeError(w, http.StatusUpgradeRequired, "GET /ws needs a WebSocket upgrade")
		return
	}
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "cross-origin WebSocket refused")
		return
	}
	ctx, err := s.Sessions.Load(r)
	if err != nil {
		s.storeDown(w, r, "load session", err)
		return
	}
	user := s.Sessions.User(ctx)
	if user == "" {
		writeError(w, http.StatusUnauthorized, "not signed in")
		return
	}
	sw := &socketWriter{ResponseWriter: w, opened: func() func() {
		return s.Telemetry.WebSocketOpened(r.Context(), previousSocket(r), s.Instance)
	}}
	err = s.Hub.ServeSession(sw, r, user, s.Sessions.Token(ctx), s.Sessions.Expires(ctx))
	if sw.closed != nil {
		sw.closed()
	}
	if errors.Is(err, live.ErrClosing) {
		writeError(w, http.StatusServiceUnavailable, "instance is shutting down")
	} else if errors.Is(err, live.ErrNotReady) {
		writeError(w, http.StatusServiceUnavailable, err.Error())
	} else if err != nil {
		// The upgrade failed and Accept has already answered.
		s.Log.InfoContext(r.Context(), "websocket upgrade failed", "error", err)
	}
}

// fail logs a server-side error and answers 500 (503 when a dependency timed out or the
// client went away) without leaking details.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	status, reason := http.StatusInternalServerError, what+" failed"
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		// A write that timed out may still have committed: the client reads before retrying.
		status, reason = http.StatusServiceUnavailable, what+" timed out"
	case errors.Is(err, context.Canceled):
		status = http.StatusServiceUnavailable
	}
	s.Log.ErrorContext(r.Context(), what, "error", err, "path", r.URL.Path)
	writeError(w, status, reason)
}

// storeDown answers a failure of the session store (Redis) with 503 and a reason: the request
// did nothing, and may succeed on a retry.
func (s *Server) storeDown(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.Log.ErrorContext(r.Context(), what, "error", err, "path", r.URL.Path)
	writeError(w, http.StatusServiceUnavailable, what+" failed: session store unavailable")
}
