package verify_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/lab"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/verify"
)

// The verifier is tested against the affinity lab: the real app as separate processes on
// Memorystore-like Redis and the Firestore emulator, behind a router that behaves like Cloud
// Run's, served over HTTPS with a generated CA and an HTTP listener that redirects.

var shared struct {
	once sync.Once
	env  *lab.Env
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.env != nil {
		shared.env.Close()
	}
	os.Exit(code)
}

func startLab(t *testing.T, mode lab.Mode, withTLS bool) *lab.Lab {
	t.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		shared.env, shared.err = lab.StartEnv(ctx)
	})
	if shared.err != nil {
		t.Fatalf("start the lab's environment: %v", shared.err)
	}
	cfg := lab.Defaults
	cfg.Mode, cfg.TLS = mode, withTLS
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := shared.env.StartLab(ctx, cfg)
	if err != nil {
		t.Fatalf("start lab: %v", err)
	}
	t.Cleanup(l.Close)
	return l
}

func runChecks(t *testing.T, opts verify.Options) map[string]verify.Check {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	checks := verify.Run(ctx, opts)
	byName := map[string]verify.Check{}
	for _, c := range checks {
		t.Log(c)
		byName[c.Name] = c
	}
	return byName
}

var allChecks = []string{verify.CheckRedirect, verify.CheckCertificate, verify.CheckCookie, verify.CheckSticky,
	verify.CheckWebSocket, verify.CheckSurvives, verify.CheckReady}

func TestVerifierPassesAgainstTheLab(t *testing.T) {
	l := startLab(t, lab.AffinityOn, true)
	checks := runChecks(t, verify.Options{URL: l.Front.URL, HTTPURL: l.Front.HTTPURL, RootCAs: l.Front.RootCAs})
	for _, name := range allChecks {
		c, ok := checks[name]
		if !ok || !c.OK {
			t.Errorf("check %q did not pass: %+v", name, c)
		}
	}
	if !strings.Contains(checks[verify.CheckSurvives].Detail, "read back on") {
		t.Errorf("session and cart were not read back on another instance: %s", checks[verify.CheckSurvives].Detail)
	}

	t.Run("untrusted certificate fails", func(t *testing.T) {
		checks := runChecks(t, verify.Options{URL: l.Front.URL, HTTPURL: l.Front.HTTPURL}) // system roots only
		if c := checks[verify.CheckCertificate]; c.OK || !strings.Contains(c.Detail, "certificate") {
			t.Errorf("certificate signed by the lab's own CA passed with system roots: %+v", c)
		}
	})
	t.Run("https on another port needs --http-url", func(t *testing.T) {
		checks := runChecks(t, verify.Options{URL: l.Front.URL, RootCAs: l.Front.RootCAs})
		if c := checks[verify.CheckRedirect]; c.OK || !strings.Contains(c.Detail, "--http-url") {
			t.Errorf("redirect check without --http-url on a non-443 port: %+v", c)
		}
	})
	t.Run("following the http URL to https", func(t *testing.T) {
		checks := runChecks(t, verify.Options{URL: l.Front.HTTPURL, RootCAs: l.Front.RootCAs})
		for _, name := range []string{verify.CheckRedirect, verify.CheckCertificate, verify.CheckSticky} {
			if !checks[name].OK {
				t.Errorf("check %q failed starting from %s: %+v", name, l.Front.HTTPURL, checks[name])
			}
		}
	})
}

func TestVerifierFailsWhenAffinityIsOff(t *testing.T) {
	l := startLab(t, lab.AffinityOff, false) // plain HTTP, no redirect, no GAESA
	checks := runChecks(t, verify.Options{URL: l.Front.URL})
	for _, name := range []string{verify.CheckRedirect, verify.CheckCertificate, verify.CheckCookie, verify.CheckSticky} {
		if checks[name].OK {
			t.Errorf("check %q passed against a plain-HTTP lab without affinity: %+v", name, checks[name])
		}
	}
	if !checks[verify.CheckReady].OK {
		t.Errorf("readiness failed although the instances are up: %+v", checks[verify.CheckReady])
	}
}

func TestVerifierFailsWhenGAESAIsIssuedButIgnored(t *testing.T) {
	l := startLab(t, lab.AffinityIgnored, true)
	checks := runChecks(t, verify.Options{URL: l.Front.URL, HTTPURL: l.Front.HTTPURL, RootCAs: l.Front.RootCAs})
	if !checks[verify.CheckCookie].OK {
		t.Errorf("GAESA check failed although the router issues it: %+v", checks[verify.CheckCookie])
	}
	if checks[verify.CheckSticky].OK {
		t.Errorf("affinity check passed although the router ignores GAESA: %+v", checks[verify.CheckSticky])
	}
	if !verify.Failed(mapValues(checks)) {
		t.Errorf("Failed reports no failure")
	}
}

func mapValues(m map[string]verify.Check) []verify.Check {
	var s []verify.Check
	for _, c := range m {
		s = append(s, c)
	}
	return s
}

// A 200 from something that is not the app (Google's front end answering a reserved path, say)
// does not pass: only the app sets X-Instance-Id.
func TestReadyCheckNeedsTheAppsAnswer(t *testing.T) {
	t.Parallel()
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	defer front.Close()
	checks := runChecks(t, verify.Options{URL: front.URL, Timeout: 5 * time.Second})
	if c := checks[verify.CheckReady]; c.OK || !strings.Contains(c.Detail, "X-Instance-Id") {
		t.Fatalf("ready check against a server that is not the app: %+v", c)
	}
}
