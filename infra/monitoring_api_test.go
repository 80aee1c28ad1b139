package infra_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"cloud.google.com/go/monitoring/dashboard/apiv1/dashboardpb"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

// These tests hold what the program sends against the API's own message definitions
// (cloud.google.com/go/monitoring, generated from googleapis' google/monitoring protos):
// unknown fields and bad enum values are refused, as the API refuses them. They also require
// that marshalling the message back gives the same document: a field we send at its default
// value, which the API leaves out of its answer, would show as a diff on every preview.

var strict = protojson.UnmarshalOptions{DiscardUnknown: false}

// apiEchoProblem unmarshals doc into msg and checks that the message marshals back to doc.
func apiEchoProblem(doc any, msg proto.Message) error {
	raw, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	name := msg.ProtoReflect().Descriptor().FullName()
	if err := strict.Unmarshal(raw, msg); err != nil {
		return fmt.Errorf("not a valid %s: %w\n%s", name, err, raw)
	}
	back, err := protojson.Marshal(msg)
	if err != nil {
		return err
	}
	var got, want any
	if err := json.Unmarshal(back, &got); err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		return err
	}
	if !reflect.DeepEqual(got, want) {
		return fmt.Errorf("comes back from %s differently (a default value, or a form the API rewrites):\nsent %s\n got %s", name, raw, back)
	}
	return nil
}

func sameAsAPIEcho(t *testing.T, what string, doc any, msg proto.Message) {
	t.Helper()
	if err := apiEchoProblem(doc, msg); err != nil {
		t.Errorf("%s %v", what, err)
	}
}

// The check itself: it refuses what the API refuses and what it would echo differently.
func TestAPIEchoCheckCatchesUnknownFieldsBadEnumsAndDefaults(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field":   `{"displayName": "d", "mosaicLayout": {"columns": 48}, "colour": "red"}`,
		"bad enum":        `{"displayName": "d", "mosaicLayout": {"columns": 48, "tiles": [{"width": 4, "height": 4, "widget": {"text": {"content": "x", "format": "HTML"}}}]}}`,
		"default xPos":    `{"displayName": "d", "mosaicLayout": {"columns": 48, "tiles": [{"xPos": 0, "width": 4, "height": 4, "widget": {"blank": {}}}]}}`,
		"empty unit":      `{"displayName": "d", "mosaicLayout": {"columns": 48, "tiles": [{"width": 4, "height": 4, "widget": {"xyChart": {"dataSets": [{"timeSeriesQuery": {"unitOverride": "", "timeSeriesFilter": {"filter": "f"}}}]}}}]}}`,
		"snake_case name": `{"display_name": "d", "mosaicLayout": {"columns": 48}}`,
	} {
		var v any
		if err := json.Unmarshal([]byte(doc), &v); err != nil {
			t.Fatal(err)
		}
		if apiEchoProblem(v, &dashboardpb.Dashboard{}) == nil {
			t.Errorf("%s: accepted %s", name, doc)
		}
	}
	var ok any
	_ = json.Unmarshal([]byte(`{"displayName": "d", "mosaicLayout": {"columns": 48, "tiles": [{"xPos": 24, "width": 24, "height": 4, "widget": {"blank": {}}}]}}`), &ok)
	if err := apiEchoProblem(ok, &dashboardpb.Dashboard{}); err != nil {
		t.Errorf("a canonical dashboard refused: %v", err)
	}
}

