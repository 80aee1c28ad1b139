package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
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

	// Regions each have Instances instances and a Redis of their own behind one balancer that
	// stands for the global load balancer; all share the emulator, which stands for the
	// multi-region Firestore database. With more than one, sessions go through to Firestore
	// (SESSIONS_FIRESTORE=true), as multi-region stacks do.
	Regions int
	// KillRegion takes the first region down half way through: every instance and its Redis.
	KillRegion bool
	// RestartRedis stops the first region's Redis half way through for RedisDowntime and
	// starts it again, as Memorystore maintenance restarts a BASIC instance.
	RestartRedis     bool
	RedisDowntime    time.Duration
	RedisPersistence localdeps.Persistence // what every region's Redis keeps across a restart
}

// Defaults are the lab's settings when a flag is not given.
var Defaults = Config{
	Mode: AffinityOn, Instances: 3, Clients: 12, Queries: 5, Duration: 10 * time.Second,
	ThinkTime: 10 * time.Millisecond, CartEvery: 10, SlowBackendDelay: 50 * time.Millisecond,
	Concurrency: 80, Regions: 1, RedisDowntime: time.Second,
	// Persistence on, as the stack's default redisSnapshotPeriod (1h) has it, the period
	// scaled down to the lab's seconds.
	RedisPersistence: localdeps.PersistRDB,
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
	check(c.Regions >= 1 && c.Regions <= 5, "regions must be 1..5, got %d", c.Regions)
	check(!c.KillRegion || c.Regions >= 2, "kill-region needs at least 2 regions, got %d", c.Regions)
	faults := 0
	for _, f := range []bool{c.Kill, c.KillRegion, c.RestartRedis} {
		if f {
			faults++
		}
	}
	check(faults <= 1, "kill, kill-region and restart-redis are one fault each: choose one")
	check(c.RedisDowntime > 0 && c.RedisDowntime <= time.Minute, "redis-downtime must be in (0, 1m], got %s", c.RedisDowntime)
	check(c.RedisPersistence.Valid(), "redis-persistence must be off, rdb or aof, got %q", c.RedisPersistence)
	return errors.Join(errs...)
}

func (c Config) cacheSize() int {
	if c.CacheSize > 0 {
		return c.CacheSize
	}
	n := c.Instances * max(1, c.Regions)
	return max(1, (c.Clients*c.Queries+n-1)/n)
}

// Env is what the runs of one lab share: the Firestore emulator and the app binary, built
// once. Each lab starts its regions' Redis servers itself, so that it can take them down.
type Env struct {
	Firestore *localdeps.Firestore
	Bin       string
	dir       string
}

// firestoreDatabase is the named database the lab's instances use in the emulator.
const firestoreDatabase = "affinity-lab"

