package lab

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/localdeps"
)

// These tests run the real app as separate processes on a Memorystore-like Redis (TLS + AUTH)
// and the official Firestore emulator. Missing components fail them with the install command.

var shared struct {
	once sync.Once
	env  *Env
	err  error
}

func sharedEnv(t *testing.T) *Env {
	t.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		shared.env, shared.err = StartEnv(ctx)
	})
	if shared.err != nil {
		t.Fatalf("start the lab's environment: %v", shared.err)
	}
	return shared.env
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.env != nil {
		shared.env.Close()
	}
	os.Exit(code)
}

// smallRun is a bounded lab run: 3 instances, 12 clients with 5 queries each.
func smallRun(mode Mode) Config {
	cfg := Defaults
	cfg.Mode = mode
	cfg.Duration = 1500 * time.Millisecond
	cfg.SlowBackendDelay = 30 * time.Millisecond
	// Six clients, two per instance: enough requests to judge (runLab wants 100 reports), half
	// the CPU of the default twelve on two shared cores.
	cfg.Clients = 6
	return cfg
}

func runLab(t *testing.T, cfg Config) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := sharedEnv(t).Run(ctx, cfg)
	if err != nil {
		t.Fatalf("%s run: %v", cfg.Mode, err)
	}
	t.Logf("%s: %+v", cfg.Mode, res)
	if res.ReportRequests < 100 {
		t.Fatalf("%s run made only %d report requests: too few to judge", cfg.Mode, res.ReportRequests)
	}
	// The app's own instruments, as production exports them, tell what the clients saw.
	if res.Errors == 0 && !res.InstrumentsAgree() {
		t.Errorf("%s: instruments of %d/%d instances counted %+v, the clients saw %+v",
			cfg.Mode, res.InstrumentsFrom, res.AllInstances(), res.Instruments, res.Observed)
	}
	return res
}

func TestAffinityKeepsCacheHitsNearThePhysicalLimit(t *testing.T) {
	t.Parallel()
	on := runLab(t, smallRun(AffinityOn))
	if on.HitRate < on.PhysicalLimit-0.05 {
		t.Errorf("with affinity the hit rate is %.1f%%, more than 5 points under the physical limit %.1f%%",
			100*on.HitRate, 100*on.PhysicalLimit)
	}
	// Most requests are hits, so the median request costs what a hit costs, not a miss.
	if on.P50Ms > 2*on.HitP50Ms+1 || on.P50Ms >= float64(smallRun(AffinityOn).SlowBackendDelay.Milliseconds()) {
		t.Errorf("with affinity p50 is %.1f ms, want near the cache-hit cost %.1f ms", on.P50Ms, on.HitP50Ms)
	}
	if on.InstanceMoves != 0 {
		t.Errorf("with affinity and no failures %d clients moved instance", on.InstanceMoves)
	}
	if on.WSSameInstance != on.WSConnects {
		t.Errorf("with affinity only %d of %d WebSockets opened on the client's instance", on.WSSameInstance, on.WSConnects)
	}
	if on.Instruments.Moved != 0 || on.Instruments.Held == 0 {
		t.Errorf("instruments with affinity: %d held, %d moved; want held only", on.Instruments.Held, on.Instruments.Moved)
	}
	checkNothingLost(t, on)
}

// Without affinity every instance sees every key but holds only a third of them.
func TestWithoutAffinityTheHitRateIsAboutAThirdOfThePhysicalLimit(t *testing.T) {
	t.Parallel()
	off := runLab(t, smallRun(AffinityOff))
	want := off.PhysicalLimit / 3
	if off.HitRate < want-0.1 || off.HitRate > want+0.1 {
		t.Errorf("without affinity the hit rate is %.1f%%, want near 1/3 of its physical limit %.1f%% (%.1f%%)",
			100*off.HitRate, 100*off.PhysicalLimit, 100*want)
	}
	if off.InstanceMoves == 0 || off.Instruments.Moved == 0 {
		t.Errorf("without affinity: %d client moves, %d moves by the instruments; want some", off.InstanceMoves, off.Instruments.Moved)
	}
	checkNothingLost(t, off)
}

func checkNothingLost(t *testing.T, r Result) {
	t.Helper()
	if r.Errors != 0 || r.LostSessions != 0 || r.LostCartItems != 0 {
		t.Errorf("%s: %d errors, %d lost sessions, %d lost cart items; want none", r.Mode, r.Errors, r.LostSessions, r.LostCartItems)
	}
	if r.WSConnects < r.Clients || r.CartItemsWritten == 0 {
		t.Errorf("%s: %d WebSocket connects for %d clients, %d cart items written", r.Mode, r.WSConnects, r.Clients, r.CartItemsWritten)
	}
}