func TestMonitoringDashboardJSONIsADashboardTheAPIEchoesUnchanged(t *testing.T) {
	_, doc := dashboardOf(t)
	sameAsAPIEcho(t, "dashboard JSON", doc, &dashboardpb.Dashboard{})
	var d dashboardpb.Dashboard
	raw, _ := json.Marshal(doc)
	if err := strict.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	layout := d.GetMosaicLayout()
	if layout == nil || layout.GetColumns() > 48 {
		t.Fatalf("want a mosaic layout of at most 48 columns (the API's maximum), got %v", d.GetLayout())
	}
	// No overlapping tiles, none past the right edge.
	type cell struct{ x, y int32 }
	used := map[cell]string{}
	for _, tile := range layout.GetTiles() {
		if tile.GetXPos()+tile.GetWidth() > layout.GetColumns() || tile.GetWidth() <= 0 || tile.GetHeight() <= 0 {
			t.Errorf("tile %q at x %d width %d height %d does not fit %d columns", tile.GetWidget().GetTitle(), tile.GetXPos(), tile.GetWidth(), tile.GetHeight(), layout.GetColumns())
		}
		for x := tile.GetXPos(); x < tile.GetXPos()+tile.GetWidth(); x++ {
			for y := tile.GetYPos(); y < tile.GetYPos()+tile.GetHeight(); y++ {
				if other, ok := used[cell{x, y}]; ok {
					t.Fatalf("tiles %q and %q overlap at (%d, %d)", other, tile.GetWidget().GetTitle(), x, y)
				}
				used[cell{x, y}] = tile.GetWidget().GetTitle()
			}
		}
	}
	if d.GetDisplayName() == "" {
		t.Error("dashboard has no display name (required)")
	}
}

func TestMonitoringAlertPoliciesAreAlertPolicyMessagesTheAPIEchoesUnchanged(t *testing.T) {
	res := monitoringRun(t, infratest.Update)
	for _, p := range res.OfType(alertPolicyType) {
		sameAsAPIEcho(t, "alert policy "+p.Name, inputsOf(p), &monitoringpb.AlertPolicy{})
	}
	for _, ch := range res.OfType(channelType) {
		sameAsAPIEcho(t, "notification channel "+ch.Name, inputsOf(ch), &monitoringpb.NotificationChannel{})
	}
	for _, u := range res.OfType(uptimeCheckType) {
		sameAsAPIEcho(t, "uptime check "+u.Name, inputsOf(u), &monitoringpb.UptimeCheckConfig{})
	}
	// pulumi-gcp flattens Service and ServiceLevelObjective; rebuild the API's form.
	for _, s := range res.OfType(customServiceType) {
		doc := inputsOf(s)
		doc["custom"] = map[string]any{}
		sameAsAPIEcho(t, "custom service "+s.Name, doc, &monitoringpb.Service{})
	}
	for _, s := range res.OfType(sloType) {
		in := inputsOf(s, "service")
		doc := map[string]any{
			"displayName": in["displayName"], "goal": in["goal"], "userLabels": in["userLabels"],
			"rollingPeriod":         strconv.Itoa(int(in["rollingPeriodDays"].(float64))*24*3600) + "s",
			"serviceLevelIndicator": map[string]any{"requestBased": in["requestBasedSli"]},
		}
		sameAsAPIEcho(t, "SLO "+s.Name, doc, &monitoringpb.ServiceLevelObjective{})
		var slo monitoringpb.ServiceLevelObjective
		raw, _ := json.Marshal(doc)
		if err := strict.Unmarshal(raw, &slo); err == nil {
			if g := slo.GetGoal(); g <= 0 || g > 0.9999 {
				t.Errorf("SLO goal %v outside the API's 0 < goal <= 0.9999", g)
			}
			if d := slo.GetRollingPeriod().AsDuration(); d%(24*time.Hour) != 0 || d > 30*24*time.Hour {
				t.Errorf("rolling period %v: the API wants whole days, at most 30", d)
			}
		}
	}
}

// metric is what the tests need to know of a metric type: its kind and value type, its
// monitored resources, and its label keys (metric labels; resource labels are per resource).
type metric struct {
	kind, valueType string
	resources       []string
	labels          []string
}

