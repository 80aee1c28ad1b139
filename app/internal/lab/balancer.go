package lab

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// Headers between the lab's clients and its balancer. A client's location decides its nearest
// region for Google's front ends; the lab's clients say it instead.
const (
	NearestRegionHeader = "X-Lab-Nearest-Region" // request: the client's nearest region
	RegionHeader        = "X-Lab-Region"         // response: the region that answered
)

// Outlier detection as the stack configures it on the backend service, with the times scaled
// down from Google's 30 s base ejection to fit runs of seconds.
const (
	consecutiveGatewayErrors = 3 // 502, 503, 504 in a row eject a region
	consecutiveErrors        = 5 // any 5xx in a row eject a region
	ejectionTime             = 500 * time.Millisecond
	probeInterval            = 250 * time.Millisecond
	probeTimeout             = time.Second // Cloud Run's shortest probe timeout
	probeFailures            = 2           // consecutive failed probes make a region unhealthy
)

// Balancer stands for the global external Application Load Balancer with one serverless NEG
// per region: a request goes to the client's nearest region in rotation, else to the next one
// in the lab's order. A region leaves the rotation, as outlier detection ejects a NEG, after
// consecutive 5xx answers or when, twice in a row, fewer than 60% of its instances answer
// /ready (Cloud Run's service health); it comes back once it is healthy again and has been out
// for ejectionTime.
// At most all regions but one are out. Within a region its Router routes like Cloud Run's.
type Balancer struct {
	regions []*regionState
	stop    chan struct{}
	probes  sync.WaitGroup
	mu      sync.Mutex // guards every regionState's counters and rotation
}

type regionState struct {
	name    string
	handler http.Handler
	healthy func(ctx context.Context) bool
	// guarded by Balancer.mu
	ejected   bool
	ejectedAt time.Time
	gateway   int // consecutive 502/503/504
	errors    int // consecutive 5xx
	ejections int
	failed    int // consecutive failed probes
}

// BalancedRegion is one region behind the balancer: its router and its health.
type BalancedRegion struct {
	Name    string
	Handler http.Handler
	Healthy func(ctx context.Context) bool // nil: always healthy
}

// NewBalancer starts probing the regions' health; Close stops it.
func NewBalancer(regions []BalancedRegion) *Balancer {
	b := &Balancer{stop: make(chan struct{})}
	for _, r := range regions {
		b.regions = append(b.regions, &regionState{name: r.Name, handler: r.Handler, healthy: r.Healthy})
	}
	b.probes.Go(b.probe)
	return b
}

// Close stops the health probes.
func (b *Balancer) Close() {
	close(b.stop)
	b.probes.Wait()
}

// InRotation lists the regions requests may go to, in the lab's order.
func (b *Balancer) InRotation() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inRotationLocked()
}

// inRotationLocked is InRotation with b.mu held.
func (b *Balancer) inRotationLocked() []string {
	var names []string
	for _, r := range b.regions {
		if !r.ejected {
			names = append(names, r.name)
		}
	}
	return names
}

// Ejections is how often a region was taken out of rotation, by region.
func (b *Balancer) Ejections() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]int{}
	for _, r := range b.regions {
		out[r.name] = r.ejections
	}
	return out
}

func (b *Balancer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r := b.pick(req.Header.Get(NearestRegionHeader))
	w.Header().Set(RegionHeader, r.name)
	sw := &statusWriter{ResponseWriter: w}
	r.handler.ServeHTTP(sw, req)
	b.observe(r, sw.status)
}

// pick returns the nearest region in rotation: the named one, else the first in order.
func (b *Balancer) pick(nearest string) *regionState {
	start := 0
	for i, r := range b.regions {
		if r.name == nearest {
			start = i
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.regions {
		if r := b.regions[(start+k)%len(b.regions)]; !r.ejected {
			return r
		}
	}
	return b.regions[start] // unreachable while one region always stays in rotation
}

// observe counts consecutive server errors of a region's answers, as outlier detection does.
// A WebSocket upgrade (status 0 here: the proxy hijacks the connection) counts as success.
func (b *Balancer) observe(r *regionState, status int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
		r.gateway++
		r.errors++
	case status >= 500:
		r.gateway = 0
		r.errors++
	default:
		r.gateway, r.errors = 0, 0
	}
	if r.gateway >= consecutiveGatewayErrors || r.errors >= consecutiveErrors {
		b.ejectLocked(r)
	}
}

// ejectLocked takes r out of rotation unless it is the last region in it; b.mu is held.
func (b *Balancer) ejectLocked(r *regionState) {
	if r.ejected || len(b.inRotationLocked()) <= 1 {
		return
	}
	r.ejected, r.ejectedAt, r.gateway, r.errors = true, time.Now(), 0, 0
	r.ejections++
}

func (b *Balancer) probe() {
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
		var wg sync.WaitGroup
		for _, r := range b.regions {
			if r.healthy == nil {
				continue
			}
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
				ok := r.healthy(ctx)
				cancel()
				b.mu.Lock()
				defer b.mu.Unlock()
				if !ok {
					if r.failed++; r.failed >= probeFailures {
						b.ejectLocked(r)
					}
					return
				}
				r.failed = 0
				if r.ejected && time.Since(r.ejectedAt) >= ejectionTime {
					r.ejected = false
				}
			})
		}
		wg.Wait()
	}
}

// statusWriter records the status a handler answered with. Unwrap lets the reverse proxy
// hijack the connection for WebSocket upgrades.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
