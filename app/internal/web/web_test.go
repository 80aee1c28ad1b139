package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/cache"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/cart"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/live"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/report"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/session"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/web"
)

// newServer runs the app's handlers on in-memory stores, with these readiness checks.
func newServer(t testing.TB, checks ...web.Check) (*httptest.Server, *web.Server) {
	t.Helper()
	return newServerWith(t, func(d *web.Deps) { d.Checks = checks })
}

// newServerWith is newServer with the dependencies changed by edit.
func newServerWith(t testing.TB, edit func(*web.Deps)) (*httptest.Server, *web.Server) {
	t.Helper()
	d := web.Deps{
		Instance: "i-test",
		Sessions: session.NewMemory(session.Options{TTL: time.Hour}),
		Carts:    cart.NewMemory(time.Hour),
		Reports:  report.Backend{Delay: 20 * time.Millisecond},
		Cache:    cache.New[report.Result](100, time.Minute),
		Hub:      live.NewHub(live.Options{Instance: "i-test"}),
	}
	edit(&d)
	s := web.New(d)
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.Hub.CloseAll(ctx)
		ts.Close()
	})
	return ts, s
}

type client struct {
	t    testing.TB
	base string
	http *http.Client
}

func newClient(t testing.TB, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, http: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

// do sends a request with a JSON body (if any) and decodes a JSON answer into out (if any).
func (c *client) do(method, path, body string, out any, headers ...string) *http.Response {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("X-Instance-Id") != "i-test" {
		c.t.Errorf("%s %s: X-Instance-Id %q", method, path, resp.Header.Get("X-Instance-Id"))
	}
	if resp.StatusCode >= 400 {
		var e struct{ Error string }
		if err := json.Unmarshal(data, &e); err != nil || e.Error == "" {
			c.t.Errorf("%s %s: %d with a body that is not {\"error\":...}: %q", method, path, resp.StatusCode, data)
		}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return resp
}

func wantStatus(t testing.TB, resp *http.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want)
	}
}

