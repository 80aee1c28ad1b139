package main

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/telemetry"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/testenv"
)

// withReader lets a test read an instance's instruments.
func withReader(r sdkmetric.Reader) func(*telemetry.Options) {
	return func(o *telemetry.Options) { o.Readers = append(o.Readers, r) }
}

func collectMetrics(t *testing.T, r *sdkmetric.ManualReader) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

func metricByName(rm metricdata.ResourceMetrics, name string) (metricdata.Metrics, bool) {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

// histogramCounts maps the values of attribute key to how many recordings a histogram holds.
func histogramCounts(t *testing.T, rm metricdata.ResourceMetrics, name, key string) map[string]uint64 {
	t.Helper()
	got := map[string]uint64{}
	m, ok := metricByName(rm, name)
	if !ok {
		return got
	}
	for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
		v, _ := dp.Attributes.Value(attribute.Key(key))
		got[v.String()] += dp.Count
	}
	return got
}

func openSockets(t *testing.T, r *sdkmetric.ManualReader) int64 {
	t.Helper()
	m, ok := metricByName(collectMetrics(t, r), telemetry.WebSocketOpen)
	if !ok {
		return 0
	}
	var n int64
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		n += dp.Value
	}
	return n
}

// Two instances on one Redis and one Firestore database: each instance's instruments count
// exactly the cache hits, affinity moves and socket reconnects that one user's requests caused,
// and together they export exactly the metrics instruments.json lists.
func TestInstrumentsCountExactlyWhatAWorkloadAcrossTwoInstancesDid(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	f := testenv.SharedFirestore(t)
	readerA, readerB := sdkmetric.NewManualReader(), sdkmetric.NewManualReader()
	a := startInstance(t, sharedConfig(t, r, f, "i-a"), withReader(readerA))
	b := startInstance(t, sharedConfig(t, r, f, "i-b"), withReader(readerB))

	alice := newBrowser(t)
	alice.mustDo("POST", a.URL+"/api/login", `{"user":"alice"}`, nil) // the session's first request
	for _, want := range []string{"miss", "hit"} {
		if got := alice.mustDo("GET", a.URL+"/api/report?q=sales", "", nil).Header.Get("X-Cache"); got != want {
			t.Fatalf("report on A: X-Cache %q, want %q", got, want)
		}
	}
	// Affinity breaks: the same session on B, whose cache has never seen the report.
	alice.mustDo("GET", b.URL+"/api/report?q=sales", "", nil)
	alice.mustDo("GET", b.URL+"/api/me", "", nil)
	alice.mustDo("POST", b.URL+"/api/cart/items", `{"sku":"apple","qty":1}`, nil)
	// A socket on A, then the page's reconnect lands on B.
	wsA := alice.dialWSAfter(a, "")
	if m, err := readWS(t, wsA, 5*time.Second); err != nil || m.Instance != "i-a" {
		t.Fatalf("hello on A: %+v %v", m, err)
	}
	wsB := alice.dialWSAfter(b, "i-a")
	if m, err := readWS(t, wsB, 5*time.Second); err != nil || m.Instance != "i-b" {
		t.Fatalf("hello on B: %+v %v", m, err)
	}
	if nA, nB := openSockets(t, readerA), openSockets(t, readerB); nA != 1 || nB != 1 {
		t.Errorf("open sockets A %d, B %d; want 1 each", nA, nB)
	}
	wsA.CloseNow()
	wsB.CloseNow()
	for deadline := time.Now().Add(5 * time.Second); openSockets(t, readerA)+openSockets(t, readerB) != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("websocket.open still A %d, B %d after the sockets closed", openSockets(t, readerA), openSockets(t, readerB))
		}
		time.Sleep(10 * time.Millisecond)
	}

	rmA, rmB := collectMetrics(t, readerA), collectMetrics(t, readerB)
	// A: two reports that stayed (the login recorded A), one miss then one hit, one new socket.
	if got, want := telemetry.FiguresOf(rmA), (telemetry.Figures{CacheHits: 1, CacheMisses: 1, Held: 2, SocketsNone: 1}); got != want {
		t.Errorf("A counted %+v, want %+v", got, want)
	}
	// B: the move, then two requests that stayed there; a miss; a socket that moved from A.
	if got, want := telemetry.FiguresOf(rmB), (telemetry.Figures{CacheMisses: 1, Moved: 1, Held: 2, SocketsOther: 1}); got != want {
		t.Errorf("B counted %+v, want %+v", got, want)
	}
	// Session store: a find per request that carried the cookie (sockets too), a commit for the
	// login on A and for the move to B, none for the requests that stayed.
	if got, want := histogramCounts(t, rmA, telemetry.SessionStoreDuration, "operation"), map[string]uint64{"find": 3, "commit": 1}; !maps.Equal(got, want) {
		t.Errorf("A's session store calls %v, want %v", got, want)
	}
	if got, want := histogramCounts(t, rmB, telemetry.SessionStoreDuration, "operation"), map[string]uint64{"find": 4, "commit": 1}; !maps.Equal(got, want) {
		t.Errorf("B's session store calls %v, want %v", got, want)
	}
	if got, want := histogramCounts(t, rmB, telemetry.FirestoreDuration, "operation"), map[string]uint64{"add": 1}; !maps.Equal(got, want) {
		t.Errorf("B's Firestore calls %v, want %v", got, want)
	}
	// Request durations by route (besides the start-up probes the harness polled); the socket
	// upgrades are not requests here.
	routes := func(rm metricdata.ResourceMetrics) map[string]uint64 {
		got := histogramCounts(t, rm, telemetry.HTTPServerDuration, "http.route")
		delete(got, "/startupz")
		return got
	}
	if got, want := routes(rmA), map[string]uint64{"/api/login": 1, "/api/report": 2}; !maps.Equal(got, want) {
		t.Errorf("A's request durations by route %v, want %v", got, want)
	}
	if got, want := routes(rmB), map[string]uint64{"/api/report": 1, "/api/me": 1, "/api/cart/items": 1}; !maps.Equal(got, want) {
		t.Errorf("B's request durations by route %v, want %v", got, want)
	}

	// The list the dashboards are built on is exactly what the instances exported.
	exported := map[string]bool{}
	for _, rm := range []metricdata.ResourceMetrics{rmA, rmB} {
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				exported[telemetry.MonitoringType(m.Name)] = true
			}
		}
	}
	data, err := os.ReadFile("internal/telemetry/instruments.json")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	if err := json.Unmarshal(data, &listed); err != nil {
		t.Fatalf("instruments.json: %v", err)
	}
	slices.Sort(listed)
	if got := slices.Sorted(maps.Keys(exported)); !slices.Equal(got, listed) {
		t.Errorf("instances exported %v\ninstruments.json lists %v", got, listed)
	}
}

