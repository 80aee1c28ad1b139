package lab

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// fakeRegion answers every request with its status (200 unless set) and is as healthy as told.
type fakeRegion struct {
	status  atomic.Int32
	healthy atomic.Bool
}

func (f *fakeRegion) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s := f.status.Load(); s != 0 {
		writeError(w, int(s), "fake failure")
		return
	}
	w.WriteHeader(http.StatusOK)
}

func balance(t *testing.T, regions ...*fakeRegion) *Balancer {
	var br []BalancedRegion
	for k, f := range regions {
		f.healthy.Store(true)
		br = append(br, BalancedRegion{Name: regionName(k), Handler: f, Healthy: func(context.Context) bool { return f.healthy.Load() }})
	}
	b := NewBalancer(br)
	t.Cleanup(b.Close)
	return b
}

func regionOf(t *testing.T, b *Balancer, nearest string) (string, int) {
	t.Helper()
	req := httptest.NewRequest("GET", "/api/me", nil)
	req.Header.Set(NearestRegionHeader, nearest)
	rec := httptest.NewRecorder()
	b.ServeHTTP(rec, req)
	return rec.Header().Get(RegionHeader), rec.Code
}

func TestBalancerSendsClientsToTheirNearestRegionInRotation(t *testing.T) {
	t.Parallel()
	r1, r2 := &fakeRegion{}, &fakeRegion{}
	b := balance(t, r1, r2)
	for _, near := range []string{"r1", "r2"} {
		if got, _ := regionOf(t, b, near); got != near {
			t.Fatalf("client nearest to %s went to %s", near, got)
		}
	}
	if got, _ := regionOf(t, b, ""); got != "r1" {
		t.Fatalf("client without a location went to %s, want the first region", got)
	}
}

// Three 503s in a row eject a region, like outlier detection's consecutive gateway errors;
// its clients go to the next region, and it comes back once healthy and ejectionTime is over.
func TestBalancerEjectsAFailingRegionAndTakesItBackWhenHealthy(t *testing.T) {
	t.Parallel()
	r1, r2 := &fakeRegion{}, &fakeRegion{}
	b := balance(t, r1, r2)
	r1.status.Store(http.StatusServiceUnavailable)
	for range consecutiveGatewayErrors {
		if got, code := regionOf(t, b, "r1"); got != "r1" || code != 503 {
			t.Fatalf("before ejection: %s %d", got, code)
		}
	}
	if got, code := regionOf(t, b, "r1"); got != "r2" || code != 200 {
		t.Fatalf("after %d 503s: %s %d, want r2 200", consecutiveGatewayErrors, got, code)
	}
	r1.status.Store(0)
	time.Sleep(ejectionTime + 2*probeInterval)
	if got, _ := regionOf(t, b, "r1"); got != "r1" {
		t.Fatalf("healthy again after the ejection time, r1's client still goes to %s", got)
	}
	// An unhealthy probe ejects too, without any failed request.
	r1.healthy.Store(false)
	time.Sleep((probeFailures + 1) * probeInterval)
	if got, _ := regionOf(t, b, "r1"); got != "r2" {
		t.Fatalf("with r1 unhealthy its client goes to %s", got)
	}
	if n := b.Ejections()["r1"]; n != 2 {
		t.Fatalf("r1 ejected %d times, want 2", n)
	}
}

// At most all regions but one are out of rotation: the last keeps serving, errors and all.
func TestBalancerNeverEjectsTheLastRegion(t *testing.T) {
	t.Parallel()
	r1, r2 := &fakeRegion{}, &fakeRegion{}
	b := balance(t, r1, r2)
	r1.status.Store(http.StatusBadGateway)
	r2.status.Store(http.StatusBadGateway)
	for range 2 * consecutiveGatewayErrors {
		regionOf(t, b, "r1")
		regionOf(t, b, "r2")
	}
	if in := b.InRotation(); len(in) != 1 {
		t.Fatalf("in rotation: %v, want one region", in)
	}
}
