package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/telemetry"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/testenv"
)

// switchingProxy stands in for the load balancer: it forwards the Host header (so the app's
// same-origin checks see the site's host) and sends everything to one instance until told
// otherwise, as session affinity does until that instance goes away.
type switchingProxy struct {
	*httptest.Server
	target atomic.Pointer[url.URL]
}

func newSwitchingProxy(t testing.TB, first *instanceUnderTest) *switchingProxy {
	p := &switchingProxy{}
	p.switchTo(first)
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(p.target.Load())
		pr.Out.Host = pr.In.Host
	}}
	p.Server = httptest.NewServer(rp)
	t.Cleanup(p.Close)
	return p
}

func (p *switchingProxy) switchTo(in *instanceUnderTest) {
	u, _ := url.Parse(in.URL)
	p.target.Store(u)
}

// newChromium starts headless Debian chromium with a fresh profile, stopped with the test.
func newChromium(t testing.TB) context.Context {
	path := testenv.Chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium %s: %v (install it with: apt-get install chromium)", path, err)
	}
	return ctx
}

// waitFor polls a JavaScript predicate on the page and fails with what the page shows.
func waitFor(t testing.TB, ctx context.Context, what, predicate string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](predicate, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("waiting for %s: %v\npage:\n%s", what, err, body)
	}
}

func textOf(id string) string { return `document.getElementById("` + id + `").textContent` }

func TestDemoPageInHeadlessChromium(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	f := testenv.SharedFirestore(t)
	a := startInstance(t, sharedConfig(t, r, f, "i-a"))
	readerB := sdkmetric.NewManualReader()
	b := startInstance(t, sharedConfig(t, r, f, "i-b"), withReader(readerB))
	lb := newSwitchingProxy(t, a)
	ctx := newChromium(t)

	err := chromedp.Do(ctx,
		chromedp.Navigate(lb.URL),
		chromedp.WaitVisible(chromedp.ID("login-btn")),
		chromedp.SetValue(chromedp.ID("user-input"), "alice"),
		chromedp.Click(chromedp.ID("login-btn")),
		chromedp.WaitVisible(chromedp.ID("signed-in")),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "signed-in user", textOf("signed-in-user")+` === "alice"`)
	waitFor(t, ctx, "the page's instance", textOf("instance")+` === "i-a"`)
	waitFor(t, ctx, "WebSocket open on i-a", textOf("ws-state")+` === "open" && `+textOf("ws-instance")+` === "i-a"`)

	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("sku-input"), "plum"),
		chromedp.SetValue(chromedp.ID("qty-input"), "3"),
		chromedp.Click(chromedp.ID("add-btn")),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "plum in the cart", `!!document.querySelector('#cart li[data-sku="plum"]')`)
	cartText, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("cart")))
	if err != nil || !strings.Contains(cartText, "plum × 3") {
		t.Fatalf("cart shows %q (%v)", cartText, err)
	}

	// Pushes from different instances can arrive out of order: one older than the cart shown
	// does not replace it.
	stale := `ws.onmessage({data: JSON.stringify({type: "cart", cart: {items: [], updated_at: "2000-01-01T00:00:00.000001Z"}})}); true`
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](stale)); err != nil {
		t.Fatal(err)
	}
	if cartText, err = chromedp.Run(ctx, chromedp.Text(chromedp.ID("cart"))); err != nil || !strings.Contains(cartText, "plum × 3") {
		t.Fatalf("a late push of an older cart replaced the cart: shows %q (%v)", cartText, err)
	}

	// A change made elsewhere (another tab, another instance) arrives over the WebSocket.
	other := newBrowser(t)
	req, _ := http.NewRequest("POST", b.URL+"/api/login", strings.NewReader(`{"user":"alice"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := other.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	other.mustDo("POST", b.URL+"/api/cart/items", `{"sku":"fig","qty":1}`, nil)
	waitFor(t, ctx, "fig pushed into the cart", `!!document.querySelector('#cart li[data-sku="fig"]')`)

	// The instance goes away: its socket closes with 1001 and the page reconnects, through
	// the load balancer, to another instance, says so, and still has the session and cart.
	lb.switchTo(b)
	if err := a.stop(t); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "WebSocket reconnected to i-b", textOf("ws-state")+` === "open" && `+textOf("ws-instance")+` === "i-b"`)
	// The page told B where its previous socket was.
	if got := telemetry.FiguresOf(collectMetrics(t, readerB)); got.SocketsOther != 1 || got.SocketsNone != 0 {
		t.Errorf("B counted sockets %+v, want one reconnect from another instance", got)
	}
	waitFor(t, ctx, "instance-changed note", `!document.getElementById("note").classList.contains("hidden") && `+
		textOf("note")+`.includes("i-a") && `+textOf("note")+`.includes("i-b")`)
	err = chromedp.Do(ctx, chromedp.Click(chromedp.ID("report-btn")))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "report answered by i-b", textOf("report-result")+`.includes("miss") && `+textOf("api-instance")+` === "i-b"`)
	cartText, _ = chromedp.Run(ctx, chromedp.Text(chromedp.ID("cart")))
	if !strings.Contains(cartText, "plum × 3") || !strings.Contains(cartText, "fig × 1") {
		t.Fatalf("cart after the move shows %q", cartText)
	}
}
