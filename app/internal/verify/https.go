// The transport checks: HTTP redirects to HTTPS, and the certificate is valid.

package verify

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

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
