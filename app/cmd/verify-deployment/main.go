// Command verify-deployment checks a deployed stack from the outside: HTTP-to-HTTPS redirect,
// a valid certificate, GAESA session affinity for requests and WebSockets, state that survives
// losing affinity, and readiness. It prints each check and exits 1 if any failed.
//
//	go run ./app/cmd/verify-deployment "$(pulumi stack output url)"
package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/verify"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errChecksFailed is reported when the deployment was reached but failed a check.
var errChecksFailed = errors.New("checks failed")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verify-deployment", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: verify-deployment [flags] URL")
		fs.PrintDefaults()
	}
	caFile := fs.String("ca", "", "PEM file of the only CAs to trust (default: the system's roots)")
	httpURL := fs.String("http-url", "", "where to check the HTTP-to-HTTPS redirect (default: URL with http:// on port 80)")
	requests := fs.Int("requests", 10, "consecutive requests in the affinity check (>= 2)")
	timeout := fs.Duration("timeout", 15*time.Second, "per request")
	jsonOut := fs.Bool("json", false, "print the checks as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	if *requests < 2 || *timeout <= 0 {
		fmt.Fprintf(stderr, "verify-deployment: --requests must be >= 2 (got %d) and --timeout > 0 (got %s)\n", *requests, *timeout)
		return 2
	}
	opts := verify.Options{URL: fs.Arg(0), HTTPURL: *httpURL, Requests: *requests, Timeout: *timeout}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintf(stderr, "verify-deployment: --ca: %v\n", err)
			return 2
		}
		opts.RootCAs = x509.NewCertPool()
		if !opts.RootCAs.AppendCertsFromPEM(pem) {
			fmt.Fprintf(stderr, "verify-deployment: --ca %s holds no PEM certificate\n", *caFile)
			return 2
		}
	}
	checks := verify.Run(ctx, opts)
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(checks)
	} else {
		for _, c := range checks {
			fmt.Fprintln(stdout, c)
		}
	}
	if verify.Failed(checks) {
		fmt.Fprintln(stderr, "verify-deployment:", errChecksFailed)
		return 1
	}
	return 0
}