// googleMetrics are Google's metric types the stack uses, as documented in
// https://cloud.google.com/monitoring/api/metrics_gcp (sections loadbalancing, run, redis,
// firestore, monitoring), with the Firestore resource from
// https://cloud.google.com/firestore/docs/understand-performance-monitoring.
var googleMetrics = map[string]metric{
	infra.MetricLBRequestCount:        {"DELTA", "INT64", []string{"https_lb_rule"}, []string{"protocol", "response_code", "response_code_class", "proxy_continent", "cache_result", "client_country"}},
	infra.MetricLBTotalLatencies:      {"DELTA", "DISTRIBUTION", []string{"https_lb_rule"}, []string{"protocol", "response_code", "response_code_class", "proxy_continent", "cache_result", "client_country"}},
	infra.MetricRunInstanceCount:      {"GAUGE", "INT64", []string{"cloud_run_revision"}, []string{"state"}},
	infra.MetricRunLatencies:          {"DELTA", "DISTRIBUTION", []string{"cloud_run_revision"}, []string{"response_code", "response_code_class", "route"}},
	infra.MetricRunCPUUtilization:     {"DELTA", "DISTRIBUTION", []string{"cloud_run_revision"}, nil},
	infra.MetricRunMemUtilization:     {"DELTA", "DISTRIBUTION", []string{"cloud_run_revision"}, nil},
	infra.MetricRedisMemoryUsageRatio: {"GAUGE", "DOUBLE", []string{"redis_instance"}, []string{"role"}},
	infra.MetricRedisClients:          {"GAUGE", "INT64", []string{"redis_instance"}, []string{"role"}},
	infra.MetricRedisCommands:         {"DELTA", "INT64", []string{"redis_instance"}, []string{"role", "cmd"}},
	infra.MetricFirestoreReads:        {"DELTA", "INT64", []string{"firestore.googleapis.com/Database", "firestore_instance"}, []string{"type", "module", "version"}},
	infra.MetricFirestoreWrites:       {"DELTA", "INT64", []string{"firestore.googleapis.com/Database", "firestore_instance"}, []string{"op", "module", "version"}},
	infra.MetricUptimeCheckPassed:     {"GAUGE", "BOOL", []string{"uptime_url"}, []string{"check_id", "checker_location", "checked_resource_id"}},
}

// resourceLabels are the labels of each monitored resource the filters name
// (https://cloud.google.com/monitoring/api/resources; generic_task as the exporter fills it).
var resourceLabels = map[string][]string{
	"https_lb_rule": {"project_id", "network_name", "region", "url_map_name", "forwarding_rule_name", "target_proxy_name",
		"matched_url_path_rule", "backend_target_name", "backend_type", "backend_name", "backend_scope", "backend_scope_type", "backend_target_type"},
	"cloud_run_revision":                {"project_id", "service_name", "revision_name", "location", "configuration_name"},
	"redis_instance":                    {"project_id", "region", "instance_id", "node_id"},
	"firestore.googleapis.com/Database": {"project", "location", "database_id"},
	"uptime_url":                        {"project_id", "host"},
	"generic_task":                      {"project_id", "location", "namespace", "job", "task_id"},
}

// instrumentsFile is where the app-side developer lists the app's metric types.
const instrumentsFile = "../app/internal/telemetry/instruments.json"

// appMetrics are the app's instruments with kinds as the exporter writes them (counter:
// CUMULATIVE, up-down counter: GAUGE, histogram: CUMULATIVE DISTRIBUTION; exporter/metric
// recordToMdpbKindType) and label keys as it normalizes them (normalizeLabelKey).
var appMetrics = map[string]metric{
	infra.MetricAppCacheRequests:        {"CUMULATIVE", "INT64", []string{"generic_task"}, []string{"result"}},
	infra.MetricAppAffinityRequests:     {"CUMULATIVE", "INT64", []string{"generic_task"}, []string{"outcome"}},
	infra.MetricAppWebSocketsOpen:       {"GAUGE", "INT64", []string{"generic_task"}, nil},
	infra.MetricAppWebSocketConnects:    {"CUMULATIVE", "INT64", []string{"generic_task"}, []string{"previous"}},
	infra.MetricAppSessionStoreDuration: {"CUMULATIVE", "DISTRIBUTION", []string{"generic_task"}, []string{"operation"}},
	infra.MetricAppFirestoreDuration:    {"CUMULATIVE", "DISTRIBUTION", []string{"generic_task"}, []string{"operation"}},
	infra.MetricAppHTTPDuration:         {"CUMULATIVE", "DISTRIBUTION", []string{"generic_task"}, []string{"http_route", "http_response_status_code"}},
}