// A request that Cloud Run traced (X-Cloud-Trace-Context ";o=1") is one trace in Cloud Trace:
// the app's server span, its Redis command and its Firestore transaction all carry the
// header's trace id, the one its log lines carry (logging reads the same header).
func TestRedisAndFirestoreSpansJoinTheRequestsTrace(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	f := testenv.SharedFirestore(t)
	spans := keptSpans{tracetest.NewInMemoryExporter()}
	cfg := sharedConfig(t, r, f, "i-trace")
	cfg.TraceRatio = 0.0001 // the header decides
	in := startInstance(t, cfg, func(o *telemetry.Options) { o.SpanExporter = spans })
	alice := newBrowser(t)
	alice.mustDo("POST", in.URL+"/api/login", `{"user":"alice"}`, nil)

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("POST", in.URL+"/api/cart/items", strings.NewReader(`{"sku":"apple","qty":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Cloud-Trace-Context", traceID+"/12345;o=1")
	resp, err := alice.http.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("add to cart: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := in.stop(t); err != nil { // flushes the spans
		t.Fatal(err)
	}
	var names []string
	for _, s := range spans.GetSpans() {
		if s.SpanContext.TraceID().String() == traceID {
			names = append(names, s.Name)
		}
	}
	for _, want := range []string{"POST /api/cart/items", "redis get", "cloud.google.com/go/firestore.Client.RunTransaction"} {
		if !slices.Contains(names, want) {
			t.Errorf("no %q span in trace %s; its spans: %q", want, traceID, names)
		}
	}
}

// keptSpans is an in-memory exporter whose spans outlive the shutdown that flushes them.
type keptSpans struct{ *tracetest.InMemoryExporter }

func (keptSpans) Shutdown(context.Context) error { return nil }
