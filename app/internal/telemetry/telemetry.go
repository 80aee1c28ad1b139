// Package telemetry is the app's OpenTelemetry: the instruments that show whether session
// affinity pays off (instruments.go), HTTP and Redis instrumentation, and the exporters. On
// Cloud Run metrics go to Cloud Monitoring and sampled traces to Cloud Trace, with the monitored
// resource and instance id from the GCP resource detector; locally nothing is exported unless
// OTEL_EXPORTER=stdout asks for JSON lines on stdout.
//
// Google marks these exporters and the X-Cloud-Trace-Context propagator deprecated in favour of
// OTLP to telemetry.googleapis.com (archived after 2027-01-01; MIGRATION.md in
// GoogleCloudPlatform/opentelemetry-operations-go). They are what the export is specified with
// and still work; the move to OTLP is a change of this file only (README, Telemetry).
package telemetry

//lint:file-ignore SA1019 Google's Cloud Monitoring/Trace exporters and propagator are deprecated for OTLP; kept on purpose until that migration (see the package comment).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	mexporter "github.com/GoogleCloudPlatform/opentelemetry-operations-go/exporter/metric"
	texporter "github.com/GoogleCloudPlatform/opentelemetry-operations-go/exporter/trace"
	gcppropagator "github.com/GoogleCloudPlatform/opentelemetry-operations-go/propagator"
	"go.opentelemetry.io/contrib/detectors/gcp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/api/option"
)

// Exporters, the values of OTEL_EXPORTER.
const (
	ExportGCP    = "gcp"    // Cloud Monitoring and Cloud Trace (default on Cloud Run)
	ExportStdout = "stdout" // JSON lines on stdout, for local runs and the affinity lab
	ExportNone   = "none"   // instruments count (for tests' readers) but nothing leaves (default elsewhere)
)

// Options configure Start.
type Options struct {
	Exporter   string // ExportGCP, ExportStdout or ExportNone ("" is none)
	Project    string // for the Google exporters; empty: detected from the environment
	Instance   string // service.instance.id off Google Cloud (on it the detector names the instance)
	OnCloudRun bool   // detect Cloud Run's resource attributes
	TraceRatio float64
	Stdout     io.Writer // where ExportStdout writes (default: discarded)

	// Readers are extra metric readers (tests pass a ManualReader); SpanExporter replaces
	// the exporter's span destination (the benchmark discards spans, to measure their cost).
	Readers      []sdkmetric.Reader
	SpanExporter sdktrace.SpanExporter
}

// Telemetry is the app's meter and tracer providers and its instruments.
type Telemetry struct {
	*Instruments
	meters     *sdkmetric.MeterProvider // nil for Discard
	sdkTracers *sdktrace.TracerProvider // nil when nothing is traced
	propagator propagation.TextMapPropagator
	stopOnce   sync.Once
	stopErr    error
}

// Discard is telemetry that records nothing, for handlers built without it (tests).
func Discard() *Telemetry {
	in, _ := newInstruments(noop.NewMeterProvider())
	return &Telemetry{Instruments: in, propagator: propagator()}
}

// propagator reads Google's X-Cloud-Trace-Context (Cloud Run and the load balancer set it)
// after W3C traceparent, so a request's spans carry the trace id its log lines carry; nothing
// is injected into X-Cloud-Trace-Context on the way out.
func propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, gcppropagator.CloudTraceOneWayPropagator{})
}