// appMetricTypes are the app's metric types: from the app's instruments.json when it exists,
// else infra.AppMetricTypes.
func appMetricTypes(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(instrumentsFile)
	if errors.Is(err, os.ErrNotExist) {
		return infra.AppMetricTypes
	}
	if err != nil {
		t.Fatal(err)
	}
	types := metricTypesIn(raw)
	if len(types) == 0 {
		t.Fatalf("%s lists no workload.googleapis.com/ metric types", instrumentsFile)
	}
	return types
}

// metricTypesIn finds every workload.googleapis.com/ type in the file, whatever its layout
// (a list of strings, or objects with the type in a field).
func metricTypesIn(raw []byte) []string {
	seen := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			if strings.HasPrefix(x, "workload.googleapis.com/") {
				seen[x] = true
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	var doc any
	if json.Unmarshal(raw, &doc) == nil {
		walk(doc)
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestAppMetricTypesMatchTheAppsInstruments(t *testing.T) {
	want := append([]string(nil), infra.AppMetricTypes...)
	sort.Strings(want)
	got := append([]string(nil), appMetricTypes(t)...)
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the app exports %v (%s), infra.AppMetricTypes says %v", got, instrumentsFile, want)
	}
	for _, typ := range want {
		if _, ok := appMetrics[typ]; !ok {
			t.Errorf("%s has no kind in appMetrics", typ)
		}
	}
}

// query is one filter with the aggregations applied to it, from a chart or an alert.
type query struct {
	where  string
	filter string
	aggs   []map[string]any
	alert  bool
}

// queries collects every filter the dashboard and the alert policies send.
func queries(t *testing.T) []query {
	t.Helper()
	var out []query
	_, doc := dashboardOf(t)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if f, ok := x["filter"].(string); ok {
				var aggs []map[string]any
				if a, ok := x["aggregation"].(map[string]any); ok {
					aggs = append(aggs, a)
				}
				out = append(out, query{where: "dashboard " + path, filter: f, aggs: aggs})
			}
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(path+"."+k, x[k])
			}
		case []any:
			for i, e := range x {
				walk(path+"["+strconv.Itoa(i)+"]", e)
			}
		}
	}
	walk("", doc)
	res := monitoringRun(t, infratest.Update)
	for _, p := range res.OfType(alertPolicyType) {
		for i, c := range inputsOf(p)["conditions"].([]any) {
			th, ok := c.(map[string]any)["conditionThreshold"].(map[string]any)
			if !ok {
				continue // PromQL: see promQueries
			}
			where := "alert " + p.Name + " condition " + strconv.Itoa(i)
			out = append(out, query{where: where, filter: th["filter"].(string), aggs: aggsOf(th["aggregations"]), alert: true})
			if d, ok := th["denominatorFilter"].(string); ok {
				if th["denominatorAggregations"] == nil {
					t.Errorf("%s: a denominatorFilter needs denominatorAggregations", where)
				}
				out = append(out, query{where: where + " denominator", filter: d, aggs: aggsOf(th["denominatorAggregations"]), alert: true})
			}
		}
	}
	for _, s := range res.OfType(sloType) {
		ratio := inputsOf(s)["requestBasedSli"].(map[string]any)["goodTotalRatio"].(map[string]any)
		for _, k := range []string{"goodServiceFilter", "totalServiceFilter"} {
			out = append(out, query{where: "SLO " + k, filter: ratio[k].(string)})
		}
	}
	if len(out) < 20 {
		t.Fatalf("found only %d filters", len(out))
	}
	return out
}

// promQueries are the PromQL conditions of the alert policies.
func promQueries(t *testing.T) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, p := range monitoringRun(t, infratest.Update).OfType(alertPolicyType) {
		for _, c := range inputsOf(p)["conditions"].([]any) {
			if q, ok := c.(map[string]any)["conditionPrometheusQueryLanguage"].(map[string]any); ok {
				out[p.Name] = q
			}
		}
	}
	return out
}