func TestKilledInstanceMovesClientsAndLosesNothing(t *testing.T) {
	t.Parallel()
	cfg := smallRun(AffinityOn)
	cfg.Kill = true
	res := runLab(t, cfg)
	if res.Killed == "" {
		t.Fatalf("no instance was killed")
	}
	if res.LostSessions != 0 || res.LostCartItems != 0 || res.Errors != 0 {
		t.Errorf("after SIGTERM to %s: %d errors, %d lost sessions, %d lost cart items; want none",
			res.Killed, res.Errors, res.LostSessions, res.LostCartItems)
	}
	// The killed instance had a third of the clients: they move, and their sockets reconnect.
	if res.InstanceMoves < cfg.Clients/cfg.Instances || res.WSReconnects < cfg.Clients/cfg.Instances {
		t.Errorf("after SIGTERM to %s: %d moves, %d WebSocket reconnects; want at least %d each",
			res.Killed, res.InstanceMoves, res.WSReconnects, cfg.Clients/cfg.Instances)
	}
}

// Two regions behind the balancer, the first taken down half way, its instances and its Redis
// with it: its clients move to the other region with their sessions (written through to
// Firestore) and carts, their sockets reconnect there, and requests fail only until the
// balancer has taken the region out of rotation, each with a reason.
func TestKilledRegionMovesItsClientsAndLosesNothing(t *testing.T) {
	t.Parallel()
	cfg := smallRun(AffinityOn)
	cfg.Regions, cfg.Instances, cfg.Clients, cfg.KillRegion = 2, 2, 8, true
	cfg.Duration = 2 * time.Second
	res := runLab(t, cfg)
	if res.LostSessions != 0 || res.LostCartItems != 0 {
		t.Errorf("after %s: %d lost sessions, %d lost cart items; want none", res.Fault, res.LostSessions, res.LostCartItems)
	}
	if res.ErrorsOutsideFault != 0 || res.ErrorsWithoutReason != 0 {
		t.Errorf("after %s: %d errors after the region left the rotation, %d without a reason; want none (%v)",
			res.Fault, res.ErrorsOutsideFault, res.ErrorsWithoutReason, res.ErrorStatuses)
	}
	// Half the clients are nearest to the lost region: each moves, and its socket reconnects.
	if half := cfg.Clients / 2; res.RegionMoves < half || res.WSReconnects < half || res.Ejections < 1 {
		t.Errorf("after %s: %d region moves, %d WebSocket reconnects, %d ejections; want >= %d, >= %d, >= 1",
			res.Fault, res.RegionMoves, res.WSReconnects, res.Ejections, half, half)
	}
	if res.HitRateBefore == 0 || res.HitRateAfter == 0 {
		t.Errorf("hit rate before %.2f, after %.2f: want both measured", res.HitRateBefore, res.HitRateAfter)
	}
}

// Memorystore maintenance restarts Redis. With persistence on no session is lost; requests
// fail only while Redis is down, with 503 and a reason, and the app recovers by itself. The
// run uses AOF: the lab's default, RDB, loses what changed in the 1-2 s before the restart
// (Redis snapshots once more than a second has passed), which in a run this short includes
// the sign-ins; what RDB keeps across a restart is localdeps' test.
func TestRedisRestartFailsRequestsOnlyWhileDownAndLosesNoSession(t *testing.T) {
	t.Parallel()
	cfg := smallRun(AffinityOn)
	cfg.Instances, cfg.Clients = 2, 6
	cfg.RestartRedis, cfg.RedisDowntime, cfg.RedisPersistence = true, 500*time.Millisecond, localdeps.PersistAOF
	cfg.Duration = 2 * time.Second
	res := runLab(t, cfg)
	if res.LostSessions != 0 || res.LostCartItems != 0 {
		t.Errorf("after %s: %d lost sessions, %d lost cart items; want none", res.Fault, res.LostSessions, res.LostCartItems)
	}
	if res.ErrorsOutsideFault != 0 || res.ErrorsWithoutReason != 0 || res.ErrorStatuses[503] != res.Errors {
		t.Errorf("after %s: %d errors outside the outage, %d without a reason, by status %v; want only 503s with a reason while Redis is down",
			res.Fault, res.ErrorsOutsideFault, res.ErrorsWithoutReason, res.ErrorStatuses)
	}
	if res.HitRateAfter == 0 {
		t.Errorf("no cache hit after Redis came back: the app did not recover")
	}
}

func TestConfigValidateNamesTheBadSetting(t *testing.T) {
	cfg := Defaults
	cfg.Instances, cfg.Kill, cfg.Concurrency = 1, true, 0
	err := cfg.Validate()
	if err == nil {
		t.Fatal("accepted 1 instance with kill and concurrency 0")
	}
	for _, want := range []string{"kill needs at least 2 instances", "concurrency must be 1..1000, got 0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if err := Defaults.Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
}