func TestSignInReadsAndChangesTheCart(t *testing.T) {
	ts, _ := newServer(t)
	c := newClient(t, ts.URL)
	wantStatus(t, c.do("GET", "/api/me", "", nil), 401)
	wantStatus(t, c.do("GET", "/api/cart", "", nil), 401)
	wantStatus(t, c.do("POST", "/api/cart/items", `{"sku":"a","qty":1}`, nil), 401)

	var login map[string]string
	resp := c.do("POST", "/api/login", `{"user":"alice"}`, &login)
	wantStatus(t, resp, 200)
	if login["user"] != "alice" {
		t.Fatalf("login answered %v", login)
	}
	var ck *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == session.CookieName {
			ck = k
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure {
		t.Fatalf("session cookie %+v", ck)
	}

	var me struct {
		User, Instance string
		ExpiresAt      time.Time `json:"expires_at"`
	}
	wantStatus(t, c.do("GET", "/api/me", "", &me), 200)
	if me.User != "alice" || me.Instance != "i-test" || time.Until(me.ExpiresAt) < 59*time.Minute {
		t.Fatalf("me %+v", me)
	}

	var got cart.Cart
	wantStatus(t, c.do("GET", "/api/cart", "", &got), 200)
	if got.Items == nil || len(got.Items) != 0 {
		t.Fatalf("new cart %+v", got)
	}
	wantStatus(t, c.do("POST", "/api/cart/items", `{"sku":"apple","qty":2}`, &got), 200)
	wantStatus(t, c.do("POST", "/api/cart/items", `{"sku":"pear","qty":1}`, &got), 200)
	if len(got.Items) != 2 || got.Items[0] != (cart.Item{SKU: "apple", Qty: 2}) || got.UpdatedAt == nil {
		t.Fatalf("cart after adds %+v", got)
	}
	wantStatus(t, c.do("DELETE", "/api/cart/items/apple", "", &got), 200)
	if len(got.Items) != 1 || got.Items[0].SKU != "pear" {
		t.Fatalf("cart after delete %+v", got)
	}
	wantStatus(t, c.do("DELETE", "/api/cart/items/bad%20sku", "", nil), 400)

	wantStatus(t, c.do("POST", "/api/logout", "", nil), 204)
	wantStatus(t, c.do("GET", "/api/me", "", nil), 401)
}

func TestBadRequestBodiesAre4xx(t *testing.T) {
	ts, _ := newServer(t)
	c := newClient(t, ts.URL)
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"user":"alice"`, 400},
		{`{"user":"alice","admin":true}`, 400},
		{`{"user":""}`, 400},
		{`{"user":"` + strings.Repeat("a", 65) + `"}`, 400},
		{`{"user":"al ice"}`, 400},
		{`{"user":7}`, 400},
		{`["alice"]`, 400},
		{`{"user":"alice"}{"user":"bob"}`, 400},
		{`{"user":"` + strings.Repeat("a", 5000) + `"}`, 413},
	} {
		if resp := c.do("POST", "/api/login", tc.body, nil); resp.StatusCode != tc.want {
			t.Errorf("login %.40q: status %d, want %d", tc.body, resp.StatusCode, tc.want)
		}
	}
	wantStatus(t, c.do("POST", "/api/login", `{"user":"alice"}`, nil), 200)
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"sku":"a","qty":0}`, 400},
		{`{"sku":"a","qty":100}`, 400},
		{`{"sku":"a","qty":1.5}`, 400},
		{`{"sku":"a","qty":"1"}`, 400},
		{`{"sku":"a/b","qty":1}`, 400},
		{`{"sku":"a"}`, 400},
		{`{"sku":"a","qty":1,"price":0}`, 400},
		{``, 400},
	} {
		if resp := c.do("POST", "/api/cart/items", tc.body, nil); resp.StatusCode != tc.want {
			t.Errorf("add %q: status %d, want %d", tc.body, resp.StatusCode, tc.want)
		}
	}
	resp := c.do("POST", "/api/cart/items", `{"sku":"a","qty":1}`, nil, "Content-Type", "text/plain")
	wantStatus(t, resp, http.StatusUnsupportedMediaType)
	for range 10 {
		c.do("POST", "/api/cart/items", `{"sku":"a","qty":99}`, nil)
	}
	// 990 in the cart: 10 more would pass 999.
	wantStatus(t, c.do("POST", "/api/cart/items", `{"sku":"a","qty":10}`, nil), 400)
	wantStatus(t, c.do("POST", "/api/cart/items", `{"sku":"a","qty":9}`, nil), 200)
}

func TestUnknownPathsAndMethodsAnswerJSON(t *testing.T) {
	ts, _ := newServer(t)
	c := newClient(t, ts.URL)
	wantStatus(t, c.do("GET", "/nope", "", nil), 404)
	wantStatus(t, c.do("GET", "/ws", "", nil), http.StatusUpgradeRequired)
	resp := c.do("PUT", "/api/cart", `{}`, nil)
	wantStatus(t, resp, 405)
	if !strings.Contains(resp.Header.Get("Allow"), "GET") {
		t.Fatalf("Allow %q", resp.Header.Get("Allow"))
	}
}

func TestStateChangesFromAnotherOriginAreRefused(t *testing.T) {
	ts, _ := newServer(t)
	c := newClient(t, ts.URL)
	wantStatus(t, c.do("POST", "/api/login", `{"user":"alice"}`, nil, "Origin", "https://evil.example"), 403)
	wantStatus(t, c.do("POST", "/api/login", `{"user":"alice"}`, nil, "Sec-Fetch-Site", "cross-site"), 403)
	wantStatus(t, c.do("POST", "/api/login", `{"user":"alice"}`, nil, "Origin", ts.URL), 200)
	wantStatus(t, c.do("DELETE", "/api/cart/items/a", "", nil, "Origin", "https://evil.example"), 403)
	// Reads stay open to any origin (the answers are not readable cross-origin anyway).
	wantStatus(t, c.do("GET", "/api/me", "", nil, "Origin", "https://evil.example"), 200)
}

