package lab

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/telemetry"
)

// Workload is a set of simulated users: each signs in, holds a WebSocket, browses its own
// dashboard queries on /api/report again and again, and now and then adds to its cart.
type Workload struct {
	BaseURL   string         // the front, http:// or https://
	RootCAs   *x509.CertPool // trusted roots for an https:// BaseURL; nil means the system's
	Clients   int
	Queries   int           // distinct /api/report queries per client
	Duration  time.Duration // how long the clients browse
	ThinkTime time.Duration // pause between a client's requests
	CartEvery int           // every CartEvery-th action adds an item to the cart
	RunID     string        // prefixes user names so that runs sharing Redis and Firestore do not mix
	// Regions, when set, gives client k the nearest region Regions[k % len(Regions)], sent in
	// NearestRegionHeader; the balancer's RegionHeader on answers shows where each one went.
	Regions []string
}

// faultGrace is how long after a fault ends a failing request still counts as the fault's: a
// request that failed as the fault ended, or found a broken pooled connection just after.
const faultGrace = 500 * time.Millisecond

// requestTimeout bounds every request of the workload.
const requestTimeout = 15 * time.Second

// Run drives the clients for w.Duration, calls midway (if not nil, in its own goroutine) half
// way through, and then checks every client's session and cart against what it wrote. midway
// is the fault: it returns when the fault is over (or has been dealt with), and requests that
// fail between its start and its end, plus faultGrace, are counted as the fault's.
func (w Workload) Run(ctx context.Context, midway func() error) (Result, error) {
	if w.Clients < 1 || w.Queries < 1 || w.Duration <= 0 || w.CartEvery < 1 {
		return Result{}, fmt.Errorf("workload needs clients, queries, cart-every >= 1 and a duration > 0 (got %d, %d, %d, %s)",
			w.Clients, w.Queries, w.CartEvery, w.Duration)
	}
	transport := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: w.RootCAs, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 2 * w.Clients,
		IdleConnTimeout:     30 * time.Second,
	}
	defer transport.CloseIdleConnections()
	clients := make([]*client, w.Clients)
	for k := range clients {
		jar, _ := cookiejar.New(nil)
		clients[k] = &client{
			w:        w,
			user:     fmt.Sprintf("%s-u%d", w.RunID, k),
			nearest:  nearest(w.Regions, k),
			http:     &http.Client{Jar: jar, Transport: transport}, // no Timeout: WebSocket dials refuse one
			expected: map[string]int{},
			keys:     map[string]struct{}{},
		}
	}
	for _, c := range clients {
		if err := c.login(ctx); err != nil {
			return Result{}, err
		}
	}

	runCtx, stop := context.WithTimeout(ctx, w.Duration)
	defer stop()
	start := time.Now()
	var wg sync.WaitGroup
	wsCtx, stopWS := context.WithCancel(ctx)
	var wsWG sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		// A request under way when the run ends finishes: the instance has counted it, so the
		// client counts it too.
		go func() { defer wg.Done(); c.browse(ctx, runCtx) }()
		wsWG.Add(1)
		go func() { defer wsWG.Done(); c.holdWebSocket(wsCtx) }()
	}
	var midwayDone chan struct{}
	var faultStart, faultEnd time.Time
	var faultErr error
	if midway != nil {
		midwayDone = make(chan struct{})
		go func() {
			defer close(midwayDone)
			select {
			case <-time.After(w.Duration / 2):
				faultStart = time.Now()
				faultErr = midway()
				faultEnd = time.Now()
			case <-runCtx.Done():
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopWS()
	wsWG.Wait()
	if midwayDone != nil {
		<-midwayDone
	}
	if faultErr != nil {
		return Result{}, fmt.Errorf("fault half way: %w", faultErr)
	}

	res := Result{Clients: w.Clients, Seconds: elapsed.Seconds()}
	if !faultStart.IsZero() {
		res.FaultSeconds = faultEnd.Sub(faultStart).Seconds()
	}
	var before, beforeHits, after, afterHits int
	var all, hits []time.Duration
	for _, c := range clients {
		if err := c.verify(ctx); err != nil {
			return Result{}, err
		}
		res.Requests += c.requests
		res.Errors += c.errors
		res.ReportRequests += c.reports
		res.CacheHits += c.hits
		res.DistinctKeys += len(c.keys)
		res.InstanceMoves += c.moves
		res.WSConnects += c.wsConnects
		res.WSSameInstance += c.wsSameInstance
		if c.wsConnects > 1 {
			res.WSReconnects += c.wsConnects - 1
		}
		res.Observed = res.Observed.Add(c.observed).Add(c.wsObserved)
		res.Observed.CacheHits += int64(c.hits) // every report answered is a hit or a miss
		res.Observed.CacheMisses += int64(c.reports - c.hits)
		res.CartItemsWritten += c.written
		res.LostSessions += c.lostSessions
		res.LostCartItems += c.lostItems
		res.RegionMoves += c.regionMoves
		all = append(all, c.latencies...)
		hits = append(hits, c.hitLatencies...)
		for _, r := range c.reportLog {
			switch {
			case faultStart.IsZero():
			case r.start.Before(faultStart):
				before++
				beforeHits += b2i(r.hit)
			case r.start.After(faultEnd):
				after++
				afterHits += b2i(r.hit)
			}
		}
		for _, f := range c.failures {
			if !f.reason {
				res.ErrorsWithoutReason++
			}
			if res.ErrorStatuses == nil {
				res.ErrorStatuses = map[int]int{}
			}
			res.ErrorStatuses[f.status]++
			if !faultStart.IsZero() && f.end.After(faultStart) && f.start.Before(faultEnd.Add(faultGrace)) {
				res.ErrorsDuringFault++
			} else {
				res.ErrorsOutsideFault++
			}
		}
	}
	if before > 0 {
		res.HitRateBefore = float64(beforeHits) / float64(before)
	}
	if after > 0 {
		res.HitRateAfter = float64(afterHits) / float64(after)
	}
	if res.ReportRequests > 0 {
		res.HitRate = float64(res.CacheHits) / float64(res.ReportRequests)
		res.PhysicalLimit = 1 - float64(res.DistinctKeys)/float64(res.ReportRequests)
	}
	res.P50Ms, res.P95Ms, res.P99Ms = percentileMs(all, 50), percentileMs(all, 95), percentileMs(all, 99)
	res.HitP50Ms = percentileMs(hits, 50)
	return res, nil
}

func nearest(regions []string, k int) string {
	if len(regions) == 0 {
		return ""
	}
	return regions[k%len(regions)]
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// client is one simulated user with its own cookie jar (session cookie and GAESA).
type client struct {
	w        Workload
	user     string
	nearest  string // region; "" without regions
	http     *http.Client
	expected map[string]int // sku -> quantity the app acknowledged

	requests, errors, reports, hits, moves, written int
	keys                                            map[string]struct{}
	latencies, hitLatencies                         []time.Duration
	lastInstance                                    string
	lostSessions, lostItems                         int
	lastRegion                                      string
	regionMoves                                     int
	reportLog                                       []reportRecord
	failures                                        []failure

	current  atomic.Pointer[string] // lastInstance, for the WebSocket goroutine
	observed telemetry.Figures      // held and moved; hits and misses come from hits and reports, sockets from wsObserved
	// touched only by holdWebSocket
	wsConnects, wsSameInstance int
	wsObserved                 telemetry.Figures // sockets by where the previous one was
}

// reportRecord is one successful /api/report: when it started and whether it hit the cache.
type reportRecord struct {
	start time.Time
	hit   bool
}

// failure is one request that did not succeed. reason: the answer was JSON {"error": "..."}
// with a non-empty reason, as every failure the app or the lab's routers answer must be.
type failure struct {
	start, end time.Time
	status     int // 0: no answer (a transport error)
	reason     bool
}

func (c *client) do(ctx context.Context, method, path string, body any) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.w.BaseURL+path, rd)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Origin", c.w.BaseURL) // a same-origin browser request
	if c.nearest != "" {
		req.Header.Set(NearestRegionHeader, c.nearest)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, data, err
}

func (c *client) login(ctx context.Context) error {
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		resp, body, err := c.do(ctx, http.MethodPost, "/api/login", map[string]string{"user": c.user})
		if err == nil && resp.StatusCode == http.StatusOK {
			id := resp.Header.Get("X-Instance-Id")
			c.lastInstance = id
			c.current.Store(&id)
			return nil
		}
		if err == nil {
			err = fmt.Errorf("%s %s", resp.Status, body)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("sign in %s: %w", c.user, last)
}

// browse sends requests with ctx until until ends.
func (c *client) browse(ctx, until context.Context) {
	for n := 1; until.Err() == nil; n++ {
		if n%c.w.CartEvery == 0 {
			c.addToCart(ctx, fmt.Sprintf("sku-%d", n%3))
		} else {
			c.report(ctx, fmt.Sprintf("q%d", rand.IntN(c.w.Queries)))
		}
		if c.w.ThinkTime > 0 {
			select {
			case <-until.Done():
			case <-time.After(c.w.ThinkTime):
			}
		}
	}
}

// observe records a request that started at start and took took; it returns false when it did
// not succeed.
func (c *client) observe(ctx context.Context, resp *http.Response, body []byte, err error, start time.Time, took time.Duration) bool {
	if err != nil && ctx.Err() != nil {
		return false // cut off by the end of the run, not a failure
	}
	c.requests++
	if err != nil || resp.StatusCode/100 != 2 {
		c.errors++
		f := failure{start: start, end: start.Add(took)}
		if resp != nil {
			var e struct {
				Error string `json:"error"`
			}
			f.status = resp.StatusCode
			f.reason = json.Unmarshal(body, &e) == nil && e.Error != ""
		}
		c.failures = append(c.failures, f)
		return false
	}
	if g := resp.Header.Get(RegionHeader); g != "" {
		if c.lastRegion != "" && g != c.lastRegion {
			c.regionMoves++
		}
		c.lastRegion = g
	}
	c.latencies = append(c.latencies, took)
	if id := resp.Header.Get("X-Instance-Id"); id != "" {
		if c.signedIn(id) {
			c.moves++
		}
	}
	return true
}

// signedIn counts a signed-in request answered by instance id as the app does: held when the
// session's previous request was answered there too, moved when not. It reports whether the
// request moved.
func (c *client) signedIn(id string) (moved bool) {
	switch c.lastInstance {
	case "":
	case id:
		c.observed.Held++
	default:
		c.observed.Moved++
		moved = true
	}
	c.lastInstance = id
	c.current.Store(&id)
	return moved
}

func (c *client) report(ctx context.Context, q string) {
	start := time.Now()
	resp, body, err := c.do(ctx, http.MethodGet, "/api/report?q="+url.QueryEscape(q), nil)
	took := time.Since(start)
	if !c.observe(ctx, resp, body, err, start, took) {
		return
	}
	c.reports++
	c.keys[q] = struct{}{}
	hit := resp.Header.Get("X-Cache") == "hit"
	if hit {
		c.hits++
		c.hitLatencies = append(c.hitLatencies, took)
	}
	c.reportLog = append(c.reportLog, reportRecord{start, hit})
}

func (c *client) addToCart(ctx context.Context, sku string) {
	start := time.Now()
	resp, body, err := c.do(ctx, http.MethodPost, "/api/cart/items", map[string]any{"sku": sku, "qty": 1})
	if c.observe(ctx, resp, body, err, start, time.Since(start)) {
		c.expected[sku]++
		c.written++
	}
}

// holdWebSocket keeps a WebSocket open until ctx ends, reconnecting with backoff whenever the
// instance closes it (1001 on shutdown) or it cannot connect.
func (c *client) holdWebSocket(ctx context.Context) {
	wsURL := "ws" + strings.TrimPrefix(c.w.BaseURL, "http") + "/ws"
	backoff := 50 * time.Millisecond
	previous := "" // the instance of the last socket, which a reconnect names as the page does
	for ctx.Err() == nil {
		u := wsURL
		if previous != "" {
			u += "?previous=" + url.QueryEscape(previous)
		}
		header := http.Header{"Origin": {c.w.BaseURL}}
		if c.nearest != "" {
			header.Set(NearestRegionHeader, c.nearest)
		}
		conn, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: c.http, HTTPHeader: header})
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		c.wsConnects++
		id := resp.Header.Get("X-Instance-Id") // on the upgrade's answer, before any message
		switch previous {
		case "":
			c.wsObserved.SocketsNone++
		case id:
			c.wsObserved.SocketsSame++
		default:
			c.wsObserved.SocketsOther++
		}
		previous = id
		backoff = 50 * time.Millisecond
		var hello struct {
			Type     string `json:"type"`
			Instance string `json:"instance"`
		}
		if _, msg, err := conn.Read(ctx); err == nil && json.Unmarshal(msg, &hello) == nil && hello.Type == "hello" {
			if cur := c.current.Load(); cur != nil && *cur == hello.Instance {
				c.wsSameInstance++
			}
		}
		for { // cart updates; the library answers pings
			if _, _, err := conn.Read(ctx); err != nil {
				break
			}
		}
		if ctx.Err() != nil {
			_ = conn.Close(websocket.StatusNormalClosure, "run over")
			return
		}
		conn.CloseNow()
	}
}

// verify reads the client's session and cart back and counts what is missing.
func (c *client) verify(ctx context.Context) error {
	resp, body, err := c.do(ctx, http.MethodGet, "/api/me", nil)
	if err != nil {
		return fmt.Errorf("check session of %s: %w", c.user, err)
	}
	var me struct {
		User string `json:"user"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &me) != nil || me.User != c.user {
		c.lostSessions++
		// The user signs in again, as a person would, and finds the cart: a lost session is
		// not a lost cart.
		if err := c.login(ctx); err != nil {
			return err
		}
	} else {
		c.signedIn(resp.Header.Get("X-Instance-Id"))
	}
	resp, body, err = c.do(ctx, http.MethodGet, "/api/cart", nil)
	if err != nil {
		return fmt.Errorf("check cart of %s: %w", c.user, err)
	}
	got := map[string]int{}
	if resp.StatusCode == http.StatusOK {
		c.signedIn(resp.Header.Get("X-Instance-Id"))
		var cart struct {
			Items []struct {
				SKU string `json:"sku"`
				Qty int    `json:"qty"`
			} `json:"items"`
		}
		if err := json.Unmarshal(body, &cart); err != nil {
			return errors.Join(fmt.Errorf("cart of %s is not JSON: %q", c.user, body), err)
		}
		for _, it := range cart.Items {
			got[it.SKU] += it.Qty
		}
	}
	for sku, want := range c.expected {
		if got[sku] < want {
			c.lostItems += want - got[sku]
		}
	}
	return nil
}
