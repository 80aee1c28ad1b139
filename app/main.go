// Command app is the bundled web app: sessions in Redis, carts in Firestore, a per-instance
// cache that session affinity makes effective, and WebSockets that reconnect. With neither
// REDIS_ADDR nor FIRESTORE_DATABASE set it runs on in-memory stores: `go run ./app`.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/redis/go-redis/v9"
	// The image has no base layer, so no /etc/ssl/certs: compile Mozilla's roots in. They are
	// used only when the system has none, so local runs keep the system's roots.
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/cache"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/cart"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/config"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/instance"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/liblog"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/live"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/logging"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/redisclient"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/report"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/session"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/telemetry"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/web"
)

// shutdownBudget is how long draining and flushing telemetry may take: Cloud Run kills the
// process 10 s after SIGTERM, and closing clients needs the rest.
const shutdownBudget = 8 * time.Second

// flushReserve is the part of shutdownBudget kept for flushing telemetry after the drain: the
// last metrics of an instance are the ones that show what its shutdown cost.
const flushReserve = time.Second

func main() {
	log := logging.New(os.Stdout, slog.LevelInfo)
	// First: gRPC wants its logger set before it is used, and nothing should print plain text.
	liblog.Route(log)
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		log.Error("cannot start: " + err.Error())
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(cfg.Port))
	if err != nil {
		log.Error("cannot start: listen", "error", err)
		os.Exit(1)
	}
	if err := run(ctx, cfg, ln, log); err != nil {
		log.Error("cannot start: " + err.Error())
		os.Exit(1)
	}
}

// backends are the stores the configuration selects, and how to release them.
type backends struct {
	sessions  *session.Manager
	carts     cart.Store
	redis     *redis.Client // nil on memory stores
	redisOpts redisclient.Options
	fs        *firestore.Client // nil on memory stores
	checks    []web.Check       // readiness: every store
	startup   []web.Check       // what start-up waits for: the stores behind Direct VPC egress
	// hub says how live updates reach sockets in several regions; zero: through Redis alone.
	hub live.Options
}

func (b *backends) close() {
	if b.redis != nil {
		b.redis.Close()
	}
	if b.fs != nil {
		b.fs.Close()
	}
}

func openBackends(ctx context.Context, cfg config.Config, project string, tel *telemetry.Telemetry, log *slog.Logger, onSessionError func(http.ResponseWriter, *http.Request, error)) (*backends, error) {
	b := &backends{}
	sessOpts := session.Options{TTL: cfg.SessionTTL, CookieSecure: cfg.CookieSecure, OnError: onSessionError,
		WrapStore: tel.SessionStore}
	if cfg.InMemory() {
		log.Info("running on in-memory stores: sessions and carts live in this process only (set REDIS_ADDR and FIRESTORE_DATABASE to share them)")
	}
	if cfg.RedisAddr == "" {
		b.sessions = session.NewMemory(sessOpts)
		if !cfg.InMemory() {
			log.Warn("REDIS_ADDR not set: sessions are in memory, so they do not survive a move to another instance")
		}
	} else {
		o := redisclient.Options{Addr: cfg.RedisAddr, Password: cfg.RedisPassword, CAPEM: cfg.RedisTLSCA}
		client, err := redisclient.New(o)
		if err != nil {
			return nil, err
		}
		tel.Redis(client)
		// No PING before serving: Redis may be unreachable for a minute while Direct VPC egress
		// connects. run waits for it in the background and /startupz tells Cloud Run.
		b.redis, b.redisOpts = client, o
		b.sessions = session.NewRedis(client, sessOpts)
		check := web.Check{Name: "redis", Ping: func(ctx context.Context) error {
			return redisclient.Check(ctx, client, o)
		}}
		b.checks = append(b.checks, check)
		b.startup = append(b.startup, check)
	}
	if cfg.FirestoreDatabase == "" {
		b.carts = cart.NewMemory(cart.DefaultTTL)
		if !cfg.InMemory() {
			log.Warn("FIRESTORE_DATABASE not set: carts are in memory, so they are lost with this instance")
		}
	} else {
		client, err := cart.DialFirestore(ctx, project, cfg.FirestoreDatabase, cfg.FirestoreEmulatorHost)
		if err != nil {
			b.close()
			return nil, fmt.Errorf("firestore database %q: %w", cfg.FirestoreDatabase, err)
		}
		store := cart.NewFirestore(client, cart.DefaultTTL)
		// Unlike Redis, Firestore is checked before serving: it is reached over Cloud Run's
		// own egress (PRIVATE_RANGES_ONLY sends only private ranges into the VPC), so it
		// answers from the first second, and a failure is the configuration's.
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = store.Ping(pctx)
		cancel()
		if err != nil {
			client.Close()
			b.close()
			return nil, fmt.Errorf("firestore database %q (FIRESTORE_DATABASE) does not answer: %w", cfg.FirestoreDatabase, err)
		}
		b.fs = client
		b.carts = tel.Carts(store)
		b.checks = append(b.checks, web.Check{Name: "firestore", Ping: store.Ping})
		if cfg.SessionsFirestore { // config.Load made sure Redis is set too
			b.sessions = session.NewFirestore(client, b.redis, sessOpts)
			// This region's Redis reaches neither other regions' cart changes nor their
			// sign-outs: sockets follow the cart in Firestore and re-check their session there.
			b.hub.WatchCart = func(ctx context.Context, user string, changed func(any)) error {
				return store.Watch(ctx, user, func(c cart.Cart) { changed(c) })
			}
			b.hub.SignedIn = b.sessions.SignedIn
			b.hub.Recheck = session.DefaultCacheTTL
			log.Info("sessions in Firestore, cached in this region's Redis; live updates follow Firestore",
				"session_cache_ttl", session.DefaultCacheTTL.String())
		}
	}
	return b, nil
}

