package localdeps

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

const redisInstall = "apt-get install redis-server"

// Redis is a redis-server configured like Memorystore with AUTH and in-transit encryption:
// TLS only (no plain port), a password, no persistence, bound to 127.0.0.1.
type Redis struct {
	Addr     string // 127.0.0.1:PORT (TLS)
	Password string
	CAPEM    string // PEM of the CA that signed the server certificate
	bin      string
	args     []string // the same on Restart: same port, password and certificates
	proc     *process
}

// StartRedis starts redis-server with certificates generated into dir and returns when it
// answers an authenticated PING over TLS.
func StartRedis(ctx context.Context, dir string) (*Redis, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errMissing("redis-server", redisInstall, err)
	}
	certs, err := generateCerts(dir)
	if err != nil {
		return nil, fmt.Errorf("redis certificates: %w", err)
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	password := hex.EncodeToString(secret)

	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // a free port can be taken before redis binds it
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		args := []string{
			"--bind", "127.0.0.1", "--port", "0", "--tls-port", strconv.Itoa(port),
			"--tls-cert-file", certs.CertFile, "--tls-key-file", certs.KeyFile,
			"--tls-ca-cert-file", certs.CAFile, "--tls-auth-clients", "no",
			"--requirepass", password, "--save", "", "--appendonly", "no",
			"--dir", dir, "--loglevel", "warning"}
		p, err := startProcess(bin, args...)
		if err != nil {
			return nil, errMissing("redis-server", redisInstall, err)
		}
		r := &Redis{Addr: "127.0.0.1:" + strconv.Itoa(port), Password: password, CAPEM: certs.CAPEM,
			bin: bin, args: args, proc: p}
		lastErr = r.waitReady(ctx)
		if lastErr == nil {
			return r, nil
		}
		p.stop()
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("redis-server did not become ready: %w", lastErr)
}

// TLSConfig trusts exactly the generated CA, like the app does with REDIS_TLS_CA.
func (r *Redis) TLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(r.CAPEM))
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// Client returns a go-redis client for this server; the caller closes it.
func (r *Redis) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: r.Addr, Password: r.Password, TLSConfig: r.TLSConfig()})
}

func (r *Redis) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: r.Addr, Password: r.Password, TLSConfig: r.TLSConfig(),
		MaxRetries: -1, DialTimeout: 500 * time.Millisecond})
	defer c.Close()
	for {
		if r.proc.exited() {
			return fmt.Errorf("redis-server exited: %s", r.proc.tail())
		}
		err := c.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err, errors.New(r.proc.tail()))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Restart starts redis-server again after Stop, on the same address with the same password
// and certificates (empty, like a fresh Memorystore), and returns when it answers: a Redis
// that comes up after its clients were configured. The port was free until Stop, but another
// process may take it meanwhile; then Restart fails.
func (r *Redis) Restart(ctx context.Context) error {
	r.Stop()
	p, err := startProcess(r.bin, r.args...)
	if err != nil {
		return err
	}
	r.proc = p
	if err := r.waitReady(ctx); err != nil {
		p.stop()
		return fmt.Errorf("redis-server did not come back on %s: %w", r.Addr, err)
	}
	return nil
}

// Stop kills redis-server. Safe to call more than once.
func (r *Redis) Stop() {
	if r != nil && r.proc != nil {
		r.proc.stop()
	}
}
