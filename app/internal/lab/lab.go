package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/localdeps"
)

// Config is one lab run; start from Defaults.
type Config struct {
	Mode             Mode
	Instances        int
	Clients          int
	Queries          int           // distinct report queries per client
	Duration         time.Duration // how long the workload runs
	ThinkTime        time.Duration
	CartEvery        int
	SlowBackendDelay time.Duration // the app's cost of a cache miss
	// CacheSize is each instance's cache capacity in entries. 0 means the fair share of the
	// working set, Clients*Queries/Instances: enough when affinity partitions the clients,
	// a third of what is needed (with 3 instances) when every instance sees every key.
	CacheSize   int
	Concurrency int  // per instance, like Cloud Run's max concurrency
	Kill        bool // SIGTERM one instance half way through
	TLS         bool // serve the front over HTTPS with a generated CA, plus an HTTP redirect
}

// Defaults are the lab's settings when a flag is not given.
var Defaults = Config{
	Mode: AffinityOn, Instances: 3, Clients: 12, Queries: 5, Duration: 10 * time.Second,
	ThinkTime: 10 * time.Millisecond, CartEvery: 10, SlowBackendDelay: 50 * time.Millisecond,
	Concurrency: 80,
}

// Validate names the first setting out of range.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.Instances >= 1 && c.Instances <= 16, "instances must be 1..16, got %d", c.Instances)
	check(!c.Kill || c.Instances >= 2, "kill needs at least 2 instances, got %d", c.Instances)
	check(c.Clients >= 1 && c.Clients <= 500, "clients must be 1..500, got %d", c.Clients)
	check(c.Queries >= 1 && c.Queries <= 1000, "queries must be 1..1000, got %d", c.Queries)
	check(c.Duration > 0 && c.Duration <= 10*time.Minute, "duration must be in (0, 10m], got %s", c.Duration)
	check(c.ThinkTime >= 0 && c.ThinkTime <= 10*time.Second, "think-time must be in [0, 10s], got %s", c.ThinkTime)
	check(c.CartEvery >= 1, "cart-every must be >= 1, got %d", c.CartEvery)
	check(c.SlowBackendDelay >= 0 && c.SlowBackendDelay <= 10*time.Second, "slow-backend-delay must be in [0, 10s], got %s", c.SlowBackendDelay)
	check(c.CacheSize >= 0, "cache-size must be >= 0 (0: fair share of the working set), got %d", c.CacheSize)
	check(c.Concurrency >= 1 && c.Concurrency <= 1000, "concurrency must be 1..1000, got %d", c.Concurrency)
	check(c.Mode >= AffinityOn && c.Mode <= AffinityIgnored, "mode must be affinity, no-affinity or broken-affinity, got %v", c.Mode)
	return errors.Join(errs...)
}

func (c Config) cacheSize() int {
	if c.CacheSize > 0 {
		return c.CacheSize
	}
	return max(1, (c.Clients*c.Queries+c.Instances-1)/c.Instances)
}

// Env is what the runs of one lab share: a Memorystore-like Redis, the Firestore emulator and
// the app binary, built once.
type Env struct {
	Redis     *localdeps.Redis
	Firestore *localdeps.Firestore
	Bin       string
	dir       string
}

// firestoreDatabase is the named database the lab's instances use in the emulator.
const firestoreDatabase = "affinity-lab"

