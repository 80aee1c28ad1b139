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
