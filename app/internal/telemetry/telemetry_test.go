package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2/memstore"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/cart"
)

func start(t *testing.T, o Options) (*Telemetry, *sdkmetric.ManualReader) {
	t.Helper()
	r := sdkmetric.NewManualReader()
	o.Readers = append(o.Readers, r)
	if o.Instance == "" {
		o.Instance = "i-test"
	}
	tel, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(context.Background()) })
	return tel, r
}

func collect(t *testing.T, r *sdkmetric.ManualReader) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

// find returns the metric called name, failing the test when there is none.
func find(t *testing.T, rm metricdata.ResourceMetrics, name string) metricdata.Metrics {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m
			}
		}
	}
	t.Fatalf("no metric %s collected", name)
	return metricdata.Metrics{}
}

// histogramCounts maps the value of attribute key to the number of recordings.
func histogramCounts(t *testing.T, m metricdata.Metrics, key string) map[string]uint64 {
	t.Helper()
	h, ok := m.Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("%s is %T, want a float64 histogram", m.Name, m.Data)
	}
	got := map[string]uint64{}
	for _, dp := range h.DataPoints {
		v, _ := dp.Attributes.Value(attribute.Key(key))
		got[v.String()] += dp.Count
	}
	return got
}

func TestInstrumentsCountWhatTheyAreTold(t *testing.T) {
	t.Parallel()
	tel, r := start(t, Options{})
	ctx := context.Background()
	tel.ReportCache(ctx, false)
	tel.ReportCache(ctx, true)
	tel.ReportCache(ctx, true)
	tel.Affinity(ctx, "", "i-a") // a session's first request: neither
	tel.Affinity(ctx, "i-a", "i-a")
	tel.Affinity(ctx, "i-b", "i-a")
	closeFirst := tel.WebSocketOpened(ctx, "", "i-a")
	tel.WebSocketOpened(ctx, "i-a", "i-a")
	tel.WebSocketOpened(ctx, "i-b", "i-a")
	closeFirst()

	rm := collect(t, r)
	want := Figures{CacheHits: 2, CacheMisses: 1, Held: 1, Moved: 1, SocketsNone: 1, SocketsSame: 1, SocketsOther: 1}
	if got := FiguresOf(rm); got != want {
		t.Errorf("figures %+v, want %+v", got, want)
	}
	open := find(t, rm, WebSocketOpen).Data.(metricdata.Sum[int64])
	if open.IsMonotonic || len(open.DataPoints) != 1 || open.DataPoints[0].Value != 2 {
		t.Errorf("websocket.open %+v, want one up-down point of 2", open)
	}
}

func TestStoreWrappersTimeEveryCallByOperation(t *testing.T) {
	t.Parallel()
	tel, r := start(t, Options{})
	ctx := context.Background()
	s := tel.SessionStore(memstore.New())
	exp := time.Now().Add(time.Hour)
	if err := s.Commit("t1", []byte("x"), exp); err != nil {
		t.Fatal(err)
	}
	if _, found, err := s.Find("t1"); err != nil || !found {
		t.Fatalf("find: %v %v", found, err)
	}
	s.Find("t2")
	s.Delete("t1")
	carts := tel.Carts(cart.NewMemory(time.Hour))
	carts.Add(ctx, "alice", "apple", 1)
	carts.Get(ctx, "alice")
	carts.Remove(ctx, "alice", "apple")
	carts.Get(ctx, "alice")

	rm := collect(t, r)
	if got, want := histogramCounts(t, find(t, rm, SessionStoreDuration), "operation"), map[string]uint64{"find": 2, "commit": 1, "delete": 1}; !mapsEqual(got, want) {
		t.Errorf("session store calls %v, want %v", got, want)
	}
	if got, want := histogramCounts(t, find(t, rm, FirestoreDuration), "operation"), map[string]uint64{"get": 2, "add": 1, "remove": 1}; !mapsEqual(got, want) {
		t.Errorf("cart store calls %v, want %v", got, want)
	}
}

