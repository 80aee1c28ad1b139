// Package lab runs the app as several real processes behind a front proxy that routes like
// Cloud Run's router, drives a workload of simulated clients through it, and measures what
// session affinity buys: cache hits, latency, instance moves, and that nothing is lost.
package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// CookieName is the cookie Cloud Run's router sets for session affinity.
const CookieName = "GAESA"

// cookieMaxAge matches Cloud Run's 30-day GAESA expiry.
const cookieMaxAge = 30 * 24 * time.Hour

// maxBodyBytes bounds the request bodies the router buffers so that it can resend a request
// whose instance refused the connection.
const maxBodyBytes = 1 << 20

// Mode is how the router picks an instance.
type Mode int

const (
	// AffinityOn routes a request carrying GAESA to the instance it names while that instance
	// is alive and under its concurrency limit; otherwise it picks another and re-issues GAESA.
	AffinityOn Mode = iota
	// AffinityOff ignores GAESA, never sets it, and picks a random instance per request.
	AffinityOff
	// AffinityIgnored sets GAESA but routes at random: a deployment whose affinity is broken,
	// for showing that the verifier notices.
	AffinityIgnored
)

func (m Mode) String() string {
	switch m {
	case AffinityOn:
		return "affinity"
	case AffinityOff:
		return "no-affinity"
	case AffinityIgnored:
		return "broken-affinity"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Router is the front proxy. Its zero value is not usable; call NewRouter.
type Router struct {
	mode        Mode
	concurrency int // per instance, like Cloud Run's max concurrency; WebSockets count

	mu       sync.Mutex
	backends []*backend
	byID     map[string]*backend
}

type backend struct {
	id        string
	transport *http.Transport
	proxy     *httputil.ReverseProxy
	// guarded by Router.mu
	alive    bool
	inflight int
	unsent   int // requests routed here whose last byte has not been written to the instance yet
	assigned int // GAESA cookies issued naming this instance and not yet moved away
}

// NewRouter returns a router with no instances. concurrency is the per-instance limit of
// requests in flight, open WebSockets included.
func NewRouter(mode Mode, concurrency int) *Router {
	if concurrency < 1 {
		concurrency = 1
	}
	return &Router{mode: mode, concurrency: concurrency, byID: map[string]*backend{}}
}

// Add makes an instance routable.
func (r *Router) Add(id string, target *url.URL) {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
	}
	b := &backend{id: id, transport: tr, alive: true}
	b.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host // Cloud Run keeps the Host the client used
			pr.SetXForwarded()
		},
		Transport:    tr,
		ErrorHandler: proxyError,
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.byID[id]; ok {
		old.alive = false
	}
	r.backends = append(r.backends, b)
	r.byID[id] = b
}

// Remove stops routing to an instance, as Cloud Run does before it sends SIGTERM. Requests
// already in flight on it finish.
func (r *Router) Remove(id string) {
	r.mu.Lock()
	b, ok := r.byID[id]
	if ok {
		b.alive = false
	}
	r.mu.Unlock()
	if ok {
		b.transport.CloseIdleConnections()
	}
}

// Alive lists the routable instances.
func (r *Router) Alive() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for _, b := range r.backends {
		if b.alive {
			ids = append(ids, b.id)
		}
	}
	return ids
}

type attemptKey struct{}

// attempt is one try at handing a request to an instance. If the request was not completely
// written to the instance (the dial failed, or a pooled connection turned out to be dead),
// the instance cannot have acted on it and the router may send it elsewhere. A refused
// connection also means no process listens there any more.
type attempt struct {
	wrote   atomic.Bool // set from the transport's writing goroutine
	failed  bool
	refused bool
}

func (a *attempt) retryable() bool { return a.failed && !a.wrote.Load() }

