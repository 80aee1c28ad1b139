package lab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/localdeps"
)

// Region is one region of the lab, as a multi-region stack lays it out: a Memorystore-like
// Redis of its own (TLS, AUTH), app instances on it and on the Firestore emulator every region
// shares (the multi-region database), and a Router in front of them that routes like Cloud
// Run's.
type Region struct {
	Name      string
	Redis     *localdeps.Redis
	Router    *Router
	Instances []*Instance
	watchers  sync.WaitGroup
	stop      chan struct{}
	closeOnce sync.Once
}

// startRegion starts the region's Redis, then its instances, and returns once all are ready.
// Instance ids are idPrefix + "i-<k>".
func (e *Env) startRegion(ctx context.Context, cfg Config, name, idPrefix, logDir string) (*Region, error) {
	dir, err := os.MkdirTemp(e.dir, "redis-"+name+"-")
	if err != nil {
		return nil, err
	}
	g := &Region{Name: name, Router: NewRouter(cfg.Mode, cfg.Concurrency), stop: make(chan struct{}),
		Instances: make([]*Instance, cfg.Instances)}
	g.Redis, err = localdeps.StartRedisWith(ctx, dir, cfg.RedisPersistence)
	if err != nil {
		return nil, fmt.Errorf("region %s: %w", name, err)
	}
	backing := Backing{
		RedisAddr: g.Redis.Addr, RedisPassword: g.Redis.Password, RedisCAPEM: g.Redis.CAPEM,
		Project: e.Firestore.Project, Database: firestoreDatabase, EmulatorHost: e.Firestore.Host,
		SlowBackendDelay: cfg.SlowBackendDelay, CacheSize: cfg.cacheSize(),
		// As the stack does: sessions go through to Firestore once there is more than one region.
		SessionsFirestore: cfg.Regions > 1,
	}
	errs := make([]error, cfg.Instances)
	var wg sync.WaitGroup
	for k := range cfg.Instances {
		wg.Go(func() {
			g.Instances[k], errs[k] = StartInstance(ctx, e.Bin, fmt.Sprintf("%si-%d", idPrefix, k), backing, logDir)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		g.Close()
		return nil, err
	}
	for _, inst := range g.Instances {
		g.Router.Add(inst.ID, inst.URL)
		g.watchers.Go(func() { // an instance that exits, for whatever reason, leaves the routing
			select {
			case <-inst.Done():
				g.Router.Remove(inst.ID)
			case <-g.stop:
			}
		})
	}
	return g, nil
}

// Healthy reports whether at least 60% of the instances Cloud Run still routes to (and at
// least one) answer /ready with 200: Cloud Run's service health, which the load balancer
// fails a region over by.
func (g *Region) Healthy(ctx context.Context) bool {
	alive := map[string]bool{}
	for _, id := range g.Router.Alive() {
		alive[id] = true
	}
	var mu sync.Mutex
	total, ready := 0, 0
	var wg sync.WaitGroup
	for _, inst := range g.Instances {
		if inst == nil || !alive[inst.ID] {
			continue
		}
		total++
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, inst.URL.String()+"/ready", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				mu.Lock()
				ready++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return ready > 0 && 10*ready >= 6*total
}

// Fail takes the whole region down at once, as an outage does: every instance and the Redis
// are killed (SIGKILL), with no time to drain.
func (g *Region) Fail() {
	var wg sync.WaitGroup
	for _, inst := range g.Instances {
		if inst != nil {
			wg.Go(inst.Kill)
		}
	}
	wg.Go(g.Redis.Stop)
	wg.Wait()
}

// RestartRedis stops the region's Redis (SIGKILL, no last snapshot), keeps it down for down,
// and starts it again on the same address with what its persistence kept, as Memorystore
// maintenance restarts a BASIC instance. It returns when Redis answers again.
func (g *Region) RestartRedis(ctx context.Context, down time.Duration) error {
	g.Redis.Stop()
	select {
	case <-time.After(down):
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Redis.Restart(ctx)
}

// Close stops the instances the way Cloud Run does (SIGTERM, SIGKILL after 10 s), then Redis.
func (g *Region) Close() {
	g.closeOnce.Do(func() {
		close(g.stop)
		var wg sync.WaitGroup
		for _, inst := range g.Instances {
			if inst != nil {
				wg.Go(func() { inst.Terminate(10 * time.Second) })
			}
		}
		wg.Wait()
		g.watchers.Wait()
		g.Router.Close()
		if g.Redis != nil {
			g.Redis.Stop()
		}
	})
}