var (
	promSelectorRe = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*:[A-Za-z0-9_]+)\{([^}]*)\}`)
	promMatcherRe  = regexp.MustCompile(`^([a-z_]+)="([^"]*)"$`)
)

// The affinity alert is PromQL because the app's metric may not exist at the first pulumi up:
// its metric names must map to a metric the stack knows, its label matchers to that metric's
// labels, and metric validation must be off.
func TestMonitoringPromQLConditionsNameKnownMetricsAndSkipMetricValidation(t *testing.T) {
	queries := promQueries(t)
	if _, ok := queries["monitoring-affinity-moved"]; !ok || len(queries) != 1 {
		t.Fatalf("PromQL conditions %v, want the affinity alert's", queries)
	}
	byProm := map[string]string{}
	for typ := range googleMetrics {
		byProm[infra.PromQLName(typ)] = typ
	}
	for typ := range appMetrics {
		byProm[infra.PromQLName(typ)] = typ
	}
	for name, q := range queries {
		if q["disableMetricValidation"] != true {
			t.Errorf("%s: disableMetricValidation %v; the alert could not be created before the app exports", name, q["disableMetricValidation"])
		}
		query, _ := q["query"].(string)
		if strings.Count(query, "(") != strings.Count(query, ")") || strings.Count(query, "{") != strings.Count(query, "}") || query != strings.TrimSpace(query) {
			t.Errorf("%s: unbalanced or padded query %q", name, query)
		}
		sels := promSelectorRe.FindAllStringSubmatch(query, -1)
		if len(sels) == 0 {
			t.Errorf("%s: no metric selector in %q", name, query)
		}
		for _, sel := range sels {
			typ, ok := byProm[sel[1]]
			if !ok {
				t.Errorf("%s: %s is the PromQL name of no metric the stack knows", name, sel[1])
				continue
			}
			m := appMetrics[typ]
			if g, ok := googleMetrics[typ]; ok {
				m = g
			}
			resource := ""
			for _, matcher := range strings.Split(sel[2], ",") {
				kv := promMatcherRe.FindStringSubmatch(matcher)
				switch {
				case kv == nil:
					t.Errorf("%s: matcher %q is not label=\"value\"", name, matcher)
				case kv[1] == "monitored_resource":
					resource = kv[2]
				case !contains(m.labels, kv[1]) && !contains(resourceLabels[m.resources[0]], kv[1]):
					t.Errorf("%s: label %s is neither %s's nor its resource's", name, kv[1], typ)
				}
			}
			if !contains(m.resources, resource) {
				t.Errorf("%s: selector %s picks resource %q; %s is on %v", name, sel[0], resource, typ, m.resources)
			}
			if m.kind != "CUMULATIVE" && m.kind != "DELTA" && strings.Contains(query, "rate("+sel[0]) {
				t.Errorf("%s: rate() of the %s metric %s", name, m.kind, typ)
			}
		}
		for _, k := range []string{"duration", "evaluationInterval"} {
			d, err := time.ParseDuration(q[k].(string))
			if err != nil || d <= 0 || d%(30*time.Second) != 0 {
				t.Errorf("%s: %s %v, want a positive multiple of 30s", name, k, q[k])
			}
		}
	}
	if !strings.Contains(queries["monitoring-affinity-moved"]["query"].(string), `outcome="moved"`) {
		t.Errorf("the affinity alert does not count moved requests: %v", queries["monitoring-affinity-moved"]["query"])
	}
}

func aggsOf(v any) []map[string]any {
	var out []map[string]any
	list, _ := v.([]any)
	for _, a := range list {
		out = append(out, a.(map[string]any))
	}
	return out
}

var (
	metricTypeRe   = regexp.MustCompile(`metric\.type="([^"]+)"`)
	resourceTypeRe = regexp.MustCompile(`resource\.type="([^"]+)"`)
	labelRe        = regexp.MustCompile(`\b(metric|resource)\.labels?\.([A-Za-z0-9_]+)`)
)

