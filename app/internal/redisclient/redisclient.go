// Package redisclient connects to Memorystore for Redis (or any Redis) with AUTH and, when a
// CA is given, TLS that trusts exactly that CA, explains failures in terms of the environment
// variables that cause them, and waits for a Redis that is not reachable yet.
package redisclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
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
		// go-redis's own TLS dial ignores the caller's context; tls.Dialer gives up when it
		// ends, so a probe or a shutdown does not wait out a handshake on a path that drops
		// packets (Direct VPC egress still connecting).
		ro.Dialer = (&tls.Dialer{NetDialer: &net.Dialer{Timeout: ro.DialTimeout}, Config: ro.TLSConfig}).DialContext
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
		return fmt.Errorf("%w: %w", errUntrusted, err)
	}
	return nil
}

// errUntrusted is a server certificate that REDIS_TLS_CA did not sign.
var errUntrusted = errors.New("redis server certificate not signed by REDIS_TLS_CA")

// Misconfigured reports whether err is one that waiting cannot fix: the server refused the
// password (WRONGPASS, NOAUTH) or its certificate is not signed by REDIS_TLS_CA. Anything else
// (refused, timed out, reset) may be a network path that is still coming up.
func Misconfigured(err error) bool {
	return redis.IsAuthError(err) || errors.Is(err, errUntrusted)
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
	case errors.Is(err, errUntrusted), strings.Contains(msg, "certificate"), strings.Contains(msg, "x509"):
		hint = "TLS verification failed: check REDIS_TLS_CA"
	case redis.IsAuthError(err), strings.Contains(msg, "AUTH"):
		hint = "authentication failed: check REDIS_PASSWORD"
	case o.CAPEM == "":
		hint = "no answer without TLS: if the server uses in-transit encryption, set REDIS_TLS_CA to its CA"
	default:
		hint = "unreachable: check REDIS_ADDR and the network path"
	}
	return fmt.Errorf("redis at %s: %s: %w", o.Addr, hint, err)
}

// RetryForever are backoff.Retry's options for a retry that only ctx ends (WaitReady, the
// live-update subscription, the cart watches): attempts quickly at first, then about as often
// as Cloud Run's startup probe asks (4 s); each failure is logged as a warning, msg with attrs,
// the error and the wait.
func RetryForever(ctx context.Context, log *slog.Logger, msg string, attrs ...any) []backoff.RetryOption {
	return []backoff.RetryOption{
		backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 250 * time.Millisecond,
			RandomizationFactor: 0.5, Multiplier: 1.5, MaxInterval: 4 * time.Second}),
		backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, next time.Duration) {
			log.WarnContext(ctx, msg, append(slices.Clip(attrs), "error", err, "retry_in", next.String())...)
		}),
	}
}

// WaitReady sends PING until Redis answers, logging each failure as a warning. On Cloud Run
// Direct VPC egress can take a minute or more to connect at instance start, so an unreachable
// Redis is waited for, not fatal. It returns nil once Redis answers, the error of Check when
// it is Misconfigured, or the context's error when ctx ends first.
func WaitReady(ctx context.Context, c *redis.Client, o Options, log *slog.Logger) error {
	start := time.Now()
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		err := Check(pctx, c, o)
		if Misconfigured(err) {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}, RetryForever(ctx, log, "redis not answering yet; retrying")...) // Cloud Run's startup probe decides when to give up
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "redis answers", "after_ms", time.Since(start).Milliseconds())
	return nil
}
