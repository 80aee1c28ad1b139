package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Prefix starts the name of every instrument of the app's own. Cloud Monitoring shows them as
// workload.googleapis.com/<name>; instruments.json lists every name exported, and dashboards
// and alerts use those names.
const Prefix = "cloudrun_affinity."

// The app's own instruments, and the semantic conventions' HTTP server request duration.
const (
	ReportCacheRequests  = Prefix + "report_cache.requests"
	AffinityRequests     = Prefix + "affinity.requests"
	WebSocketOpen        = Prefix + "websocket.open"
	WebSocketConnects    = Prefix + "websocket.connects"
	SessionStoreDuration = Prefix + "session_store.duration"
	FirestoreDuration    = Prefix + "firestore.duration"
	HTTPServerDuration   = "http.server.request.duration"
)

// MonitoringType is the Cloud Monitoring metric type the Google exporter writes a metric as.
func MonitoringType(name string) string { return "workload.googleapis.com/" + name }

const (
	instrumentationScope = "github.com/cloudrun-affinity/cloudrun-affinity/app/internal/telemetry"
	secondsUnit          = "s"
	requestsUnit         = "{request}"
)

// durationBuckets (seconds) cover a Redis round trip on a warm connection (well under a
// millisecond) up to a Firestore transaction retried under contention (seconds).
var durationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Instruments records what shows whether session affinity pays off. Its methods are cheap
// enough for every request: the attribute sets are built once, here.
type Instruments struct {
	reportCache  metric.Int64Counter
	affinity     metric.Int64Counter
	wsOpen       metric.Int64UpDownCounter
	wsConnects   metric.Int64Counter
	sessionStore metric.Float64Histogram
	firestore    metric.Float64Histogram
}

func attrs(kv ...attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(kv...))
}

var (
	cacheHit, cacheMiss                     = attrs(attribute.String("result", "hit")), attrs(attribute.String("result", "miss"))
	affinityHeld, affinityMoved             = attrs(attribute.String("outcome", "held")), attrs(attribute.String("outcome", "moved"))
	previousNone, previousSame, previousOth = attrs(attribute.String("previous", "none")), attrs(attribute.String("previous", "same")), attrs(attribute.String("previous", "other"))
)

func newInstruments(mp metric.MeterProvider) (*Instruments, error) {
	m := mp.Meter(instrumentationScope)
	var in Instruments
	var err, e error
	keep := func(e error) {
		if err == nil {
			err = e
		}
	}
	in.reportCache, e = m.Int64Counter(ReportCacheRequests, metric.WithUnit(requestsUnit),
		metric.WithDescription("GET /api/report answers by whether this instance's cache held the report (result=hit|miss)."))
	keep(e)
	in.affinity, e = m.Int64Counter(AffinityRequests, metric.WithUnit(requestsUnit),
		metric.WithDescription("Signed-in requests by whether the instance that served the session's previous request served this one too (outcome=held) or another did (outcome=moved). A session's first request counts as neither."))
	keep(e)
	in.wsOpen, e = m.Int64UpDownCounter(WebSocketOpen, metric.WithUnit("{socket}"),
		metric.WithDescription("WebSockets open on this instance."))
	keep(e)
	in.wsConnects, e = m.Int64Counter(WebSocketConnects, metric.WithUnit("{socket}"),
		metric.WithDescription("WebSockets accepted, by where the page's previous socket was: previous=none (its first), same (this instance), other (a reconnect that moved instance)."))
	keep(e)
	in.sessionStore, e = m.Float64Histogram(SessionStoreDuration, metric.WithUnit(secondsUnit),
		metric.WithExplicitBucketBoundaries(durationBuckets...),
		metric.WithDescription("Time of one session store call (Redis), by operation=find|commit|delete."))
	keep(e)
	in.firestore, e = m.Float64Histogram(FirestoreDuration, metric.WithUnit(secondsUnit),
		metric.WithExplicitBucketBoundaries(durationBuckets...),
		metric.WithDescription("Time of one cart store call to Firestore (a transaction for add and remove, retries included), by operation=get|add|remove."))
	keep(e)
	return &in, err
}

// ReportCache counts one /api/report answer.
func (in *Instruments) ReportCache(ctx context.Context, hit bool) {
	if hit {
		in.reportCache.Add(ctx, 1, cacheHit)
	} else {
		in.reportCache.Add(ctx, 1, cacheMiss)
	}
}

// Affinity counts a signed-in request served by current whose session's previous request was
// served by previous; previous "" (the session's first request) counts as neither.
func (in *Instruments) Affinity(ctx context.Context, previous, current string) {
	switch previous {
	case "":
	case current:
		in.affinity.Add(ctx, 1, affinityHeld)
	default:
		in.affinity.Add(ctx, 1, affinityMoved)
	}
}

// WebSocketOpened counts a socket this instance (current) accepted, whose page had its
// previous socket on previous ("" for none), and returns what to call once it has closed.
func (in *Instruments) WebSocketOpened(ctx context.Context, previous, current string) (closed func()) {
	switch previous {
	case "":
		in.wsConnects.Add(ctx, 1, previousNone)
	case current:
		in.wsConnects.Add(ctx, 1, previousSame)
	default:
		in.wsConnects.Add(ctx, 1, previousOth)
	}
	in.wsOpen.Add(ctx, 1)
	return func() { in.wsOpen.Add(context.WithoutCancel(ctx), -1) }
}
