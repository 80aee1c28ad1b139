package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsageErrorsExitTwo(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{},
		{"https://a", "https://b"},
		{"--requests", "1", "https://example.test"},
		{"--ca", filepath.Join(t.TempDir(), "missing.pem"), "https://example.test"},
		{"--ca", notPEM, "https://example.test"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 {
			t.Errorf("run(%q) = %d, want 2 (stderr %q)", args, code, errOut.String())
		}
	}
}

func TestPlainHTTPServiceFailsAndExitsOne(t *testing.T) {
	// A real HTTP server that answers everything with 200 and no GAESA: no redirect, no TLS,
	// no affinity.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Instance-Id", "only")
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"--timeout", "5s", srv.URL}, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, out.String())
	}
	for _, want := range []string{"FAIL  HTTP redirects to HTTPS", "FAIL  certificate is valid", "FAIL  responses carry GAESA",
		// one instance answers everything, but without GAESA that is not affinity
		"FAIL  requests with GAESA stay on one instance"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
