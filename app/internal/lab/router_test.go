package lab

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// fakeInstance is a small real HTTP server standing in for an app instance: it names itself in
// X-Instance-Id, echoes request bodies, can hold requests open, and greets WebSockets.
func fakeInstance(t *testing.T, id string, hold <-chan struct{}) *httptest.Server {
	return fakeInstanceHolding(t, id, hold, nil)
}

// fakeInstanceHolding reports on held the id of the instance each /hold request reached.
func fakeInstanceHolding(t *testing.T, id string, hold <-chan struct{}, held chan<- string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Instance-Id", id)
		body, _ := io.ReadAll(r.Body)
		_, _ = w.Write(body)
	})
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Instance-Id", id)
		if held != nil {
			held <- id
		}
		<-hold
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		_ = c.Write(r.Context(), websocket.MessageText, []byte(id))
		_, _, _ = c.Read(r.Context())
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func newTestRouter(t *testing.T, mode Mode, concurrency int, servers map[string]*httptest.Server) *httptest.Server {
	t.Helper()
	r := NewRouter(mode, concurrency)
	for _, id := range []string{"i-0", "i-1", "i-2"} {
		if s, ok := servers[id]; ok {
			u, _ := url.Parse(s.URL)
			r.Add(id, u)
		}
	}
	front := httptest.NewServer(r)
	t.Cleanup(func() { front.Close(); r.Close() })
	return front
}

func threeInstances(t *testing.T, hold <-chan struct{}) map[string]*httptest.Server {
	return map[string]*httptest.Server{
		"i-0": fakeInstance(t, "i-0", hold),
		"i-1": fakeInstance(t, "i-1", hold),
		"i-2": fakeInstance(t, "i-2", hold),
	}
}

func get(t *testing.T, c *http.Client, u string) *http.Response {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func jarClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 5 * time.Second}
}

func gaesa(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			return c
		}
	}
	return nil
}

func TestRouterIssuesGAESAAndKeepsClientsOnTheirInstance(t *testing.T) {
	front := newTestRouter(t, AffinityOn, 80, threeInstances(t, nil))
	perInstance := map[string]int{}
	for k := 0; k < 6; k++ {
		c := jarClient()
		first := get(t, c, front.URL+"/a")
		cookie := gaesa(first)
		if cookie == nil {
			t.Fatalf("first response has no %s cookie: %v", CookieName, first.Header)
		}
		if cookie.Path != "/" || cookie.MaxAge != 30*24*3600 {
			t.Errorf("GAESA path=%q max-age=%d, want / and 30 days", cookie.Path, cookie.MaxAge)
		}
		id := first.Header.Get("X-Instance-Id")
		if cookie.Value != id {
			t.Errorf("GAESA names %q but %q answered", cookie.Value, id)
		}
		perInstance[id]++
		for n := 0; n < 10; n++ {
			resp := get(t, c, front.URL+"/b")
			if got := resp.Header.Get("X-Instance-Id"); got != id {
				t.Fatalf("client %d request %d went to %s, want its instance %s", k, n, got, id)
			}
			if gaesa(resp) != nil {
				t.Errorf("GAESA re-issued although the instance is alive and has capacity")
			}
		}
	}
	for id, n := range perInstance {
		if n != 2 {
			t.Errorf("new sessions not spread evenly: %v (instance %s has %d)", perInstance, id, n)
		}
	}
}

