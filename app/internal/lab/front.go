package lab

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Front is where clients reach the router: plain HTTP, or, with TLS, HTTPS with a generated
// certificate plus an HTTP listener that redirects to it, like the load balancer's
// HTTP-to-HTTPS redirect.
type Front struct {
	URL      string // http://127.0.0.1:P, or https://127.0.0.1:P with TLS
	HTTPURL  string // the redirecting http:// listener; empty without TLS
	CAPEM    []byte // the CA that signed the HTTPS certificate; empty without TLS
	RootCAs  *x509.CertPool
	servers  []*http.Server
	listener []net.Listener
}

// ServeFront starts serving h on loopback.
func ServeFront(h http.Handler, withTLS bool) (*Front, error) {
	main, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &Front{}
	// Handshake failures of clients that do not trust the lab's CA are expected, not news.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	if !withTLS {
		f.URL = "http://" + main.Addr().String()
		f.serve(srv, main)
		return f, nil
	}
	cert, caPEM, err := selfSignedChain()
	if err != nil {
		main.Close()
		return nil, err
	}
	f.CAPEM = caPEM
	f.RootCAs = x509.NewCertPool()
	f.RootCAs.AppendCertsFromPEM(caPEM)
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"}}
	f.URL = "https://" + main.Addr().String()
	f.serve(srv, tls.NewListener(main, srv.TLSConfig))

	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Close()
		return nil, err
	}
	tlsPort := strconv.Itoa(main.Addr().(*net.TCPAddr).Port)
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		http.Redirect(w, r, "https://"+net.JoinHostPort(host, tlsPort)+r.URL.RequestURI(), http.StatusMovedPermanently)
	})
	f.HTTPURL = "http://" + plain.Addr().String()
	f.serve(&http.Server{Handler: redirect, ReadHeaderTimeout: 10 * time.Second}, plain)
	return f, nil
}

func (f *Front) serve(srv *http.Server, l net.Listener) {
	f.servers = append(f.servers, srv)
	f.listener = append(f.listener, l)
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			l.Close()
		}
	}()
}

// Close stops the listeners and ends open connections, WebSockets included.
func (f *Front) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, s := range f.servers {
		_ = s.Shutdown(ctx)
		_ = s.Close() // hijacked WebSocket connections are not ended by Shutdown
	}
}

// selfSignedChain makes a throw-away CA and a certificate for 127.0.0.1 and localhost signed by
// it, so that clients verify the front the normal way, with the CA as their only root.
func selfSignedChain() (tls.Certificate, []byte, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "affinity lab CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert := tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: key}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), nil
}
