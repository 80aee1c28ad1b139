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
// TLS only (no plain port), a password, bound to 127.0.0.1, and no persistence unless started
// with StartRedisWith.
type Redis struct {
	Addr     string // 127.0.0.1:PORT (TLS)
	Password string
	CAPEM    string // PEM of the CA that signed the server certificate
	bin      string
	args     []string // the same on Restart: same port, password and certificates
	proc     *process
}

// Persistence is what a Redis keeps across a restart.
type Persistence string

const (
	// PersistOff keeps nothing: a restart comes back empty, like Memorystore for Redis BASIC
	// without RDB snapshots.
	PersistOff Persistence = "off"
	// PersistRDB writes an RDB snapshot into dir once more than a second has passed since the
	// last one and something changed (save "1 1"), and loads it on restart: Memorystore's RDB
	// snapshots with the period scaled down from hours. A restart loses what changed since the
	// last snapshot: up to about 2 s.
	PersistRDB Persistence = "rdb"
	// PersistAOF appends every write to a file in dir and syncs it before answering
	// (appendfsync always), so a restart loses nothing that was acknowledged.
	PersistAOF Persistence = "aof"
)

// Valid reports whether p is one of the Persist constants.
func (p Persistence) Valid() bool { return p == PersistOff || p == PersistRDB || p == PersistAOF }

func (p Persistence) args() []string {
	switch p {
	case PersistRDB:
		return []string{"--save", "1 1", "--dbfilename", "dump.rdb", "--appendonly", "no"}
	case PersistAOF:
		return []string{"--save", "", "--appendonly", "yes", "--appendfsync", "always"}
	}
	return []string{"--save", "", "--appendonly", "no"}
}

// StartRedis starts redis-server with certificates generated into dir and returns when it
// answers an authenticated PING over TLS. It keeps nothing across a restart.
func StartRedis(ctx context.Context, dir string) (*Redis, error) {
	return StartRedisWith(ctx, dir, PersistOff)
}

// StartRedisWith is StartRedis keeping data in dir as p says, so that Restart brings it back.
func StartRedisWith(ctx context.Context, dir string, p Persistence) (*Redis, error) {
	if !p.Valid() {
		return nil, fmt.Errorf("redis persistence %q: want off, rdb or aof", p)
	}
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
		args := append([]string{
			"--bind", "127.0.0.1", "--port", "0", "--tls-port", strconv.Itoa(port),
			"--tls-cert-file", certs.CertFile, "--tls-key-file", certs.KeyFile,
			"--tls-ca-cert-file", certs.CAFile, "--tls-auth-clients", "no",
			"--requirepass", password, "--dir", dir, "--loglevel", "warning"}, p.args()...)
		proc, err := startProcess(bin, args...)
		if err != nil {
			return nil, errMissing("redis-server", redisInstall, err)
		}
		r := &Redis{Addr: "127.0.0.1:" + strconv.Itoa(port), Password: password, CAPEM: certs.CAPEM,
			bin: bin, args: args, proc: proc}
		lastErr = r.waitReady(ctx)
		if lastErr == nil {
			return r, nil
		}
		proc.stop()
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
// and certificates, and returns when it answers: a Redis that comes up after its clients were
// configured, or one back from maintenance. It comes back empty, like a fresh Memorystore,
// unless it was started with persistence: then with what its RDB snapshot or AOF kept. The port was free until Stop, but another
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

// Stop kills redis-server (SIGKILL: no last snapshot, the worst case). Safe to call more
// than once.
func (r *Redis) Stop() {
	if r != nil && r.proc != nil {
		r.proc.stop()
	}
}
