// Package verify checks that a deployment of the app behaves as the stack promises: HTTPS with
// a valid certificate and a redirect from HTTP, Cloud Run session affinity (GAESA) that keeps a
// client and its WebSocket on one instance, and state that survives losing affinity.
package verify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// CookieName is Cloud Run's session affinity cookie.
const CookieName = "GAESA"

// Options says what to check and how to reach it.
type Options struct {
	URL      string         // the stack's url output, https://... (an http:// URL is followed to HTTPS)
	HTTPURL  string         // where to check the HTTP-to-HTTPS redirect; default: URL with http:// and port 80
	RootCAs  *x509.CertPool // roots that must have signed the certificate; nil: the system's
	Requests int            // consecutive requests in the affinity check; default 10
	Timeout  time.Duration  // per request; default 15s
}

// Check is the outcome of one check.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

func (c Check) String() string {
	status := "FAIL"
	if c.OK {
		status = "PASS"
	}
	return fmt.Sprintf("%s  %s: %s", status, c.Name, c.Detail)
}

// Failed reports whether any check failed.
func Failed(checks []Check) bool {
	for _, c := range checks {
		if !c.OK {
			return true
		}
	}
	return false
}

// The checks, in the order Run makes them.
const (
	CheckRedirect    = "HTTP redirects to HTTPS"
	CheckCertificate = "certificate is valid"
	CheckCookie      = "responses carry GAESA"
	CheckSticky      = "requests with GAESA stay on one instance"
	CheckWebSocket   = "WebSocket says hello from the same instance"
	CheckSurvives    = "session and cart survive dropping GAESA"
	CheckReady       = "/ready is 200 from the app"
)

type verifier struct {
	opts    Options
	base    *url.URL // scheme://host of the deployment, after following an http:// URL
	tls     *tls.Config
	checks  []Check
	jar     *cookiejar.Jar
	client  *http.Client
	user    string
	sticky  string // the instance GAESA pinned this client to
	signErr error
}

// Run makes every check against the deployment and returns them all; it stops early only when
// ctx ends.
func Run(ctx context.Context, opts Options) []Check {
	if opts.Requests < 2 {
		opts.Requests = 10
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 15 * time.Second
	}
	v := &verifier{opts: opts, tls: &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12}}
	u, err := url.Parse(strings.TrimRight(opts.URL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return []Check{{Name: "URL", Detail: fmt.Sprintf("%q is not an http(s)://host URL", opts.URL)}}
	}
	v.base = &url.URL{Scheme: u.Scheme, Host: u.Host}
	v.jar, _ = cookiejar.New(nil)
	v.client = v.newClient(v.jar)

	v.checkRedirect(ctx)
	v.checkCertificate(ctx)
	v.checkCookieAndStickiness(ctx)
	v.checkWebSocket(ctx)
	v.checkSurvivesWithoutGAESA(ctx)
	v.checkReady(ctx)
	return v.checks
}