func proxyError(w http.ResponseWriter, req *http.Request, err error) {
	if req.Context().Err() != nil {
		return // the client went away
	}
	if a, ok := req.Context().Value(attemptKey{}).(*attempt); ok {
		a.failed = true
		a.refused = errors.Is(err, syscall.ECONNREFUSED)
		if a.retryable() {
			return
		}
	}
	writeError(w, http.StatusBadGateway, "instance failed: "+err.Error())
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(io.LimitReader(req.Body, maxBodyBytes+1))
		if err != nil {
			writeError(w, http.StatusBadRequest, "read request body: "+err.Error())
			return
		}
		if len(body) > maxBodyBytes {
			writeError(w, http.StatusRequestEntityTooLarge, "request body over 1 MiB")
			return
		}
	}
	cookie := ""
	if c, err := req.Cookie(CookieName); err == nil {
		cookie = c.Value
	}
	// A request that was not completely written never reached the instance's handler, so it
	// is safe to resend, even a POST. Try each instance at most once.
	tried := map[*backend]bool{}
	for range len(r.Alive()) {
		b, issue := r.pick(cookie, tried)
		if b == nil {
			writeError(w, http.StatusServiceUnavailable, "no instance available with capacity")
			return
		}
		if issue {
			http.SetCookie(w, &http.Cookie{Name: CookieName, Value: b.id, Path: "/",
				MaxAge: int(cookieMaxAge / time.Second), Secure: req.TLS != nil, HttpOnly: true})
		}
		tried[b] = true
		a := &attempt{}
		var sentOnce sync.Once
		sent := func() { sentOnce.Do(func() { r.sent(b) }) }
		ctx := httptrace.WithClientTrace(context.WithValue(req.Context(), attemptKey{}, a), &httptrace.ClientTrace{
			// The transport resends an idempotent request itself after a reused connection
			// dies; what counts is whether its last try was written.
			GetConn: func(string) { a.wrote.Store(false) },
			WroteRequest: func(info httptrace.WroteRequestInfo) {
				a.wrote.Store(info.Err == nil)
				sent()
			},
		})
		out := req.WithContext(ctx)
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
		if len(body) == 0 {
			out.Body = http.NoBody
		}
		b.proxy.ServeHTTP(w, out)
		sent()
		r.release(b)
		if !a.retryable() {
			return
		}
		if a.refused {
			r.Remove(b.id)
		}
		w.Header().Del("Set-Cookie") // only ours is there: nothing was copied from the instance
		cookie = ""
	}
	writeError(w, http.StatusServiceUnavailable, "no instance available")
}

// pick chooses the instance for a request and reports whether the response must carry a new
// GAESA naming it. It counts the request as in flight on that instance.
func (r *Router) pick(cookie string, tried map[*backend]bool) (*backend, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mode == AffinityOn && cookie != "" {
		if b, ok := r.byID[cookie]; ok && b.alive && b.inflight < r.concurrency && !tried[b] {
			r.take(b)
			return b, false
		}
	}
	var open []*backend
	for _, b := range r.backends {
		if b.alive && b.inflight < r.concurrency && !tried[b] {
			open = append(open, b)
		}
	}
	if len(open) == 0 {
		return nil, false
	}
	switch r.mode {
	case AffinityOn:
		// New sessions go where the fewest sessions are, so the instances share the clients
		// (and the working set of their caches) evenly.
		best := open[rand.IntN(len(open))]
		for _, b := range open {
			if b.assigned < best.assigned || (b.assigned == best.assigned && b.inflight < best.inflight) {
				best = b
			}
		}
		if old, ok := r.byID[cookie]; ok && old.alive && old.assigned > 0 {
			old.assigned--
		}
		best.assigned++
		r.take(best)
		return best, true
	case AffinityIgnored:
		b := open[rand.IntN(len(open))]
		r.take(b)
		return b, true
	default:
		b := open[rand.IntN(len(open))]
		r.take(b)
		return b, false
	}
}

func (r *Router) take(b *backend) {
	b.inflight++
	b.unsent++
}

func (r *Router) sent(b *backend) {
	r.mu.Lock()
	b.unsent--
	r.mu.Unlock()
}

// WaitSent waits, at most limit, until every request routed to instance id before it was
// removed has been written to it. An instance that gets SIGTERM earlier closes its idle
// keep-alive connections while such a request is on its way, and the request fails although
// Cloud Run had already stopped routing to the instance. It reports whether all were sent.
func (r *Router) WaitSent(id string, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		r.mu.Lock()
		b, ok := r.byID[id]
		done := !ok || b.unsent == 0
		r.mu.Unlock()
		if done {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (r *Router) release(b *backend) {
	r.mu.Lock()
	b.inflight--
	r.mu.Unlock()
}

// Close drops the router's idle connections to every instance.
func (r *Router) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.backends {
		b.transport.CloseIdleConnections()
	}
}