func TestMonitoringMetricTypesAreGooglesDocumentedOnesOrTheAppsOwn(t *testing.T) {
	app := map[string]bool{}
	for _, typ := range appMetricTypes(t) {
		app[typ] = true
	}
	used := map[string]bool{}
	for _, q := range queries(t) {
		if strings.HasPrefix(q.filter, "select_slo_") {
			continue // an SLO selector, no metric type
		}
		types := metricTypeRe.FindAllStringSubmatch(q.filter, -1)
		if len(types) != 1 {
			t.Errorf("%s: filter %q names %d metric types, want exactly one", q.where, q.filter, len(types))
			continue
		}
		typ := types[0][1]
		used[typ] = true
		_, google := googleMetrics[typ]
		if !google && !app[typ] {
			t.Errorf("%s: %s is neither in Google's metrics list (metrics_gcp) nor one of the app's instruments", q.where, typ)
		}
	}
	for _, typ := range []string{infra.MetricAppAffinityRequests, infra.MetricAppCacheRequests, infra.MetricLBRequestCount, infra.MetricRedisMemoryUsageRatio, infra.MetricFirestoreReads} {
		if !used[typ] {
			t.Errorf("%s is charted nowhere", typ)
		}
	}
}

// alignedTo is the kind and value type an aligner outputs (Aggregation.Aligner in
// google/monitoring/v3/common.proto, as monitoringpb documents it), or ok false when the
// aligner is not valid for the input.
func alignedTo(aligner, kind, valueType string) (outKind, outType string, ok bool) {
	numeric := valueType == "INT64" || valueType == "DOUBLE"
	switch aligner {
	case "ALIGN_DELTA": // CUMULATIVE and DELTA; same value type
		return "DELTA", valueType, kind == "CUMULATIVE" || kind == "DELTA"
	case "ALIGN_RATE": // CUMULATIVE and DELTA, numeric; GAUGE DOUBLE
		return "GAUGE", "DOUBLE", (kind == "CUMULATIVE" || kind == "DELTA") && numeric
	case "ALIGN_NEXT_OLDER": // GAUGE; same value type
		return "GAUGE", valueType, kind == "GAUGE"
	case "ALIGN_MIN", "ALIGN_MAX": // GAUGE and DELTA, numeric; same value type
		return kind, valueType, (kind == "GAUGE" || kind == "DELTA") && numeric
	case "ALIGN_MEAN": // GAUGE and DELTA, numeric; DOUBLE
		return kind, "DOUBLE", (kind == "GAUGE" || kind == "DELTA") && numeric
	case "ALIGN_PERCENTILE_99", "ALIGN_PERCENTILE_95", "ALIGN_PERCENTILE_50", "ALIGN_PERCENTILE_05": // GAUGE and DELTA distributions
		return "GAUGE", "DOUBLE", (kind == "GAUGE" || kind == "DELTA") && valueType == "DISTRIBUTION"
	}
	return "", "", false
}

// reducerFits reports whether a cross-series reducer is valid for aligned series
// (Aggregation.Reducer in common.proto): every reducer wants DELTA or GAUGE series.
func reducerFits(reducer, kind, valueType string) bool {
	if kind != "DELTA" && kind != "GAUGE" {
		return false
	}
	numeric := valueType == "INT64" || valueType == "DOUBLE"
	switch reducer {
	case "REDUCE_SUM", "REDUCE_MEAN", "REDUCE_PERCENTILE_99", "REDUCE_PERCENTILE_95", "REDUCE_PERCENTILE_50", "REDUCE_PERCENTILE_05":
		return numeric || valueType == "DISTRIBUTION"
	case "REDUCE_MIN", "REDUCE_MAX":
		return numeric
	case "REDUCE_COUNT_TRUE", "REDUCE_COUNT_FALSE", "REDUCE_FRACTION_TRUE":
		return valueType == "BOOL"
	}
	return false
}

