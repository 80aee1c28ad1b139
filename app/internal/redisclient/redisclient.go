// Package redisclient connects to Memorystore for Redis (or any Redis) with AUTH and, when a
// CA is given, TLS that trusts exactly that CA, and explains failures in terms of the
// environment variables that cause them.
package redisclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options are the connection settings from REDIS_ADDR, REDIS_PASSWORD and REDIS_TLS_CA.
type Options struct {
	Addr     string
	Password string
	CAPEM    string
}

// New returns a client; it does not connect until first use (see Check).
func New(o Options) (*redis.Client, error) {
	ro := &redis.Options{
		Addr:         o.Addr,
		Password:     o.Password,
		DialTimeout:  3 * time.Second,
		ReadTimeout:  2 * time.Second,
		WriteTimeout: 2 * time.Second,
		// Keep a few TLS connections warm: a new one costs a handshake on the request path.
		MinIdleConns: 2,
	}
	if o.CAPEM != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(o.CAPEM)) {
			return nil, errors.New("REDIS_TLS_CA: no PEM certificate found")
		}
		// The CA is per Memorystore instance: only that instance holds a key it signed, so
		// verifying the chain authenticates the server without depending on the names
		// (IP or host) its certificate happens to list.
		ro.TLSConfig = &tls.Config{
			MinVersion:         tls.VersionTLS12,
			RootCAs:            pool,
			InsecureSkipVerify: true, // replaced by VerifyConnection below: chain only
			VerifyConnection: func(cs tls.ConnectionState) error {
				return verifyChain(cs, pool)
			},
		}
	}
	return redis.NewClient(ro), nil
}

func verifyChain(cs tls.ConnectionState, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("redis server sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
	if err != nil {
		return fmt.Errorf("redis server certificate not signed by REDIS_TLS_CA: %w", err)
	}
	return nil
}

// Check sends PING and turns a failure into a message that names what to fix.
func Check(ctx context.Context, c *redis.Client, o Options) error {
	err := c.Ping(ctx).Err()
	if err == nil {
		return nil
	}
	msg := err.Error()
	var hint string
	switch {
	case strings.Contains(msg, "REDIS_TLS_CA"), strings.Contains(msg, "certificate"), strings.Contains(msg, "x509"):
		hint = "TLS verification failed: check REDIS_TLS_CA"
	case strings.Contains(msg, "WRONGPASS"), strings.Contains(msg, "NOAUTH"), strings.Contains(msg, "AUTH"):
		hint = "authentication failed: check REDIS_PASSWORD"
	case o.CAPEM == "":
		hint = "no answer without TLS: if the server uses in-transit encryption, set REDIS_TLS_CA to its CA"
	default:
		hint = "unreachable: check REDIS_ADDR and the network path"
	}
	return fmt.Errorf("redis at %s: %s: %w", o.Addr, hint, err)
}