// run serves on ln until ctx ends (SIGTERM), then shuts down gracefully: stop accepting,
// close WebSockets with 1001, finish in-flight requests, close clients. It serves before
// Redis answers and waits for it in the background (/startupz says when it does); a Redis
// that refuses the password or is not signed by REDIS_TLS_CA shuts it down with that error.
//
// Tests adjust the telemetry options (readers, span exporters) with tune.
func run(ctx context.Context, cfg config.Config, ln net.Listener, log *slog.Logger, tune ...func(*telemetry.Options)) error {
	defer ln.Close() // Serve closes it too; this covers returns before serving
	id, err := instance.Resolve(ctx, cfg.OnCloudRun, cfg.InstanceID)
	if err != nil {
		log.Warn("instance id fallback", "error", err, "source", id.Source)
	}
	log = log.With("instance", id.ID)
	project := cfg.Project
	if project == "" {
		project = id.Project
	}

	sessionError := func(w http.ResponseWriter, r *http.Request, err error) {
		log.ErrorContext(r.Context(), "session store", "error", err)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":"session store unavailable"}` + "\n"))
	}
	telOpts := telemetry.Options{Exporter: cfg.TelemetryExporter, Project: project, Instance: id.ID,
		OnCloudRun: cfg.OnCloudRun, TraceRatio: cfg.TraceRatio, Stdout: os.Stdout}
	for _, f := range tune {
		f(&telOpts)
	}
	tel, err := telemetry.Start(ctx, telOpts)
	if err != nil {
		return fmt.Errorf("telemetry (OTEL_EXPORTER=%s): %w", cfg.TelemetryExporter, err)
	}
	// Flushed at the end of the shutdown below; this covers the returns before it.
	defer func() { flushTelemetry(tel, time.Now().Add(flushReserve), log) }()

	b, err := openBackends(ctx, cfg, project, tel, log, sessionError)
	if err != nil {
		if ctx.Err() != nil {
			return nil // SIGTERM during start-up
		}
		return err
	}
	defer b.close()

	// The goroutines that wait for Redis and carry live updates stop after the server has.
	hubOpts := b.hub
	hubOpts.Instance, hubOpts.Redis, hubOpts.Log = id.ID, b.redis, log
	hub := live.NewHub(hubOpts)
	bgCtx, stopBg := context.WithCancel(context.Background())
	var bg sync.WaitGroup
	defer func() { stopBg(); bg.Wait() }()
	bg.Go(func() {
		if err := hub.Run(bgCtx); err != nil {
			log.Error("live updates stopped", "error", err)
		}
	})
	misconfigured := make(chan error, 1)
	if b.redis != nil {
		bg.Go(func() {
			if err := redisclient.WaitReady(bgCtx, b.redis, b.redisOpts, log); err != nil && bgCtx.Err() == nil {
				misconfigured <- err
			}
		})
	}
	liveUpdates := web.Check{Name: "live updates", Ping: hub.Check}

	srv := web.New(web.Deps{
		Instance:  id.ID,
		Project:   project,
		Sessions:  b.sessions,
		Carts:     b.carts,
		Reports:   report.Backend{Delay: cfg.SlowBackendDelay},
		Cache:     cache.New[report.Result](cfg.CacheSize, cfg.CacheTTL),
		Hub:       hub,
		Checks:    append(b.checks, liveUpdates),
		Startup:   append(b.startup, liveUpdates),
		Log:       log,
		Telemetry: tel,
	})
	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "instance_source", id.Source,
		"redis", cfg.RedisAddr != "", "firestore", cfg.FirestoreDatabase != "")

	var stopErr error
	select {
	case err := <-serveErr:
		return err
	case stopErr = <-misconfigured: // no wait can fix it: say what to fix, and exit
	case <-ctx.Done():
	}

	log.Info("shutting down: closing WebSockets with 1001 and draining requests")
	srv.Drain()
	start := time.Now()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownBudget-flushReserve)
	defer cancel()
	socketsClosed := make(chan struct{})
	// Shutdown closes the listener first and then runs this: sockets close only once no new
	// connection can land here, so clients reconnect to another instance.
	httpSrv.RegisterOnShutdown(func() {
		hub.CloseAll(shutdownCtx)
		close(socketsClosed)
	})
	err = httpSrv.Shutdown(shutdownCtx)
	select {
	case <-socketsClosed:
	case <-shutdownCtx.Done():
	}
	if err != nil {
		log.Warn("shutdown deadline reached; closing remaining connections", "error", err)
		httpSrv.Close()
	}
	// Every request has been counted: flush with what is left of the budget.
	flushTelemetry(tel, start.Add(shutdownBudget), log)
	log.Info("stopped", "took_ms", time.Since(start).Milliseconds())
	return stopErr
}

// flushTelemetry exports what telemetry holds, by deadline at the latest; after the first call
// it does nothing.
func flushTelemetry(tel *telemetry.Telemetry, deadline time.Time, log *slog.Logger) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		log.Warn("telemetry not flushed", "error", err)
	}
}