// Start sets up metrics and traces as o says. With a tracing exporter it also installs the
// tracer provider and propagator globally: Google's client libraries (Firestore) start their
// spans from the global provider. Call Shutdown to flush.
func Start(ctx context.Context, o Options) (*Telemetry, error) {
	res, err := newResource(ctx, o)
	if err != nil {
		return nil, err
	}
	t := &Telemetry{propagator: propagator()}
	var mexp sdkmetric.Exporter
	var sexp sdktrace.SpanExporter
	switch o.Exporter {
	case ExportGCP:
		// The exporters' own gRPC calls are not instrumented: their spans would be exported too.
		mexp, err = mexporter.New(mexporter.WithProjectID(o.Project),
			mexporter.WithMonitoringClientOptions(option.WithTelemetryDisabled()))
		if err != nil {
			return nil, fmt.Errorf("cloud monitoring exporter: %w", err)
		}
		sexp, err = texporter.New(texporter.WithProjectID(o.Project),
			texporter.WithTraceClientOptions([]option.ClientOption{option.WithTelemetryDisabled()}))
		if err != nil {
			mexp.Shutdown(ctx)
			return nil, fmt.Errorf("cloud trace exporter: %w", err)
		}
	case ExportStdout:
		w := o.Stdout
		if w == nil {
			w = io.Discard
		}
		mexp, _ = stdoutmetric.New(stdoutmetric.WithWriter(w))
		sexp, _ = stdouttrace.New(stdouttrace.WithWriter(w))
	case ExportNone, "":
	default:
		return nil, fmt.Errorf("telemetry exporter %q: want %s, %s or %s", o.Exporter, ExportGCP, ExportStdout, ExportNone)
	}
	if o.SpanExporter != nil {
		sexp = o.SpanExporter
	}

	mopts := []sdkmetric.Option{sdkmetric.WithResource(res)}
	if mexp != nil {
		// The interval is OTEL_METRIC_EXPORT_INTERVAL (milliseconds), default 60 s.
		mopts = append(mopts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(mexp)))
	}
	for _, r := range o.Readers {
		mopts = append(mopts, sdkmetric.WithReader(r))
	}
	t.meters = sdkmetric.NewMeterProvider(mopts...)
	if t.Instruments, err = newInstruments(t.meters); err != nil {
		t.meters.Shutdown(ctx)
		return nil, err
	}

	if sexp != nil && o.TraceRatio > 0 {
		t.sdkTracers = sdktrace.NewTracerProvider(
			sdktrace.WithResource(res),
			sdktrace.WithSampler(sampler(o.TraceRatio)),
			sdktrace.WithBatcher(sexp))
		otel.SetTracerProvider(t.sdkTracers)
		otel.SetTextMapPropagator(t.propagator)
	} else if sexp != nil {
		sexp.Shutdown(ctx)
	}
	return t, nil
}

// sampler traces a request whose caller traced it (X-Cloud-Trace-Context ";o=1", traceparent
// flag 01), and ratio of the others. Cloud Run's front end sends a trace header with nearly
// every request but marks few as traced; plain parent-based sampling would follow it and the
// ratio would never apply. Spans inside a request follow the request's decision.
func sampler(ratio float64) sdktrace.Sampler {
	r := sdktrace.TraceIDRatioBased(ratio)
	return sdktrace.ParentBased(r, sdktrace.WithRemoteParentNotSampled(r))
}

func newResource(ctx context.Context, o Options) (*resource.Resource, error) {
	opts := []resource.Option{resource.WithTelemetrySDK(), resource.WithFromEnv()}
	if o.OnCloudRun {
		// cloud.platform gcp_cloud_run, faas.name (the service), faas.instance, cloud.region:
		// Cloud Monitoring files the series under generic_task with the instance as task_id.
		opts = append(opts, resource.WithDetectors(gcp.NewDetector()))
	} else {
		opts = append(opts, resource.WithAttributes(
			attribute.String("service.name", "cloudrun-affinity-app"),
			attribute.String("service.instance.id", o.Instance)))
	}
	res, err := resource.New(ctx, opts...)
	if errors.Is(err, resource.ErrPartialResource) || errors.Is(err, resource.ErrSchemaURLConflict) {
		err = nil // keep what was detected
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}
	return res, nil
}

// Shutdown flushes what is buffered to the exporters and stops them, within ctx. Later calls
// return the first one's result.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.stopOnce.Do(func() {
		var errs []error
		if t.sdkTracers != nil {
			errs = append(errs, t.sdkTracers.Shutdown(ctx))
		}
		if t.meters != nil {
			errs = append(errs, t.meters.Shutdown(ctx))
		}
		t.stopErr = errors.Join(errs...)
	})
	return t.stopErr
}