func (v *verifier) add(name string, ok bool, format string, args ...any) {
	v.checks = append(v.checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

func (v *verifier) newClient(jar http.CookieJar) *http.Client {
	return &http.Client{
		Jar: jar, // no Timeout: WebSocket dials refuse one; requests carry a context deadline
		// HTTP/1.1 only (a custom TLS config and dialer turn HTTP/2 off): WebSocket upgrades
		// need it, and Cloud Run's affinity works the same on both.
		Transport: &http.Transport{
			TLSClientConfig: v.tls,
			DialContext:     (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// do sends a request to the deployment and reads the whole answer.
func (v *verifier) do(ctx context.Context, c *http.Client, method, path string, body any) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, v.opts.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, v.base.String()+path, rd)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Origin", v.base.String()) // the app refuses cross-origin writes
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, data, err
}

func (v *verifier) checkRedirect(ctx context.Context) {
	httpURL := v.opts.HTTPURL
	switch {
	case httpURL != "":
	case v.base.Scheme == "http":
		httpURL = v.base.String()
	case v.base.Port() == "" || v.base.Port() == "443":
		httpURL = "http://" + v.base.Hostname()
	default:
		v.add(CheckRedirect, false, "cannot derive the http:// address of %s (port %s); pass it with --http-url", v.base, v.base.Port())
		return
	}
	ctx, cancel := context.WithTimeout(ctx, v.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(httpURL, "/")+"/", nil)
	if err != nil {
		v.add(CheckRedirect, false, "%v", err)
		return
	}
	resp, err := v.newClient(nil).Do(req)
	if err != nil {
		v.add(CheckRedirect, false, "GET %s: %v", req.URL, err)
		return
	}
	resp.Body.Close()
	loc, _ := resp.Location()
	switch {
	case resp.StatusCode < 300 || resp.StatusCode > 308 || loc == nil:
		v.add(CheckRedirect, false, "GET %s answered %s, want a redirect to https://", req.URL, resp.Status)
	case loc.Scheme != "https":
		v.add(CheckRedirect, false, "GET %s redirects to %s, not to https://", req.URL, loc)
	case v.base.Scheme == "https" && loc.Hostname() != v.base.Hostname():
		v.add(CheckRedirect, false, "GET %s redirects to %s, another host than %s", req.URL, loc, v.base.Host)
	default:
		if v.base.Scheme == "http" { // the given URL was the http:// one: check the rest over HTTPS
			v.base = &url.URL{Scheme: "https", Host: loc.Host}
		}
		v.add(CheckRedirect, true, "GET %s -> %s %s", req.URL, resp.Status, loc)
	}
}

func (v *verifier) checkCertificate(ctx context.Context) {
	if v.base.Scheme != "https" {
		v.add(CheckCertificate, false, "%s is not served over HTTPS", v.base)
		return
	}
	addr := v.base.Host
	if v.base.Port() == "" {
		addr = net.JoinHostPort(v.base.Hostname(), "443")
	}
	ctx, cancel := context.WithTimeout(ctx, v.opts.Timeout)
	defer cancel()
	d := &tls.Dialer{Config: &tls.Config{RootCAs: v.opts.RootCAs, ServerName: v.base.Hostname(), MinVersion: tls.VersionTLS12}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		v.add(CheckCertificate, false, "TLS to %s: %v", addr, err)
		return
	}
	defer conn.Close()
	state := conn.(*tls.Conn).ConnectionState()
	leaf := state.PeerCertificates[0]
	v.add(CheckCertificate, true, "%s, issued by %q, valid until %s (%s from now)",
		strings.Join(append(leaf.DNSNames, ipStrings(leaf.IPAddresses)...), ","),
		leaf.Issuer.CommonName, leaf.NotAfter.UTC().Format(time.RFC3339), time.Until(leaf.NotAfter).Round(time.Hour))
}

func ipStrings(ips []net.IP) []string {
	var s []string
	for _, ip := range ips {
		s = append(s, ip.String())
	}
	return s
}

func gaesa(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			return c
		}
	}
	return nil
}

func (v *verifier) checkCookieAndStickiness(ctx context.Context) {
	resp, _, err := v.do(ctx, v.client, http.MethodGet, "/", nil)
	if err != nil {
		v.add(CheckCookie, false, "GET /: %v", err)
	} else if c := gaesa(resp); c == nil {
		v.add(CheckCookie, false, "GET / answered %s without Set-Cookie %s: session affinity is off", resp.Status, CookieName)
	} else {
		life := "session cookie"
		switch {
		case c.MaxAge > 0:
			life = fmt.Sprintf("max-age %s", time.Duration(c.MaxAge)*time.Second)
		case !c.Expires.IsZero():
			life = "expires " + c.Expires.UTC().Format(time.RFC3339)
		}
		v.add(CheckCookie, true, "GET / -> %s with %s (path %q, %s)", resp.Status, CookieName, c.Path, life)
	}

	v.user = "verify-" + randomHex(4)
	resp, body, err := v.do(ctx, v.client, http.MethodPost, "/api/login", map[string]string{"user": v.user})
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s %s", resp.Status, bytes.TrimSpace(body))
	}
	if err != nil {
		v.signErr = fmt.Errorf("sign in as %s: %w", v.user, err)
		v.add(CheckSticky, false, "%v", v.signErr)
		return
	}

	seen := map[string]int{}
	var order []string
	for range v.opts.Requests {
		resp, _, err := v.do(ctx, v.client, http.MethodGet, "/api/me", nil)
		if err != nil {
			v.add(CheckSticky, false, "GET /api/me: %v", err)
			return
		}
		id := resp.Header.Get("X-Instance-Id")
		if seen[id] == 0 {
			order = append(order, id)
		}
		seen[id]++
	}
	if len(order) != 1 || order[0] == "" {
		what := "with the cookie"
		if !v.hasGAESA() {
			what = "(no " + CookieName + " was ever issued)"
		}
		v.add(CheckSticky, false, "%d consecutive requests %s reached %d instances %v", v.opts.Requests, what, len(order), seen)
		return
	}
	if !v.hasGAESA() {
		// One instance answered, but no cookie was sent: that is not affinity at work.
		v.add(CheckSticky, false, "%d consecutive requests reached %s, but no %s was ever issued to keep them there",
			v.opts.Requests, order[0], CookieName)
		return
	}
	v.sticky = order[0]
	// Without the cookie, do requests spread? If not, one instance served everything and this
	// run cannot tell affinity from a service with a single instance.
	control := map[string]bool{}
	for range v.opts.Requests {
		resp, _, err := v.do(ctx, v.newClient(nil), http.MethodGet, "/api/me", nil)
		if err == nil {
			control[resp.Header.Get("X-Instance-Id")] = true
		}
	}
	note := fmt.Sprintf("without the cookie the same number of requests reached %d instances", len(control))
	if len(control) < 2 {
		note += " (only one instance is serving: affinity is not distinguishable from a single instance)"
	}
	v.add(CheckSticky, true, "%d of %d requests on %s; %s", seen[v.sticky], v.opts.Requests, v.sticky, note)
}

func (v *verifier) hasGAESA() bool {
	for _, c := range v.jar.Cookies(v.base) {
		if c.Name == CookieName {
			return true
		}
	}
	return false
}

func (v *verifier) checkWebSocket(ctx context.Context) {
	if v.sticky == "" {
		v.add(CheckWebSocket, false, "no sticky instance to compare with (see %q)", CheckSticky)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, v.opts.Timeout)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(v.base.String(), "http") + "/ws"
	conn, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{
		HTTPClient: v.client, HTTPHeader: http.Header{"Origin": {v.base.String()}}})
	if err != nil {
		status := ""
		if resp != nil {
			status = " (" + resp.Status + ")"
		}
		v.add(CheckWebSocket, false, "dial %s: %v%s", wsURL, err, status)
		return
	}
	defer conn.CloseNow()
	var hello struct {
		Type     string `json:"type"`
		Instance string `json:"instance"`
	}
	_, msg, err := conn.Read(ctx)
	if err == nil {
		err = json.Unmarshal(msg, &hello)
	}
	_ = conn.Close(websocket.StatusNormalClosure, "verified")
	switch {
	case err != nil:
		v.add(CheckWebSocket, false, "read the first message: %v", err)
	case hello.Type != "hello":
		v.add(CheckWebSocket, false, "first message is %q, want a hello", msg)
	case hello.Instance != v.sticky:
		v.add(CheckWebSocket, false, "hello from %s, but the cookie's requests went to %s", hello.Instance, v.sticky)
	default:
		v.add(CheckWebSocket, true, "hello from %s", hello.Instance)
	}
}