// StartEnv builds the app and starts the Firestore emulator, in parallel.
func StartEnv(ctx context.Context) (*Env, error) {
	dir, err := os.MkdirTemp("", "affinity-lab-")
	if err != nil {
		return nil, err
	}
	e := &Env{dir: dir}
	var wg sync.WaitGroup
	var buildErr, fsErr error
	wg.Go(func() { e.Bin, buildErr = BuildApp(ctx, dir) })
	wg.Go(func() { e.Firestore, fsErr = localdeps.StartFirestore(ctx) })
	wg.Wait()
	if err := errors.Join(buildErr, fsErr); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Close stops the emulator and removes the build, data and log directory.
func (e *Env) Close() {
	if e.Firestore != nil {
		e.Firestore.Stop()
	}
	_ = os.RemoveAll(e.dir)
}

// Lab is R regions of N running app instances each, behind a front that balances like the
// global load balancer across the regions' routers.
type Lab struct {
	Config    Config
	Regions   []*Region
	Balancer  *Balancer
	Front     *Front
	Instances []*Instance // every region's, in region order
	closeOnce sync.Once
}

// regionName is the lab's name for region k: r1, r2, ...
func regionName(k int) string { return fmt.Sprintf("r%d", k+1) }

// StartLab starts cfg.Regions regions of cfg.Instances app processes, the balancer and the
// front, and returns once all are ready.
func (e *Env) StartLab(ctx context.Context, cfg Config) (*Lab, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logDir, err := os.MkdirTemp(e.dir, "logs-")
	if err != nil {
		return nil, err
	}
	l := &Lab{Config: cfg, Regions: make([]*Region, cfg.Regions)}
	errs := make([]error, cfg.Regions)
	var wg sync.WaitGroup
	for k := range cfg.Regions {
		prefix := "" // one region keeps the ids it always had: i-0, i-1, ...
		if cfg.Regions > 1 {
			prefix = regionName(k) + "-"
		}
		wg.Go(func() { l.Regions[k], errs[k] = e.startRegion(ctx, cfg, regionName(k), prefix, logDir) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		l.Close()
		return nil, err
	}
	var balanced []BalancedRegion
	for _, g := range l.Regions {
		l.Instances = append(l.Instances, g.Instances...)
		br := BalancedRegion{Name: g.Name, Handler: g.Router}
		if cfg.Regions > 1 { // one region is never taken out of rotation: no need to probe it
			br.Healthy = g.Healthy
		}
		balanced = append(balanced, br)
	}
	l.Balancer = NewBalancer(balanced)
	l.Front, err = ServeFront(l.Balancer, cfg.TLS)
	if err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Terminate takes an instance out of routing and stops it the way Cloud Run does: SIGTERM,
// then SIGKILL after 10 seconds. It reports whether the instance stopped within the grace.
func (l *Lab) Terminate(id string) bool {
	for _, g := range l.Regions {
		for _, inst := range g.Instances {
			if inst != nil && inst.ID == id {
				g.Router.Remove(id)
				// Requests routed here just before the removal are still on their way: let
				// them arrive, and the instance read them, before the SIGTERM.
				if g.Router.WaitSent(id, time.Second) {
					time.Sleep(20 * time.Millisecond)
				}
				return inst.Terminate(10 * time.Second)
			}
		}
	}
	return false
}

// FailRegion takes region k down at once (every instance and its Redis) and returns when the
// balancer has taken it out of rotation, or after 10 s.
func (l *Lab) FailRegion(k int) {
	g := l.Regions[k]
	g.Fail()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if !slices.Contains(l.Balancer.InRotation(), g.Name) {
			return
		}
	}
}

// Close stops the front, the balancer and every region; later calls do nothing.
func (l *Lab) Close() {
	l.closeOnce.Do(l.close)
}

func (l *Lab) close() {
	if l.Front != nil {
		l.Front.Close()
	}
	if l.Balancer != nil {
		l.Balancer.Close()
	}
	var wg sync.WaitGroup
	for _, g := range l.Regions {
		if g != nil {
			wg.Go(g.Close)
		}
	}
	wg.Wait()
}

// Run starts a lab, drives the workload through it with the configured fault half way, and
// stops it. Once every instance has stopped it adds up what their instruments counted, to set
// beside what the clients saw.
func (e *Env) Run(ctx context.Context, cfg Config) (Result, error) {
	l, err := e.StartLab(ctx, cfg)
	if err != nil {
		return Result{}, err
	}
	defer l.Close()
	var regions []string
	for _, g := range l.Regions {
		regions = append(regions, g.Name)
	}
	w := Workload{
		BaseURL: l.Front.URL, RootCAs: l.Front.RootCAs, Clients: cfg.Clients, Queries: cfg.Queries,
		Duration: cfg.Duration, ThinkTime: cfg.ThinkTime, CartEvery: cfg.CartEvery, RunID: runID(),
		Regions: regions,
	}
	var midway func() error
	victim, fault := "", ""
	switch {
	case cfg.Kill:
		victim = l.Instances[0].ID
		fault = "kill " + victim
		midway = func() error { l.Terminate(victim); return nil }
	case cfg.KillRegion:
		fault = "kill region " + l.Regions[0].Name
		midway = func() error { l.FailRegion(0); return nil }
	case cfg.RestartRedis:
		fault = fmt.Sprintf("restart redis %s (%s)", l.Regions[0].Name, cfg.RedisPersistence)
		midway = func() error { return l.Regions[0].RestartRedis(ctx, cfg.RedisDowntime) }
	}
	res, err := w.Run(ctx, midway)
	if err != nil {
		return Result{}, err
	}
	res.Mode, res.Instances, res.Killed = cfg.Mode.String(), cfg.Instances, victim
	res.Regions, res.Fault = cfg.Regions, fault
	for _, n := range l.Balancer.Ejections() {
		res.Ejections += n
	}
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