// Behind a proxy that forwards the Host header, the browser's Origin is the proxy's origin,
// and so is the Host the app sees: the request is same-origin.
func TestSameOriginBehindAProxyThatForwardsHost(t *testing.T) {
	ts, _ := newServer(t)
	c := newClient(t, ts.URL)
	req, _ := http.NewRequest("POST", ts.URL+"/api/login", strings.NewReader(`{"user":"alice"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Host = "lab.example:9000"
	req.Header.Set("Origin", "http://lab.example:9000")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wantStatus(t, resp, 200)

	ck := resp.Cookies()[0]
	h := http.Header{"Origin": {"http://lab.example:9000"}, "Cookie": {ck.Name + "=" + ck.Value}}
	ws, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(ts.URL, "http")+"/ws",
		&websocket.DialOptions{HTTPHeader: h, Host: "lab.example:9000"})
	if err != nil {
		t.Fatalf("same-origin WebSocket behind the proxy refused: %v", err)
	}
	ws.CloseNow()
}

func TestReportIsCachedPerUserAndQuery(t *testing.T) {
	ts, _ := newServer(t)
	alice, bob := newClient(t, ts.URL), newClient(t, ts.URL)
	wantStatus(t, alice.do("GET", "/api/report?q=x", "", nil), 401)
	alice.do("POST", "/api/login", `{"user":"alice"}`, nil)
	bob.do("POST", "/api/login", `{"user":"bob"}`, nil)
	type rep struct {
		Cache  string
		Result report.Result
	}
	var r1, r2, r3 rep
	resp := alice.do("GET", "/api/report?q=sales", "", &r1)
	if r1.Cache != "miss" || resp.Header.Get("X-Cache") != "miss" {
		t.Fatalf("first: %+v %s", r1, resp.Header.Get("X-Cache"))
	}
	resp = alice.do("GET", "/api/report?q=sales", "", &r2)
	if r2.Cache != "hit" || resp.Header.Get("X-Cache") != "hit" || r2.Result.Score != r1.Result.Score {
		t.Fatalf("second: %+v %s", r2, resp.Header.Get("X-Cache"))
	}
	bob.do("GET", "/api/report?q=sales", "", &r3)
	if r3.Cache != "miss" {
		t.Fatalf("bob got alice's entry: %+v", r3)
	}
	wantStatus(t, alice.do("GET", "/api/report?q="+strings.Repeat("x", 300), "", nil), 400)

	var st struct {
		Instance   string
		Cache      cache.Stats
		WebSockets int
	}
	wantStatus(t, alice.do("GET", "/api/stats", "", &st), 200)
	if st.Instance != "i-test" || st.Cache.Hits != 1 || st.Cache.Misses != 2 || st.Cache.Entries != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestReadinessNamesTheFailingDependency(t *testing.T) {
	ok := web.Check{Name: "firestore", Ping: func(context.Context) error { return nil }}
	down := web.Check{Name: "redis", Ping: func(context.Context) error { return errors.New("connection refused") }}
	ts, srv := newServer(t, ok, down)
	c := newClient(t, ts.URL)
	var e struct{ Error string }
	wantStatus(t, c.do("GET", "/readyz", "", &e), 503)
	if !strings.Contains(e.Error, "redis") || strings.Contains(e.Error, "firestore") {
		t.Fatalf("readyz error %q", e.Error)
	}
	wantStatus(t, c.do("GET", "/healthz", "", nil), 200)

	ts2, srv2 := newServer(t, ok)
	c2 := newClient(t, ts2.URL)
	wantStatus(t, c2.do("GET", "/readyz", "", nil), 200)
	srv2.Drain()
	wantStatus(t, c2.do("GET", "/readyz", "", nil), 503)
	_ = srv
}

func TestDemoPageShowsTheServingInstance(t *testing.T) {
	ts, _ := newServer(t)
	resp, err := http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(string(body), `<code id="instance">i-test</code>`) {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestWebSocketSaysHelloAndPushesCartChanges(t *testing.T) {
	ts, _ := newServer(t)
	c := newClient(t, ts.URL)
	wsURL := "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws"

	_, resp, err := websocket.Dial(context.Background(), wsURL, nil)
	if err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("anonymous WebSocket: %v %v", resp, err)
	}
	c.do("POST", "/api/login", `{"user":"alice"}`, nil)
	_, resp, err = websocket.Dial(context.Background(), wsURL, &websocket.DialOptions{
		HTTPClient: c.http, HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
	if err == nil || resp == nil || resp.StatusCode != 403 {
		t.Fatalf("cross-origin WebSocket: %v %v", resp, err)
	}

	ws, _, err := websocket.Dial(context.Background(), wsURL, &websocket.DialOptions{HTTPClient: c.http})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var hello map[string]string
	readJSON(t, ctx, ws, &hello)
	if hello["type"] != "hello" || hello["instance"] != "i-test" || hello["user"] != "alice" {
		t.Fatalf("hello %v", hello)
	}
	c.do("POST", "/api/cart/items", `{"sku":"plum","qty":4}`, nil)
	var msg struct {
		Type string
		Cart cart.Cart
	}
	readJSON(t, ctx, ws, &msg)
	if msg.Type != "cart" || len(msg.Cart.Items) != 1 || msg.Cart.Items[0] != (cart.Item{SKU: "plum", Qty: 4}) {
		t.Fatalf("push %+v", msg)
	}
}

func readJSON(t testing.TB, ctx context.Context, ws *websocket.Conn, v any) {
	t.Helper()
	_, data, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %q: %v", data, err)
	}
}

// Signing out ends the WebSockets opened with that session: they stop carrying the cart.
func TestSignOutClosesTheSessionsWebSocket(t *testing.T) {
	ts, _ := newServer(t)
	c := newClient(t, ts.URL)
	wantStatus(t, c.do("POST", "/api/login", `{"user":"alice"}`, nil), 200)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/ws", &websocket.DialOptions{HTTPClient: c.http})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	var hello map[string]string
	readJSON(t, ctx, ws, &hello)

	wantStatus(t, c.do("POST", "/api/logout", "", nil), 204)
	_, _, err = ws.Read(ctx)
	if code := websocket.CloseStatus(err); code != websocket.StatusPolicyViolation {
		t.Fatalf("socket after sign-out: %v, want closed with 1008", err)
	}
}

// heldCarts is a cart store whose writes wait on a document another transaction holds, as a
// Firestore write does behind a transaction an instance began and never ended, and then fail
// the way the Firestore client does: a gRPC status that does not wrap the context's error.
type heldCarts struct{ cart.Store }

func (h heldCarts) Add(ctx context.Context, user, sku string, qty int) (cart.Cart, error) {
	<-ctx.Done()
	return cart.Cart{}, status.Error(codes.DeadlineExceeded, "context deadline exceeded")
}

func TestCartWriteBehindAHeldDocumentAnswers503InTime(t *testing.T) {
	t.Parallel()
	ts, _ := newServerWith(t, func(d *web.Deps) {
		d.Carts = heldCarts{cart.NewMemory(time.Hour)}
		d.CartTimeout = 200 * time.Millisecond
	})
	c := newClient(t, ts.URL)
	wantStatus(t, c.do("POST", "/api/login", `{"user":"alice"}`, nil), 200)
	start := time.Now()
	var e struct{ Error string }
	wantStatus(t, c.do("POST", "/api/cart/items", `{"sku":"apple","qty":1}`, &e), 503)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("answered after %v; want about the 200ms cart timeout", took)
	}
	if e.Error != "write cart timed out" {
		t.Errorf("reason %q, want %q", e.Error, "write cart timed out")
	}
	wantStatus(t, c.do("GET", "/api/cart", "", nil), 200) // reads are not held
}