type cart struct {
	Items []struct {
		SKU string `json:"sku"`
		Qty int    `json:"qty"`
	} `json:"items"`
}

func (c cart) qty(sku string) int {
	n := 0
	for _, it := range c.Items {
		if it.SKU == sku {
			n += it.Qty
		}
	}
	return n
}

func (v *verifier) checkSurvivesWithoutGAESA(ctx context.Context) {
	if v.signErr != nil {
		v.add(CheckSurvives, false, "%v", v.signErr)
		return
	}
	sku := "verify-" + randomHex(4)
	resp, body, err := v.do(ctx, v.client, http.MethodPost, "/api/cart/items", map[string]any{"sku": sku, "qty": 2})
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s %s", resp.Status, bytes.TrimSpace(body))
	}
	if err != nil {
		v.add(CheckSurvives, false, "add %s to the cart: %v", sku, err)
		return
	}
	writer := resp.Header.Get("X-Instance-Id")
	defer func() { // leave nothing behind on the deployment
		_, _, _ = v.do(context.WithoutCancel(ctx), v.client, http.MethodDelete, "/api/cart/items/"+sku, nil)
		_, _, _ = v.do(context.WithoutCancel(ctx), v.client, http.MethodPost, "/api/logout", nil)
	}()

	// Drop GAESA, keep the session cookie: the router may pick any instance. Try a few times
	// to land on another one, which is what proves the state is not in instance memory.
	var readers []string
	for range 5 {
		jar, _ := cookiejar.New(nil)
		var keep []*http.Cookie
		for _, c := range v.jar.Cookies(v.base) {
			if c.Name != CookieName {
				keep = append(keep, c)
			}
		}
		jar.SetCookies(v.base, keep)
		fresh := v.newClient(jar)

		resp, body, err := v.do(ctx, fresh, http.MethodGet, "/api/me", nil)
		var me struct {
			User string `json:"user"`
		}
		if err == nil && (resp.StatusCode != http.StatusOK || json.Unmarshal(body, &me) != nil || me.User != v.user) {
			err = fmt.Errorf("%s %s, want 200 with user %s", resp.Status, bytes.TrimSpace(body), v.user)
		}
		if err != nil {
			v.add(CheckSurvives, false, "session lost without GAESA: GET /api/me: %v", err)
			return
		}
		reader := resp.Header.Get("X-Instance-Id")
		resp, body, err = v.do(ctx, fresh, http.MethodGet, "/api/cart", nil)
		var got cart
		if err == nil && (resp.StatusCode != http.StatusOK || json.Unmarshal(body, &got) != nil) {
			err = fmt.Errorf("%s %s", resp.Status, bytes.TrimSpace(body))
		}
		if err != nil {
			v.add(CheckSurvives, false, "cart unreadable without GAESA: GET /api/cart: %v", err)
			return
		}
		if got.qty(sku) != 2 {
			v.add(CheckSurvives, false, "cart read on %s has %d of %s, want the 2 added on %s", reader, got.qty(sku), sku, writer)
			return
		}
		readers = append(readers, reader)
		if reader != writer {
			v.add(CheckSurvives, true, "signed in and added on %s, read back on %s without GAESA", writer, reader)
			return
		}
	}
	v.add(CheckSurvives, true, "read back without GAESA %d times, but always on %s, where it was written: not proven across instances",
		len(readers), writer)
}

// checkReady asks /ready, not the probes' /readyz: Google's front end reserves some paths
// ending in "z" and may answer them itself. X-Instance-Id shows that the app answered.
func (v *verifier) checkReady(ctx context.Context) {
	resp, body, err := v.do(ctx, v.newClient(nil), http.MethodGet, "/ready", nil)
	switch {
	case err != nil:
		v.add(CheckReady, false, "GET /ready: %v", err)
	case resp.StatusCode != http.StatusOK:
		v.add(CheckReady, false, "GET /ready answered %s %s", resp.Status, bytes.TrimSpace(body))
	case resp.Header.Get("X-Instance-Id") == "":
		v.add(CheckReady, false, "GET /ready answered %s without X-Instance-Id: not the app", resp.Status)
	default:
		v.add(CheckReady, true, "GET /ready -> %s from %s", resp.Status, resp.Header.Get("X-Instance-Id"))
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand crashes the program instead)
	return hex.EncodeToString(b)
}
