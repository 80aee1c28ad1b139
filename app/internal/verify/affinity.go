// The affinity checks: GAESA is set, requests carrying it stay on one instance, and the
// WebSocket opens there.

package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
)

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