func TestRouterMovesClientOffDeadInstanceAndResendsTheBody(t *testing.T) {
	servers := threeInstances(t, nil)
	front := newTestRouter(t, AffinityOn, 80, servers)
	c := jarClient()
	id := get(t, c, front.URL+"/").Header.Get("X-Instance-Id")
	servers[id].Close() // the process is gone: connections are refused

	resp, err := c.Post(front.URL+"/api/cart/items", "application/json", strings.NewReader(`{"sku":"x","qty":1}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != `{"sku":"x","qty":1}` {
		t.Fatalf("POST after instance death: %s %q, want 200 and the body delivered to another instance", resp.Status, body)
	}
	moved := resp.Header.Get("X-Instance-Id")
	if moved == id || moved == "" {
		t.Fatalf("request answered by %q, want an instance other than the dead %s", moved, id)
	}
	if cookie := gaesa(resp); cookie == nil || cookie.Value != moved {
		t.Fatalf("moved response must re-issue GAESA naming %s, got %v", moved, cookie)
	}
	if got := get(t, c, front.URL+"/").Header.Get("X-Instance-Id"); got != moved {
		t.Errorf("after the move the client went to %s, want %s", got, moved)
	}
}

func TestRouterMovesClientWhenItsInstanceIsAtConcurrencyLimit(t *testing.T) {
	hold := make(chan struct{})
	held := make(chan string, 1)
	servers := map[string]*httptest.Server{}
	for _, id := range []string{"i-0", "i-1", "i-2"} {
		servers[id] = fakeInstanceHolding(t, id, hold, held)
	}
	front := newTestRouter(t, AffinityOn, 1, servers)
	c := jarClient()
	id := get(t, c, front.URL+"/").Header.Get("X-Instance-Id")

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // occupies the client's instance
		defer wg.Done()
		resp, err := c.Get(front.URL + "/hold")
		if err == nil {
			resp.Body.Close()
		}
	}()
	defer wg.Wait()
	defer close(hold)
	if got := <-held; got != id {
		t.Fatalf("held request reached %s, want the client's instance %s", got, id)
	}
	resp := get(t, c, front.URL+"/")
	got := resp.Header.Get("X-Instance-Id")
	if got == id {
		t.Fatalf("request went to %s although it was at its concurrency limit", id)
	}
	if cookie := gaesa(resp); cookie == nil || cookie.Value != got {
		t.Fatalf("moved to %s without a GAESA naming it (%v)", got, cookie)
	}
}

func TestRouterWithoutAffinityIgnoresAndNeverSetsGAESA(t *testing.T) {
	front := newTestRouter(t, AffinityOff, 80, threeInstances(t, nil))
	c := jarClient()
	u, _ := url.Parse(front.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: CookieName, Value: "i-0"}})
	seen := map[string]int{}
	for n := 0; n < 30; n++ {
		resp := get(t, c, front.URL+"/")
		if gaesa(resp) != nil {
			t.Fatalf("GAESA set with affinity off")
		}
		seen[resp.Header.Get("X-Instance-Id")]++
	}
	if len(seen) != 3 {
		t.Fatalf("30 requests reached %v, want all three instances", seen)
	}
}

func TestRouterRoutesWebSocketUpgradesByGAESA(t *testing.T) {
	front := newTestRouter(t, AffinityOn, 80, threeInstances(t, nil))
	c := jarClient()
	id := get(t, c, front.URL+"/").Header.Get("X-Instance-Id")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for n := 0; n < 3; n++ {
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(front.URL, "http")+"/ws",
			&websocket.DialOptions{HTTPClient: c})
		if err != nil {
			t.Fatalf("dial through router: %v", err)
		}
		_, msg, err := ws.Read(ctx)
		ws.CloseNow()
		if err != nil {
			t.Fatal(err)
		}
		if string(msg) != id {
			t.Fatalf("WebSocket reached %s, want the GAESA instance %s", msg, id)
		}
	}
}

// dyingInstance answers one request on a keep-alive connection, then reads the next request
// on it, stops listening and drops the connection unanswered: an instance exiting while the
// router reuses its pooled connection.
func dyingInstance(t *testing.T, id string) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nX-Instance-Id: "+id+"\r\nContent-Length: 0\r\n\r\n")
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		ln.Close()
	}()
	return &url.URL{Scheme: "http", Host: ln.Addr().String()}
}

// The transport resends an idempotent request itself when a reused connection dies; when
// that second try is refused, nothing reached a handler, so the router must move the request
// to another instance instead of answering 502.
func TestRouterMovesRequestWhenTheTransportsOwnRetryIsRefused(t *testing.T) {
	r := NewRouter(AffinityOn, 80)
	r.Add("i-0", dyingInstance(t, "i-0"))
	front := httptest.NewServer(r)
	t.Cleanup(func() { front.Close(); r.Close() })
	c := jarClient()
	if id := get(t, c, front.URL+"/").Header.Get("X-Instance-Id"); id != "i-0" {
		t.Fatalf("first request reached %q, want i-0", id)
	}
	u, _ := url.Parse(fakeInstance(t, "i-1", nil).URL)
	r.Add("i-1", u)

	resp := get(t, c, front.URL+"/again")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Instance-Id") != "i-1" {
		t.Fatalf("GET after i-0 died: %s from %q, want 200 from i-1", resp.Status, resp.Header.Get("X-Instance-Id"))
	}
}

// WaitSent waits for requests on their way to an instance, not for requests the instance is
// still answering (those finish during the instance's graceful shutdown).
func TestRouterWaitSentCountsRequestsUntilWritten(t *testing.T) {
	hold := make(chan struct{})
	held := make(chan string, 1)
	r := NewRouter(AffinityOn, 80)
	u, _ := url.Parse(fakeInstanceHolding(t, "i-0", hold, held).URL)
	r.Add("i-0", u)
	front := httptest.NewServer(r)
	t.Cleanup(func() { front.Close(); r.Close() })
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.Get(front.URL + "/hold"); err == nil {
			resp.Body.Close()
		}
	}()
	<-held // the request is in the instance's handler
	r.Remove("i-0")
	if !r.WaitSent("i-0", time.Second) {
		t.Errorf("WaitSent timed out although the request reached the instance")
	}
	close(hold)
	<-done
	r.mu.Lock()
	unsent := r.byID["i-0"].unsent
	r.mu.Unlock()
	if unsent != 0 {
		t.Errorf("%d requests counted as unsent after all finished", unsent)
	}
}