func TestMonitoringFiltersAndAggregationsFitTheirMetrics(t *testing.T) {
	for _, q := range queries(t) {
		if q.filter != strings.TrimSpace(q.filter) || strings.ContainsAny(q.filter, "\n\t") || strings.Contains(q.filter, "  ") {
			t.Errorf("%s: filter %q has whitespace the API trims (a diff on every run)", q.where, q.filter)
		}
		if len([]rune(q.filter)) > 2048 {
			t.Errorf("%s: filter is %d characters; the API allows 2048", q.where, len([]rune(q.filter)))
		}
		if strings.HasPrefix(q.filter, "select_slo_burn_rate(") {
			if len(q.aggs) > 0 {
				t.Errorf("%s: an SLO condition uses only the filter, not aggregations", q.where)
			}
			continue
		}
		mt := metricTypeRe.FindStringSubmatch(q.filter)
		rt := resourceTypeRe.FindStringSubmatch(q.filter)
		if mt == nil || rt == nil {
			t.Errorf("%s: filter %q must name the metric type and the resource type", q.where, q.filter)
			continue
		}
		m, ok := googleMetrics[mt[1]]
		if !ok {
			m, ok = appMetrics[mt[1]]
		}
		if !ok {
			continue // reported by the metric types test
		}
		if !contains(m.resources, rt[1]) {
			t.Errorf("%s: %s is not written on %s (only %v)", q.where, mt[1], rt[1], m.resources)
		}
		labelsOK := func(where, expr string) {
			for _, l := range labelRe.FindAllStringSubmatch(expr, -1) {
				if l[1] == "metric" && !contains(m.labels, l[2]) || l[1] == "resource" && !contains(resourceLabels[rt[1]], l[2]) {
					t.Errorf("%s: %s label %q is not one of %s's (metric %v, resource %v)", where, l[1], l[2], mt[1], m.labels, resourceLabels[rt[1]])
				}
			}
		}
		labelsOK(q.where, strings.NewReplacer("metric.type=", "", "resource.type=", "").Replace(q.filter))
		if len(q.aggs) == 0 && !strings.HasPrefix(q.where, "SLO") {
			t.Errorf("%s: no aggregation; raw %s points are not what the chart or alert means", q.where, m.kind)
		}
		kind, valueType := m.kind, m.valueType
		for _, a := range q.aggs {
			aligner, _ := a["perSeriesAligner"].(string)
			reducer, _ := a["crossSeriesReducer"].(string)
			period, _ := a["alignmentPeriod"].(string)
			d, err := time.ParseDuration(period)
			switch {
			case aligner == "" || aligner == "ALIGN_NONE":
				t.Errorf("%s: aggregation without an aligner (%v)", q.where, a)
				continue
			case err != nil || d < time.Minute:
				t.Errorf("%s: alignmentPeriod %q, want at least 60s", q.where, period)
			case q.alert && d > 25*time.Hour:
				t.Errorf("%s: alignmentPeriod %s above alerting's 90000s", q.where, period)
			}
			k, v, ok := alignedTo(aligner, kind, valueType)
			if !ok {
				t.Errorf("%s: %s is not valid for %s %s %s", q.where, aligner, mt[1], kind, valueType)
				continue
			}
			if reducer != "" && reducer != "REDUCE_NONE" {
				if !reducerFits(reducer, k, v) {
					t.Errorf("%s: %s is not valid after %s (%s %s)", q.where, reducer, aligner, k, v)
				}
				if strings.HasPrefix(reducer, "REDUCE_PERCENTILE") || reducer == "REDUCE_MEAN" {
					v = "DOUBLE"
				}
				if reducer == "REDUCE_COUNT_FALSE" || reducer == "REDUCE_COUNT_TRUE" {
					v = "INT64"
				}
			}
			if groups, ok := a["groupByFields"].([]any); ok {
				for _, g := range groups {
					labelsOK(q.where+" groupByFields", g.(string))
				}
			}
			kind, valueType = k, v
		}
		if len(q.aggs) > 0 && valueType == "DISTRIBUTION" {
			t.Errorf("%s: %s is still a distribution after aggregation; a chart line or threshold needs a number (add a percentile)", q.where, mt[1])
		}
	}
}

