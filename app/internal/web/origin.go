package web

import (
	"net/http"
	"net/url"
	"strings"
)

// sameOrigin reports whether a browser request comes from a page of this site: the Origin's
// host must equal the Host the request was sent to (behind a proxy that forwards Host, that
// is the proxy's). Non-browser clients send no Origin and pass; browsers always send it on
// WebSocket handshakes. Sec-Fetch-Site, when present, must not say cross-site.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}