// StartEnv builds the app and starts Redis and the Firestore emulator, in parallel.
func StartEnv(ctx context.Context) (*Env, error) {
	dir, err := os.MkdirTemp("", "affinity-lab-")
	if err != nil {
		return nil, err
	}
	e := &Env{dir: dir}
	var wg sync.WaitGroup
	var buildErr, redisErr, fsErr error
	wg.Add(3)
	go func() { defer wg.Done(); e.Bin, buildErr = BuildApp(ctx, dir) }()
	go func() { defer wg.Done(); e.Redis, redisErr = localdeps.StartRedis(ctx, dir) }()
	go func() { defer wg.Done(); e.Firestore, fsErr = localdeps.StartFirestore(ctx) }()
	wg.Wait()
	if err := errors.Join(buildErr, redisErr, fsErr); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Close stops Redis and the emulator and removes the build and log directory.
func (e *Env) Close() {
	if e.Redis != nil {
		e.Redis.Stop()
	}
	if e.Firestore != nil {
		e.Firestore.Stop()
	}
	_ = os.RemoveAll(e.dir)
}

// Lab is N running app instances behind a front proxy.
type Lab struct {
	Config    Config
	Router    *Router
	Front     *Front
	Instances []*Instance
	watchers  sync.WaitGroup
	stop      chan struct{}
	closeOnce sync.Once
}

// StartLab starts cfg.Instances app processes and the front, and returns once all are ready.
func (e *Env) StartLab(ctx context.Context, cfg Config) (*Lab, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logDir, err := os.MkdirTemp(e.dir, "logs-")
	if err != nil {
		return nil, err
	}
	backing := Backing{
		RedisAddr: e.Redis.Addr, RedisPassword: e.Redis.Password, RedisCAPEM: e.Redis.CAPEM,
		Project: e.Firestore.Project, Database: firestoreDatabase, EmulatorHost: e.Firestore.Host,
		SlowBackendDelay: cfg.SlowBackendDelay, CacheSize: cfg.cacheSize(),
	}
	l := &Lab{Config: cfg, Router: NewRouter(cfg.Mode, cfg.Concurrency), stop: make(chan struct{}),
		Instances: make([]*Instance, cfg.Instances)}
	errs := make([]error, cfg.Instances)
	var wg sync.WaitGroup
	for k := range cfg.Instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.Instances[k], errs[k] = StartInstance(ctx, e.Bin, fmt.Sprintf("i-%d", k), backing, logDir)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		l.Close()
		return nil, err
	}
	for _, inst := range l.Instances {
		l.Router.Add(inst.ID, inst.URL)
		l.watchers.Add(1)
		go func() { // an instance that exits, for whatever reason, leaves the routing
			defer l.watchers.Done()
			select {
			case <-inst.Done():
				l.Router.Remove(inst.ID)
			case <-l.stop:
			}
		}()
	}
	l.Front, err = ServeFront(l.Router, cfg.TLS)
	if err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Terminate takes an instance out of routing and stops it the way Cloud Run does: SIGTERM,
// then SIGKILL after 10 seconds. It reports whether the instance stopped within the grace.
func (l *Lab) Terminate(id string) bool {
	for _, inst := range l.Instances {
		if inst != nil && inst.ID == id {
			l.Router.Remove(id)
			// Requests routed here just before the removal are still on their way: let them
			// arrive, and the instance read them, before the SIGTERM.
			if l.Router.WaitSent(id, time.Second) {
				time.Sleep(20 * time.Millisecond)
			}
			return inst.Terminate(10 * time.Second)
		}
	}
	return false
}

// Close stops the front and every instance; later calls do nothing.
func (l *Lab) Close() {
	l.closeOnce.Do(l.close)
}

func (l *Lab) close() {
	if l.Front != nil {
		l.Front.Close()
	}
	close(l.stop)
	var wg sync.WaitGroup
	for _, inst := range l.Instances {
		if inst != nil {
			wg.Add(1)
			go func() { defer wg.Done(); inst.Terminate(10 * time.Second) }()
		}
	}
	wg.Wait()
	l.watchers.Wait()
	l.Router.Close()
}

// Run starts a lab, drives the workload through it, and stops it. Once every instance has
// stopped it adds up what their instruments counted, to set beside what the clients saw.
func (e *Env) Run(ctx context.Context, cfg Config) (Result, error) {
	l, err := e.StartLab(ctx, cfg)
	if err != nil {
		return Result{}, err
	}
	defer l.Close()
	w := Workload{
		BaseURL: l.Front.URL, RootCAs: l.Front.RootCAs, Clients: cfg.Clients, Queries: cfg.Queries,
		Duration: cfg.Duration, ThinkTime: cfg.ThinkTime, CartEvery: cfg.CartEvery, RunID: runID(),
	}
	var midway func()
	victim := ""
	if cfg.Kill {
		victim = l.Instances[0].ID
		midway = func() { l.Terminate(victim) }
	}
	res, err := w.Run(ctx, midway)
	if err != nil {
		return Result{}, err
	}
	res.Mode, res.Instances, res.Killed = cfg.Mode.String(), cfg.Instances, victim
	l.Close() // each instance flushes its totals as it stops
	for _, inst := range l.Instances {
		f, ok, err := inst.Figures()
		if err != nil {
			return Result{}, fmt.Errorf("instruments of %s: %w", inst.ID, err)
		}
		if ok {
			res.Instruments = res.Instruments.Add(f)
			res.InstrumentsFrom++
		}
	}
	return res, nil
}

func runID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "lab" + hex.EncodeToString(b)
}