func mapsEqual(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// The request duration carries the ServeMux pattern's path (http.route; the method is
// http.request.method) and the status, and nothing that a client picks (the Host header). A
// traced request's span is named after the route. WebSocket upgrades are left out.
func TestHTTPDurationCarriesRouteAndStatusOnly(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewInMemoryExporter()
	tel, r := start(t, Options{TraceRatio: 1, SpanExporter: spans})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/items/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {})
	h := tel.HTTP(mux)
	for _, path := range []string{"/api/items/1", "/api/items/2", "/ws", "/nowhere"} {
		req := httptest.NewRequest("GET", "http://any-host.example:1234"+path, strings.NewReader("body"))
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	rm := collect(t, r)
	if names, want := metricNames(rm), []string{HTTPServerDuration}; !slices.Equal(names, want) {
		t.Fatalf("metrics %v, want only %v", names, want)
	}
	hist := find(t, rm, HTTPServerDuration).Data.(metricdata.Histogram[float64])
	byRoute := map[string]uint64{}
	for _, dp := range hist.DataPoints {
		route, _ := dp.Attributes.Value("http.route")
		code, _ := dp.Attributes.Value("http.response.status_code")
		method, _ := dp.Attributes.Value("http.request.method")
		byRoute[route.String()+" "+code.String()+" "+method.String()] += dp.Count
		for _, kv := range dp.Attributes.ToSlice() {
			if strings.HasPrefix(string(kv.Key), "server.") {
				t.Errorf("attribute %s=%s comes from the client's Host header", kv.Key, kv.Value.String())
			}
		}
	}
	// The unknown path has no route: the mux matched no pattern.
	if want := map[string]uint64{"/api/items/{id} 418 GET": 2, " 404 GET": 1}; !mapsEqual(byRoute, want) {
		t.Errorf("request durations %v, want %v", byRoute, want)
	}
	tel.sdkTracers.ForceFlush(context.Background()) // a shutdown would empty the exporter
	var names []string
	for _, s := range spans.GetSpans() {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	if want := []string{"GET", "GET /api/items/{id}", "GET /api/items/{id}"}; !slices.Equal(names, want) {
		t.Errorf("spans %q, want %q", names, want)
	}
}

func metricNames(rm metricdata.ResourceMetrics) []string {
	var names []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			names = append(names, m.Name)
		}
	}
	slices.Sort(names)
	return names
}

// instruments.json is what dashboards and alerts are built on: every metric the app can export
// is in it, as its Cloud Monitoring type. (The app's test compares it with a real workload.)
func TestInstrumentsFileNamesEveryInstrument(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("instruments.json")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	if err := json.Unmarshal(data, &listed); err != nil {
		t.Fatalf("instruments.json is not a JSON array of strings: %v", err)
	}
	var want []string
	for _, n := range []string{ReportCacheRequests, AffinityRequests, WebSocketOpen, WebSocketConnects,
		SessionStoreDuration, FirestoreDuration, HTTPServerDuration} {
		want = append(want, MonitoringType(n))
	}
	slices.Sort(listed)
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Errorf("instruments.json lists %v, want %v", listed, want)
	}
}

// Requests the caller traced are traced; of the others (Cloud Run marks most as not traced)
// the ratio is; spans inside a request follow it.
func TestSamplerTracesCallersTracesAndARatioOfTheRest(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewInMemoryExporter()
	tel, _ := start(t, Options{TraceRatio: 1, SpanExporter: spans})
	remote := func(sampled bool) context.Context {
		cfg := trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, Remote: true}
		if sampled {
			cfg.TraceFlags = trace.FlagsSampled
		}
		return trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(cfg))
	}
	tr := tel.sdkTracers.Tracer("test")
	for _, ctx := range []context.Context{remote(false), remote(true), context.Background()} {
		_, span := tr.Start(ctx, "request")
		if !span.SpanContext().IsSampled() {
			t.Errorf("ratio 1: span under %v not sampled", trace.SpanContextFromContext(ctx))
		}
		span.End()
	}
	zero := sampler(0)
	res := zero.ShouldSample(sdktrace.SamplingParameters{ParentContext: remote(true), TraceID: trace.TraceID{1}})
	if res.Decision != sdktrace.RecordAndSample {
		t.Errorf("ratio 0: a request its caller traced was not traced")
	}
	res = zero.ShouldSample(sdktrace.SamplingParameters{ParentContext: remote(false), TraceID: trace.TraceID{1}})
	if res.Decision != sdktrace.Drop {
		t.Errorf("ratio 0: an untraced request was traced")
	}
}

// With OTEL_EXPORTER=stdout the shutdown flush writes one JSON line whose counters the lab reads
// back as the instance's totals.
func TestStdoutExportOnShutdownCarriesTheTotals(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	tel, err := Start(context.Background(), Options{Exporter: ExportStdout, Instance: "i-a", Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tel.ReportCache(ctx, true)
	tel.Affinity(ctx, "i-b", "i-a")
	tel.WebSocketOpened(ctx, "i-b", "i-a")
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	log := `{"severity":"INFO","message":"listening"}` + "\n" + out.String() + `{"severity":"INFO","message":"stopped"}` + "\n"
	f, ok, err := LastStdoutExport(strings.NewReader(log))
	if err != nil || !ok {
		t.Fatalf("no export read back (%v):\n%s", err, log)
	}
	if want := (Figures{CacheHits: 1, Moved: 1, SocketsOther: 1}); f != want {
		t.Errorf("figures %+v, want %+v", f, want)
	}
	if !strings.Contains(out.String(), `"service.instance.id","Value":{"Type":"STRING","Value":"i-a"}`) {
		t.Errorf("export does not name the instance:\n%s", out.String())
	}
}

func TestUnknownExporterIsAnError(t *testing.T) {
	t.Parallel()
	if _, err := Start(context.Background(), Options{Exporter: "otlp"}); err == nil || !strings.Contains(err.Error(), "otlp") {
		t.Fatalf("got %v, want an error naming otlp", err)
	}
}