func TestMonitoringAlertConditionsHaveValidComparisonsAndDurations(t *testing.T) {
	res := monitoringRun(t, infratest.Update)
	for _, p := range res.OfType(alertPolicyType) {
		var policy monitoringpb.AlertPolicy
		raw, _ := json.Marshal(inputsOf(p))
		if err := strict.Unmarshal(raw, &policy); err != nil {
			t.Errorf("%s: %v", p.Name, err)
			continue
		}
		if len(policy.GetConditions()) != 1 {
			t.Errorf("%s has %d conditions, want one", p.Name, len(policy.GetConditions()))
		}
		for _, c := range policy.GetConditions() {
			if c.GetConditionPrometheusQueryLanguage() != nil {
				continue // TestMonitoringPromQLConditions...
			}
			th := c.GetConditionThreshold()
			switch {
			case th == nil:
				t.Errorf("%s: neither a threshold nor a PromQL condition", p.Name)
			case th.GetComparison() == monitoringpb.ComparisonType_COMPARISON_UNSPECIFIED:
				t.Errorf("%s: no comparison", p.Name)
			case th.GetDuration() == nil || th.GetDuration().AsDuration()%time.Minute != 0:
				t.Errorf("%s: duration %v, want whole minutes", p.Name, th.GetDuration())
			case th.GetTrigger().GetCount() != 1:
				t.Errorf("%s: trigger %v, want one time series", p.Name, th.GetTrigger())
			case th.GetThresholdValue() <= 0:
				t.Errorf("%s: threshold %v", p.Name, th.GetThresholdValue())
			}
			if c.GetDisplayName() == "" {
				t.Errorf("%s: condition without a display name (required)", p.Name)
			}
		}
		if policy.GetSeverity() == monitoringpb.AlertPolicy_SEVERITY_UNSPECIFIED {
			t.Errorf("%s: no severity", p.Name)
		}
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// The rules above, on combinations the API refuses.
func TestAggregationRulesRefuseWhatTheAPIRefuses(t *testing.T) {
	for _, c := range []struct {
		aligner, kind, valueType string
		ok                       bool
	}{
		{"ALIGN_RATE", "DELTA", "INT64", true},
		{"ALIGN_RATE", "DELTA", "DISTRIBUTION", false}, // rates are of numbers
		{"ALIGN_RATE", "GAUGE", "DOUBLE", false},       // a gauge has no rate
		{"ALIGN_PERCENTILE_95", "CUMULATIVE", "DISTRIBUTION", false},
		{"ALIGN_DELTA", "CUMULATIVE", "DISTRIBUTION", true},
		{"ALIGN_NEXT_OLDER", "DELTA", "INT64", false},
		{"ALIGN_MEAN", "GAUGE", "BOOL", false},
	} {
		if _, _, ok := alignedTo(c.aligner, c.kind, c.valueType); ok != c.ok {
			t.Errorf("%s on %s %s: valid %v, want %v", c.aligner, c.kind, c.valueType, ok, c.ok)
		}
	}
	for _, c := range []struct {
		reducer, kind, valueType string
		ok                       bool
	}{
		{"REDUCE_SUM", "GAUGE", "DOUBLE", true},
		{"REDUCE_SUM", "CUMULATIVE", "INT64", false}, // align first
		{"REDUCE_COUNT_FALSE", "GAUGE", "DOUBLE", false},
		{"REDUCE_MAX", "DELTA", "DISTRIBUTION", false},
		{"REDUCE_PERCENTILE_95", "DELTA", "DISTRIBUTION", true},
	} {
		if ok := reducerFits(c.reducer, c.kind, c.valueType); ok != c.ok {
			t.Errorf("%s on %s %s: valid %v, want %v", c.reducer, c.kind, c.valueType, ok, c.ok)
		}
	}
}

func TestInstrumentsFileIsReadInEitherLayout(t *testing.T) {
	want := []string{"workload.googleapis.com/a", "workload.googleapis.com/b"}
	for _, doc := range []string{
		`["workload.googleapis.com/b", "workload.googleapis.com/a"]`,
		`{"instruments": [{"metricType": "workload.googleapis.com/a", "kind": "counter"}, {"type": "workload.googleapis.com/b"}]}`,
	} {
		if got := metricTypesIn([]byte(doc)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %v, want %v", doc, got, want)
		}
	}
}
