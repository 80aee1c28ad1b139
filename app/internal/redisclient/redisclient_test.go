package redisclient_test

import (
	"context"
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
	r := testenv.Redis(t)
	if err := check(t, redisclient.Options{Addr: r.Addr, Password: r.Password, CAPEM: r.CAPEM}); err != nil {
		t.Fatal(err)
	}
}

func TestRedisFailuresNameTheVariableToFix(t *testing.T) {
	r := testenv.Redis(t)
	otherCA := startOtherCA(t)
	for _, tc := range []struct {
		name string
		o    redisclient.Options
		want string
	}{
		{"wrong password", redisclient.Options{Addr: r.Addr, Password: "nope", CAPEM: r.CAPEM}, "REDIS_PASSWORD"},
		{"no password", redisclient.Options{Addr: r.Addr, CAPEM: r.CAPEM}, "REDIS_PASSWORD"},
		{"missing CA", redisclient.Options{Addr: r.Addr, Password: r.Password}, "REDIS_TLS_CA"},
		{"other CA", redisclient.Options{Addr: r.Addr, Password: r.Password, CAPEM: otherCA}, "REDIS_TLS_CA"},
		{"not PEM", redisclient.Options{Addr: r.Addr, Password: r.Password, CAPEM: "garbage"}, "REDIS_TLS_CA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := check(t, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error naming %s", err, tc.want)
			}
		})
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
