package infra

import (
	"fmt"
	"strings"
)

// The metric types the Monitoring component charts and alerts on, and how it selects the
// stack's own time series. Google's types and labels are from the metrics list
// (cloud.google.com/monitoring/api/metrics_gcp) and the monitored-resource list
// (cloud.google.com/monitoring/api/resources); the tests keep a copy of the list with kinds.
const (
	// Global external Application Load Balancer, monitored resource https_lb_rule.
	MetricLBRequestCount   = "loadbalancing.googleapis.com/https/request_count"   // DELTA INT64; labels response_code, response_code_class
	MetricLBTotalLatencies = "loadbalancing.googleapis.com/https/total_latencies" // DELTA DISTRIBUTION, ms

	// Cloud Run, monitored resource cloud_run_revision (label service_name).
	MetricRunInstanceCount  = "run.googleapis.com/container/instance_count"      // GAUGE INT64; label state (active, idle)
	MetricRunLatencies      = "run.googleapis.com/request_latencies"             // DELTA DISTRIBUTION, ms; label response_code_class ("2xx")
	MetricRunCPUUtilization = "run.googleapis.com/container/cpu/utilizations"    // DELTA DISTRIBUTION, ratio
	MetricRunMemUtilization = "run.googleapis.com/container/memory/utilizations" // DELTA DISTRIBUTION, ratio

	// Memorystore for Redis, monitored resource redis_instance (label instance_id, the full name).
	MetricRedisMemoryUsageRatio = "redis.googleapis.com/stats/memory/usage_ratio" // GAUGE DOUBLE
	MetricRedisClients          = "redis.googleapis.com/clients/connected"        // GAUGE INT64
	MetricRedisCommands         = "redis.googleapis.com/commands/calls"           // DELTA INT64; label cmd

	// Firestore. The named database's series are on the monitored resource
	// firestore.googleapis.com/Database (labels project, location, database_id): the older
	// firestore_instance has no per-database breakdown
	// (cloud.google.com/firestore/docs/understand-performance-monitoring).
	MetricFirestoreReads  = "firestore.googleapis.com/document/read_count"  // DELTA INT64; label type
	MetricFirestoreWrites = "firestore.googleapis.com/document/write_count" // DELTA INT64; label op

	// Uptime checks, monitored resource uptime_url; label check_id.
	MetricUptimeCheckPassed = "monitoring.googleapis.com/uptime_check/check_passed" // GAUGE BOOL
)

// Monitored resource types.
const (
	resourceLB        = "https_lb_rule"
	resourceRun       = "cloud_run_revision"
	resourceRedis     = "redis_instance"
	resourceFirestore = "firestore.googleapis.com/Database"
	resourceUptime    = "uptime_url"
	// resourceApp is where Google's OpenTelemetry exporter
	// (github.com/GoogleCloudPlatform/opentelemetry-operations-go/exporter/metric) writes the
	// app's metrics on Cloud Run: a resource without cloud.platform gce/gke/gae and with
	// faas.name + faas.instance (the GCP resource detector on Cloud Run) or service.name +
	// service.instance.id maps to generic_task (internal/resourcemapping/resourcemapping.go).
	resourceApp = "generic_task"
)

// The app's instruments (app/internal/telemetry), as Cloud Monitoring metric types: the
// exporter names them workload.googleapis.com/<instrument name> and turns every attribute key
// into a label key with each character other than a letter or digit replaced by "_"
// (exporter/metric/metric.go: normalizeLabelKey), so http.route becomes http_route.
//
// The app-side developer provides app/internal/telemetry/instruments.json with exactly these
// metric types; the Monitoring tests read it when it exists and require this list to match.
const (
	// Counter, attribute result = hit|miss: /api/report answers from the per-instance cache.
	MetricAppCacheRequests = "workload.googleapis.com/cloudrun_affinity.report_cache.requests"
	// Counter, attribute outcome = held|moved: a signed-in request served by the same (held) or
	// a different (moved) instance than the session's previous request.
	MetricAppAffinityRequests = "workload.googleapis.com/cloudrun_affinity.affinity.requests"
	// Up-down counter (a GAUGE in Monitoring): open WebSockets.
	MetricAppWebSocketsOpen = "workload.googleapis.com/cloudrun_affinity.websocket.open"
	// Counter, attribute previous = none|same|other: the instance of the client's previous socket.
	MetricAppWebSocketConnects = "workload.googleapis.com/cloudrun_affinity.websocket.connects"
	// Histograms in seconds, attribute operation.
	MetricAppSessionStoreDuration = "workload.googleapis.com/cloudrun_affinity.session_store.duration"
	MetricAppFirestoreDuration    = "workload.googleapis.com/cloudrun_affinity.firestore.duration"
	// otelhttp's server histogram in seconds, attributes http.route, http.response.status_code.
	MetricAppHTTPDuration = "workload.googleapis.com/http.server.request.duration"
)

// AppMetricTypes lists the app's instruments (see above).
var AppMetricTypes = []string{
	MetricAppCacheRequests, MetricAppAffinityRequests, MetricAppWebSocketsOpen, MetricAppWebSocketConnects,
	MetricAppSessionStoreDuration, MetricAppFirestoreDuration, MetricAppHTTPDuration,
}

