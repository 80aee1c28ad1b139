package localdeps_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/localdeps"
)

func TestRedisAnswersOnlyOverTLSWithPassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := localdeps.StartRedis(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()

	c := r.Client()
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("authenticated TLS SET: %v", err)
	}

	noPass := redis.NewClient(&redis.Options{Addr: r.Addr, TLSConfig: r.TLSConfig(), MaxRetries: -1})
	defer noPass.Close()
	if err := noPass.Get(ctx, "k").Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("GET without password: got %v, want NOAUTH", err)
	}

	untrusted := redis.NewClient(&redis.Options{Addr: r.Addr, Password: r.Password,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12}, MaxRetries: -1})
	defer untrusted.Close()
	if err := untrusted.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("PING trusting system roots only: got %v, want a certificate error", err)
	}

	plain := redis.NewClient(&redis.Options{Addr: r.Addr, Password: r.Password, MaxRetries: -1,
		ReadTimeout: time.Second})
	defer plain.Close()
	if err := plain.Ping(ctx).Err(); err == nil {
		t.Fatal("PING without TLS succeeded; want the TLS-only port to refuse it")
	}

	r.Stop()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING after Stop succeeded")
	}
	// Clients configured for it reach it again once it is back: same address, password, CA.
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
}

// Memorystore maintenance restarts a BASIC instance; with RDB snapshots (or, in the lab, an AOF)
// it comes back with its data. Restart kills without a last save, the worst case: RDB keeps
// what its last snapshot had, AOF every acknowledged write, off nothing.
func TestRedisRestartKeepsDataOnlyWithPersistence(t *testing.T) {
	for _, tc := range []struct {
		p    localdeps.Persistence
		kept bool
	}{{localdeps.PersistOff, false}, {localdeps.PersistRDB, true}, {localdeps.PersistAOF, true}} {
		t.Run(string(tc.p), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			r, err := localdeps.StartRedisWith(ctx, t.TempDir(), tc.p)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Stop()
			c := r.Client()
			defer c.Close()
			if err := c.Set(ctx, "session:k", "v", time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
			if tc.p == localdeps.PersistRDB {
				waitSnapshot(t, c)
			}
			r.Stop()
			if err := r.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			v, err := c.Get(ctx, "session:k").Result()
			if kept := err == nil && v == "v"; kept != tc.kept {
				t.Fatalf("after restart: %q %v; want kept=%v", v, err, tc.kept)
			}
			if ttl := c.TTL(ctx, "session:k").Val(); tc.kept && (ttl <= 0 || ttl > time.Hour) {
				t.Fatalf("expiry after restart: %v, want kept", ttl)
			}
		})
	}
	if _, err := localdeps.StartRedisWith(context.Background(), t.TempDir(), "always"); err == nil {
		t.Fatal("unknown persistence accepted")
	}
}

// waitSnapshot waits until the RDB snapshot has every change (rdb_changes_since_last_save:0).
func waitSnapshot(t *testing.T, c *redis.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		info, err := c.Info(ctx, "persistence").Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(info, "rdb_changes_since_last_save:0\r\n") {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no snapshot: %s", info)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestMissingEmulatorJarFailsNamingHowToInstallIt(t *testing.T) {
	missing := t.TempDir() + "/no-such-emulator.jar"
	t.Setenv("FIRESTORE_EMULATOR_JAR", missing)
	f, err := localdeps.StartFirestore(context.Background())
	if err == nil {
		f.Stop()
		t.Fatal("StartFirestore with a missing jar succeeded")
	}
	for _, want := range []string{missing, "FIRESTORE_EMULATOR_JAR", "apt-get install"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
