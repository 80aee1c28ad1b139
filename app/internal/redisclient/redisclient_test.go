package redisclient_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/localdeps"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/redisclient"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/testenv"
)

func check(t *testing.T, o redisclient.Options) error {
	t.Helper()
	c, err := redisclient.New(o)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return redisclient.Check(ctx, c, o)
}

func TestRedisWithTLSAndPasswordAnswers(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	if err := check(t, redisclient.Options{Addr: r.Addr, Password: r.Password, CAPEM: r.CAPEM}); err != nil {
		t.Fatal(err)
	}
}

// Failures name the variable to fix; only those no wait can fix count as misconfigured.
func TestRedisFailuresNameTheVariableToFix(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	otherCA := startOtherCA(t)
	closed := testenv.ClosedAddr(t)
	for _, tc := range []struct {
		name          string
		o             redisclient.Options
		want          string
		misconfigured bool
	}{
		{"wrong password", redisclient.Options{Addr: r.Addr, Password: "nope", CAPEM: r.CAPEM}, "REDIS_PASSWORD", true},
		{"no password", redisclient.Options{Addr: r.Addr, CAPEM: r.CAPEM}, "REDIS_PASSWORD", true},
		{"other CA", redisclient.Options{Addr: r.Addr, Password: r.Password, CAPEM: otherCA}, "REDIS_TLS_CA", true},
		{"not PEM", redisclient.Options{Addr: r.Addr, Password: r.Password, CAPEM: "garbage"}, "REDIS_TLS_CA", false},
		// A TLS server asked in plain text drops the connection, as a broken path may.
		{"missing CA", redisclient.Options{Addr: r.Addr, Password: r.Password}, "REDIS_TLS_CA", false},
		{"nothing listening", redisclient.Options{Addr: closed, Password: r.Password, CAPEM: r.CAPEM}, "REDIS_ADDR", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := check(t, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %s", err, tc.want)
			}
			if got := redisclient.Misconfigured(err); got != tc.misconfigured {
				t.Fatalf("Misconfigured(%v) = %v, want %v", err, got, tc.misconfigured)
			}
		})
	}
}

// A Redis that comes up late is waited for; a wrong password is not.
func TestWaitReadyWaitsForRedisButNotForAWrongPassword(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	r.Stop()
	o := redisclient.Options{Addr: r.Addr, Password: r.Password, CAPEM: r.CAPEM}
	c, err := redisclient.New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	logs := &localdeps.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- redisclient.WaitReady(ctx, c, o, log) }()
	for !strings.Contains(logs.String(), "level=WARN") {
		select {
		case err := <-done:
			t.Fatalf("WaitReady returned %v while Redis was down", err)
		case <-ctx.Done():
			t.Fatal("no warning while Redis was down")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("WaitReady after Redis came up: %v", err)
	}
	if !strings.Contains(logs.String(), "redis answers") {
		t.Fatalf("no note when it answered:\n%s", logs.String())
	}

	wrong := redisclient.Options{Addr: r.Addr, Password: "nope", CAPEM: r.CAPEM}
	wc, _ := redisclient.New(wrong)
	defer wc.Close()
	start := time.Now()
	err = redisclient.WaitReady(ctx, wc, wrong, log)
	if err == nil || !strings.Contains(err.Error(), "REDIS_PASSWORD") || time.Since(start) > 5*time.Second {
		t.Fatalf("wrong password: %v after %v, want a prompt error naming REDIS_PASSWORD", err, time.Since(start))
	}
}

// startOtherCA returns the CA of a second, unrelated Redis: a valid PEM that did not sign r's
// certificate.
func startOtherCA(t *testing.T) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	other, err := localdeps.StartRedis(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other.Stop()
	return other.CAPEM
}
