// Command affinity-lab runs the app as several local instances behind a proxy that routes like
// Cloud Run's router (GAESA session affinity), drives simulated users through it with and
// without affinity, and prints what affinity buys and whether anything was lost.
//
//	go run ./app/cmd/affinity-lab [flags]
//
// It needs redis-server, java and the Firestore emulator (see README), and must run inside the
// repository (it builds ./app). Everything listens on 127.0.0.1 and stops when it ends.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/lab"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/localdeps"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var usage usageError
	switch {
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "affinity-lab:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "affinity-lab:", err)
		os.Exit(1)
	}
}

type usageError struct{ error }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	d := lab.Defaults
	fs := flag.NewFlagSet("affinity-lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	instances := fs.Int("instances", d.Instances, "app instances (N)")
	clients := fs.Int("clients", d.Clients, "simulated users (M)")
	queries := fs.Int("queries", d.Queries, "distinct /api/report queries per user")
	duration := fs.Duration("duration", d.Duration, "how long each run's workload lasts")
	think := fs.Duration("think-time", d.ThinkTime, "pause between a user's requests")
	cartEvery := fs.Int("cart-every", d.CartEvery, "every Nth action of a user adds to its cart")
	delay := fs.Duration("slow-backend-delay", d.SlowBackendDelay, "the app's SLOW_BACKEND_DELAY (cost of a cache miss)")
	cacheSize := fs.Int("cache-size", 0, "each instance's CACHE_SIZE; 0: the fair share of the working set, clients*queries/instances")
	concurrency := fs.Int("concurrency", d.Concurrency, "per-instance concurrency limit of the router (WebSockets count)")
	affinity := fs.Bool("affinity", true, "route with GAESA session affinity; when given, only that mode runs (default: both, for comparison)")
	kill := fs.Bool("kill", false, "send SIGTERM to one instance half way through each run")
	jsonOut := fs.Bool("json", false, "print the results as JSON instead of a table")
	useTLS := fs.Bool("tls", false, "serve the front over HTTPS with a generated CA, plus an HTTP listener that redirects")
	serve := fs.Bool("serve", false, "start the lab, print its URLs, and keep it running until interrupted (no workload)")
	regions := fs.Int("regions", d.Regions, "regions, each with --instances instances and its own Redis, behind a balancer like the global load balancer; more than one writes sessions through to Firestore")
	killRegion := fs.Bool("kill-region", false, "take the first region down half way through each run: every instance and its Redis (needs --regions 2 or more)")
	restartRedis := fs.Bool("restart-redis", false, "restart the first region's Redis half way through each run, as Memorystore maintenance does")
	redisDowntime := fs.Duration("redis-downtime", d.RedisDowntime, "how long --restart-redis keeps Redis down")
	persistence := fs.String("redis-persistence", string(d.RedisPersistence), "what each Redis keeps across a restart: rdb (a snapshot every second, like Memorystore's RDB snapshots), aof (every write synced), off")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	affinitySet := false
	fs.Visit(func(f *flag.Flag) { affinitySet = affinitySet || f.Name == "affinity" })

	cfg := lab.Config{
		Instances: *instances, Clients: *clients, Queries: *queries, Duration: *duration,
		ThinkTime: *think, CartEvery: *cartEvery, SlowBackendDelay: *delay, CacheSize: *cacheSize,
		Concurrency: *concurrency, Kill: *kill, TLS: *useTLS, Regions: *regions, KillRegion: *killRegion,
		RestartRedis: *restartRedis, RedisDowntime: *redisDowntime, RedisPersistence: localdeps.Persistence(*persistence),
	}
	modes := []lab.Mode{lab.AffinityOn, lab.AffinityOff}
	if affinitySet || *serve {
		modes = []lab.Mode{lab.AffinityOn}
		if !*affinity {
			modes = []lab.Mode{lab.AffinityOff}
		}
	}
	cfg.Mode = modes[0]
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}

	fmt.Fprintln(stderr, "building the app and starting the Firestore emulator...")
	env, err := lab.StartEnv(ctx)
	if err != nil {
		return err
	}
	defer env.Close()

	if *serve {
		return serveLab(ctx, env, cfg, stdout)
	}

	var results []lab.Result
	for _, mode := range modes {
		cfg.Mode = mode
		fmt.Fprintf(stderr, "running %s: %d region(s) x %d instances, each region with its own Redis (TLS+AUTH), %d clients, %s...\n",
			mode, cfg.Regions, cfg.Instances, cfg.Clients, cfg.Duration)
		res, err := env.Run(ctx, cfg)
		if ctx.Err() != nil {
			return errors.New("interrupted; every process the lab started has been stopped")
		}
		if err != nil {
			return fmt.Errorf("%s run: %w", mode, err)
		}
		results = append(results, res)
	}
	if *jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
	} else if err := lab.WriteTable(stdout, results); err != nil {
		return err
	}
	for _, r := range results {
		if r.Errors == 0 && !r.InstrumentsAgree() {
			fmt.Fprintf(stderr, "warning: %s run: the instances' instruments (%d of %d read) counted %+v, the clients saw %+v\n",
				r.Mode, r.InstrumentsFrom, r.AllInstances(), r.Instruments, r.Observed)
		}
		if r.LostSessions > 0 || r.LostCartItems > 0 {
			return fmt.Errorf("%s run lost %d sessions and %d cart items", r.Mode, r.LostSessions, r.LostCartItems)
		}
	}
	return nil
}

// serveLab keeps a lab up for a browser or verify-deployment until ctx ends.
func serveLab(ctx context.Context, env *lab.Env, cfg lab.Config, stdout io.Writer) error {
	l, err := env.StartLab(ctx, cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Fprintf(stdout, "front: %s (%s, %d region(s) x %d instances)\n", l.Front.URL, cfg.Mode, cfg.Regions, cfg.Instances)
	if l.Front.HTTPURL != "" {
		caFile := filepath.Join(os.TempDir(), fmt.Sprintf("affinity-lab-ca-%d.pem", os.Getpid()))
		if err := os.WriteFile(caFile, l.Front.CAPEM, 0o600); err != nil {
			return err
		}
		defer os.Remove(caFile)
		fmt.Fprintf(stdout, "http redirect: %s\nCA: %s\n", l.Front.HTTPURL, caFile)
		fmt.Fprintf(stdout, "verify: go run ./app/cmd/verify-deployment --ca %s --http-url %s %s\n", caFile, l.Front.HTTPURL, l.Front.URL)
	}
	fmt.Fprintln(stdout, "press Ctrl-C to stop")
	<-ctx.Done()
	return nil
}
