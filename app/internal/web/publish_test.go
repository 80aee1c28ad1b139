package web_test

import (
	"context"
	"net/http"
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
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/testenv"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/web"
)

// commitAsClientLeaves is a cart store whose adds commit just as the client gives up on the
// request: the change is durable, but the request's context is already cancelled.
type commitAsClientLeaves struct{ *cart.Memory }

func (s commitAsClientLeaves) Add(ctx context.Context, user, sku string, qty int) (cart.Cart, error) {
	<-ctx.Done()
	return s.Memory.Add(context.Background(), user, sku, qty)
}

// A committed cart change reaches the user's sockets (through Redis, as between instances)
// even when the client that made it went away before the answer.
func TestCommittedChangeIsAnnouncedAfterTheClientLeft(t *testing.T) {
	r := testenv.Redis(t)
	client := r.Client()
	t.Cleanup(func() { client.Close() })
	hub := live.NewHub(live.Options{Instance: "i-test", Redis: client})
	testenv.RunHub(t, hub)
	s := web.New(web.Deps{
		Instance: "i-test",
		Sessions: session.NewMemory(session.Options{TTL: time.Hour}),
		Carts:    commitAsClientLeaves{cart.NewMemory(time.Hour)},
		Reports:  report.Backend{},
		Cache:    cache.New[report.Result](10, time.Minute),
		Hub:      hub,
	})
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hub.CloseAll(ctx)
		ts.Close()
	})
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

	reqCtx, leave := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer leave()
	req, _ := http.NewRequestWithContext(reqCtx, "POST", ts.URL+"/api/cart/items", strings.NewReader(`{"sku":"plum","qty":1}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := c.http.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the client was meant to give up, got %s", resp.Status)
	}

	var msg struct {
		Type string
		Cart cart.Cart
	}
	readCtx, stop := context.WithTimeout(context.Background(), 3*time.Second)
	defer stop()
	readJSON(t, readCtx, ws, &msg)
	if msg.Type != "cart" || len(msg.Cart.Items) != 1 || msg.Cart.Items[0].SKU != "plum" {
		t.Fatalf("push %+v", msg)
	}
}