// watched names the stack's own monitored resources, so charts and alerts never mix in
// another stack of the same Google Cloud project.
type watched struct {
	services       []string // Cloud Run service names, one per region
	urlMap         string   // the HTTPS URL map
	forwardingRule string   // the HTTPS forwarding rule
	redisInstances []string // projects/P/locations/R/instances/N, one per region
	database       string   // Firestore database id
	uptimeCheckID  string
}

// selector is one Monitoring filter: metric.type AND resource.type AND label restrictions, in
// the form the API echoes (one line, single spaces, no surrounding whitespace: a filter with a
// trailing newline came back trimmed and showed a diff on every run,
// github.com/hashicorp/terraform-provider-google/issues/11004). The label syntax
// (metric.label.KEY="VALUE", also for INT64 labels such as response_code_class) is the one
// Google's SLO examples use (cloud.google.com/stackdriver/docs/solutions/slo-monitoring/sli-metrics/lb-metrics).
func selector(metricType, resourceType string, restrictions ...string) string {
	parts := []string{fmt.Sprintf("metric.type=%q", metricType), fmt.Sprintf("resource.type=%q", resourceType)}
	return strings.Join(append(parts, restrictions...), " AND ")
}

func label(kind, key, op, value string) string {
	return fmt.Sprintf("%s.label.%s%s%q", kind, key, op, value)
}

// labelIn restricts a label to one of several values (one per region): `=` for one, the
// filter function one_of for more (cloud.google.com/monitoring/api/v3/filters).
func labelIn(kind, key string, values []string) string {
	if len(values) == 1 {
		return label(kind, key, "=", values[0])
	}
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = fmt.Sprintf("%q", v)
	}
	return fmt.Sprintf("%s.label.%s=one_of(%s)", kind, key, strings.Join(quoted, ","))
}

// lb selects the stack's HTTPS load balancer series of a metric.
func (w watched) lb(metricType string, extra ...string) string {
	return selector(metricType, resourceLB, append([]string{
		label("resource", "url_map_name", "=", w.urlMap),
		label("resource", "forwarding_rule_name", "=", w.forwardingRule),
	}, extra...)...)
}

func (w watched) run(metricType string, extra ...string) string {
	return selector(metricType, resourceRun, append([]string{labelIn("resource", "service_name", w.services)}, extra...)...)
}

func (w watched) redis(metricType string) string {
	return selector(metricType, resourceRedis, labelIn("resource", "instance_id", w.redisInstances))
}

func (w watched) firestore(metricType string) string {
	return selector(metricType, resourceFirestore, label("resource", "database_id", "=", w.database))
}

// app selects the app's series of the stack's service. The exporter puts the Cloud Run service
// name in generic_task's job label when the app leaves service.name unset (job is service.name,
// else faas.name, which the GCP detector sets to K_SERVICE), and in namespace only when the app
// sets service.namespace to it: either is accepted.
func (w watched) app(metricType string, extra ...string) string {
	owner := fmt.Sprintf("(%s OR %s)", labelIn("resource", "job", w.services), labelIn("resource", "namespace", w.services))
	return selector(metricType, resourceApp, append([]string{owner}, extra...)...)
}

// PromQLName is a metric type's PromQL name in Cloud Monitoring: the first "/" becomes ":", every
// other character PromQL does not allow becomes "_"
// (cloud.google.com/monitoring/promql/promql-mapping).
func PromQLName(metricType string) string {
	domain, path, _ := strings.Cut(metricType, "/")
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
				return r
			}
			return '_'
		}, s)
	}
	return clean(domain) + ":" + clean(path)
}

// appRate is PromQL for the per-second rate of one of the app's counters over window, summed
// over the stack's service, with extra label matchers (`outcome="moved"`). The series of the
// service are those whose job or namespace names it (see app); "or" keeps a series that
// matches both once. monitored_resource picks the resource type.
func (w watched) appRate(metricType, window string, matchers ...string) string {
	sel := func(owner string) string {
		services := owner + `="` + w.services[0] + `"`
		if len(w.services) > 1 {
			services = owner + `=~"` + strings.Join(w.services, "|") + `"`
		}
		m := append([]string{`monitored_resource="` + resourceApp + `"`, services}, matchers...)
		return fmt.Sprintf("rate(%s{%s}[%s])", PromQLName(metricType), strings.Join(m, ","), window)
	}
	return fmt.Sprintf("sum(%s or %s)", sel("job"), sel("namespace"))
}

func (w watched) uptime() string {
	return selector(MetricUptimeCheckPassed, resourceUptime, label("metric", "check_id", "=", w.uptimeCheckID))
}

// notWebSocket leaves out the 101 answers to WebSocket upgrades, whose latency is the life of
// the socket (up to Cloud Run's 3600 s request timeout), not the time to answer a request.
var (
	lbNotWebSocket  = label("metric", "response_code_class", "!=", "100")
	runNotWebSocket = label("metric", "response_code_class", "!=", "1xx")
	lb5xx           = label("metric", "response_code_class", "=", "500")
	lbNot5xx        = label("metric", "response_code_class", "!=", "500")
)
