package infra

import (
	"encoding/json"
	"fmt"
)

// The dashboard JSON (cloud.google.com/monitoring/api/ref_v3/rest/v1/projects.dashboards),
// written in the form the API returns it: proto JSON field names, enum names, and no field at
// its default value (0, "", false, an empty list). pulumi-gcp's diff suppression for
// dashboardJson (monitoringDashboardDiffSuppress in terraform-provider-google-beta) ignores keys
// the API adds (name, etag, defaults it fills in) but not keys of ours that it drops: a "xPos": 0
// or "unitOverride": "" would show a diff on every preview. The tests unmarshal the JSON into
// the official dashboardpb.Dashboard with unknown fields refused and require that marshalling
// it back gives the same document.

type dashboardDoc struct {
	DisplayName  string            `json:"displayName"`
	Labels       map[string]string `json:"labels,omitempty"`
	MosaicLayout mosaicLayout      `json:"mosaicLayout"`
}

type mosaicLayout struct {
	Columns int    `json:"columns"`
	Tiles   []tile `json:"tiles"`
}

type tile struct {
	XPos   int    `json:"xPos,omitempty"`
	YPos   int    `json:"yPos,omitempty"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Widget widget `json:"widget"`
}

type widget struct {
	Title         string         `json:"title,omitempty"`
	XYChart       *xyChart       `json:"xyChart,omitempty"`
	Text          *text          `json:"text,omitempty"`
	SectionHeader *sectionHeader `json:"sectionHeader,omitempty"`
}

type sectionHeader struct {
	Subtitle     string `json:"subtitle,omitempty"`
	DividerBelow bool   `json:"dividerBelow,omitempty"`
}

type text struct {
	Content string `json:"content"`
	Format  string `json:"format"`
}

type xyChart struct {
	DataSets   []dataSet   `json:"dataSets"`
	Thresholds []threshold `json:"thresholds,omitempty"`
	YAxis      *axis       `json:"yAxis,omitempty"`
}

type axis struct {
	Label string `json:"label,omitempty"`
	Scale string `json:"scale,omitempty"`
}

type threshold struct {
	Label     string  `json:"label,omitempty"`
	Value     float64 `json:"value"`
	Color     string  `json:"color,omitempty"`
	Direction string  `json:"direction,omitempty"`
}

type dataSet struct {
	TimeSeriesQuery timeSeriesQuery `json:"timeSeriesQuery"`
	PlotType        string          `json:"plotType"`
	LegendTemplate  string          `json:"legendTemplate,omitempty"`
}

type timeSeriesQuery struct {
	TimeSeriesFilter      *seriesFilter `json:"timeSeriesFilter,omitempty"`
	TimeSeriesFilterRatio *seriesRatio  `json:"timeSeriesFilterRatio,omitempty"`
	UnitOverride          string        `json:"unitOverride,omitempty"`
}

type seriesFilter struct {
	Filter      string      `json:"filter"`
	Aggregation aggregation `json:"aggregation"`
}

type seriesRatio struct {
	Numerator   seriesFilter `json:"numerator"`
	Denominator seriesFilter `json:"denominator"`
}

type aggregation struct {
	AlignmentPeriod    string   `json:"alignmentPeriod,omitempty"`
	PerSeriesAligner   string   `json:"perSeriesAligner,omitempty"`
	CrossSeriesReducer string   `json:"crossSeriesReducer,omitempty"`
	GroupByFields      []string `json:"groupByFields,omitempty"`
}

// chartPeriod is the alignment of every chart: the 60 s sampling of most of these metrics.
const chartPeriod = "60s"

// Aggregations the charts use. Rates of counters are per second; distributions are merged
// across series (ALIGN_DELTA, then a percentile reducer) so a percentile is of all requests,
// not of per-instance percentiles.
func rateSum(groupBy ...string) aggregation {
	return aggregation{AlignmentPeriod: chartPeriod, PerSeriesAligner: "ALIGN_RATE", CrossSeriesReducer: "REDUCE_SUM", GroupByFields: groupBy}
}

func percentile(p string, groupBy ...string) aggregation {
	return aggregation{AlignmentPeriod: chartPeriod, PerSeriesAligner: "ALIGN_DELTA", CrossSeriesReducer: "REDUCE_PERCENTILE_" + p, GroupByFields: groupBy}
}

func gauge(aligner, reducer string, groupBy ...string) aggregation {
	return aggregation{AlignmentPeriod: chartPeriod, PerSeriesAligner: aligner, CrossSeriesReducer: reducer, GroupByFields: groupBy}
}

func line(filter string, agg aggregation, legend string) dataSet {
	return dataSet{
		TimeSeriesQuery: timeSeriesQuery{TimeSeriesFilter: &seriesFilter{Filter: filter, Aggregation: agg}},
		PlotType:        "LINE",
		LegendTemplate:  legend,
	}
}

// ratio charts numerator/denominator, both as summed rates: a fraction from 0 to 1.
func ratio(numerator, denominator, legend string) dataSet {
	return dataSet{
		TimeSeriesQuery: timeSeriesQuery{TimeSeriesFilterRatio: &seriesRatio{
			Numerator:   seriesFilter{Filter: numerator, Aggregation: rateSum()},
			Denominator: seriesFilter{Filter: denominator, Aggregation: rateSum()},
		}},
		PlotType:       "LINE",
		LegendTemplate: legend,
	}
}

func percentiles(filter string, groupBy ...string) []dataSet {
	var out []dataSet
	for _, p := range []string{"50", "95", "99"} {
		legend := "p" + p
		if len(groupBy) > 0 {
			legend = fmt.Sprintf("p%s ${%s}", p, groupBy[0])
		}
		out = append(out, line(filter, percentile(p, groupBy...), legend))
	}
	return out
}

func chart(title, yLabel string, sets []dataSet, limits ...threshold) widget {
	return widget{Title: title, XYChart: &xyChart{DataSets: sets, Thresholds: limits, YAxis: &axis{Label: yLabel, Scale: "LINEAR"}}}
}

func above(label string, value float64) threshold {
	return threshold{Label: label, Value: value, Color: "RED", Direction: "ABOVE"}
}

// dashboardColumns is the mosaic layout's width; every row here is two charts of 24, or a full
// width header or text.
const dashboardColumns = 48

// affinityGuide is the dashboard's own answer to "is affinity working?" (README, Monitoring).
const affinityGuide = `**Is session affinity paying off?** Read the four app charts together:

- **Affinity: moved ratio** near 0: signed-in requests keep reaching the instance that served the session before. It rises when instances start, stop, hit max concurrency or scale in.
- **Report cache hit ratio** high (the lab reaches the physical limit, about 99%, with affinity and about 1/N of it without): the per-instance cache works because clients come back to it.
- **WebSocket reconnects to another instance** near 0 outside deployments: sockets that drop (Cloud Run ends them after 3600 s) come back to the same instance.
- **Cloud Run instance count** steady: churn (instances coming and going) is what moves clients.

A moved ratio that rises together with a falling hit ratio while instances churn means affinity is being broken by scaling, not by the load balancer; a high moved ratio with a steady instance count means the cookie is not honoured (compare lbAffinity gaesa and none).`

// dashboardJSON is the stack's dashboard.
func dashboardJSON(title string, w watched, labels map[string]string) (string, error) {
	type row struct {
		height int
		left   widget
		right  *widget
	}
	section := func(title, subtitle string) row {
		return row{height: 2, left: widget{Title: title, SectionHeader: &sectionHeader{Subtitle: subtitle, DividerBelow: true}}}
	}
	pair := func(l, r widget) row { return row{height: 16, left: l, right: &r} }

	lbAll := w.lb(MetricLBRequestCount)
	affinity := w.app(MetricAppAffinityRequests)
	rows := []row{
		{height: 10, left: widget{Title: "Is affinity working?", Text: &text{Content: affinityGuide, Format: "MARKDOWN"}}},
		section("Load balancer", "requests through the stack's HTTPS forwarding rule"),
		pair(
			chart("Requests per second by response class", "requests/s",
				[]dataSet{line(lbAll, rateSum("metric.label.response_code_class"), "${metric.labels.response_code_class}")}),
			chart("5xx ratio", "fraction of requests",
				[]dataSet{ratio(w.lb(MetricLBRequestCount, lb5xx), lbAll, "5xx / all")},
				above("alert", LB5xxRatioThreshold)),
		),
		pair(
			chart("Latency percentiles (WebSocket upgrades excluded)", "ms",
				percentiles(w.lb(MetricLBTotalLatencies, lbNotWebSocket)),
				above("p95 alert", LBLatencyP95ThresholdMs)),
			chart("Cloud Run request latency (WebSockets excluded)", "ms",
				percentiles(w.run(MetricRunLatencies, runNotWebSocket))),
		),
		section("Cloud Run", "the stack's service, all revisions"),
		pair(
			chart("Instances by state", "instances",
				[]dataSet{line(w.run(MetricRunInstanceCount), gauge("ALIGN_MAX", "REDUCE_SUM", "metric.label.state"), "${metric.labels.state}")}),
			chart("CPU and memory utilization (p95 across instances)", "utilization",
				[]dataSet{
					line(w.run(MetricRunCPUUtilization), percentile("95"), "CPU p95"),
					line(w.run(MetricRunMemUtilization), percentile("95"), "memory p95"),
				}),
		),
		section("Session affinity (app metrics)", "exported by the app with OpenTelemetry; empty until the app exports them"),
		pair(
			chart("Affinity: moved ratio (signed-in requests on another instance than before)", "fraction of requests",
				[]dataSet{ratio(w.app(MetricAppAffinityRequests, label("metric", "outcome", "=", "moved")), affinity, "moved / all")},
				above("alert", AffinityMovedRatioThreshold)),
			chart("Report cache hit ratio", "fraction of /api/report",
				[]dataSet{ratio(w.app(MetricAppCacheRequests, label("metric", "result", "=", "hit")), w.app(MetricAppCacheRequests), "hits / all")}),
		),
		pair(
			chart("Open WebSockets", "sockets",
				[]dataSet{line(w.app(MetricAppWebSocketsOpen), gauge("ALIGN_MEAN", "REDUCE_SUM"), "open")}),
			chart("WebSocket connects by previous instance", "connects/s",
				[]dataSet{line(w.app(MetricAppWebSocketConnects), rateSum("metric.label.previous"), "${metric.labels.previous}")}),
		),
		pair(
			chart("App request duration p95 by route", "s",
				[]dataSet{line(w.app(MetricAppHTTPDuration), percentile("95", "metric.label.http_route"), "${metric.labels.http_route}")}),
			chart("Session store and Firestore call duration p95", "s",
				[]dataSet{
					line(w.app(MetricAppSessionStoreDuration), percentile("95", "metric.label.operation"), "session ${metric.labels.operation}"),
					line(w.app(MetricAppFirestoreDuration), percentile("95", "metric.label.operation"), "firestore ${metric.labels.operation}"),
				}),
		),
		section("Memorystore for Redis", "sessions and the cart fan-out"),
		pair(
			chart("Memory usage ratio", "fraction of maxmemory",
				[]dataSet{line(w.redis(MetricRedisMemoryUsageRatio), gauge("ALIGN_MAX", "REDUCE_MAX"), "usage ratio")},
				above("alert", RedisMemoryRatioThreshold)),
			chart("Connected clients and commands per second", "",
				[]dataSet{
					line(w.redis(MetricRedisClients), gauge("ALIGN_MEAN", "REDUCE_SUM"), "clients"),
					line(w.redis(MetricRedisCommands), rateSum(), "commands/s"),
				}),
		),
		section("Firestore", "the stack's database"),
		pair(
			chart("Document reads per second", "reads/s",
				[]dataSet{line(w.firestore(MetricFirestoreReads), rateSum("metric.label.type"), "${metric.labels.type}")}),
			chart("Document writes per second", "writes/s",
				[]dataSet{line(w.firestore(MetricFirestoreWrites), rateSum("metric.label.op"), "${metric.labels.op}")}),
		),
	}

	doc := dashboardDoc{DisplayName: title, Labels: labels, MosaicLayout: mosaicLayout{Columns: dashboardColumns}}
	y := 0
	for _, r := range rows {
		if r.right == nil {
			doc.MosaicLayout.Tiles = append(doc.MosaicLayout.Tiles, tile{YPos: y, Width: dashboardColumns, Height: r.height, Widget: r.left})
		} else {
			half := dashboardColumns / 2
			doc.MosaicLayout.Tiles = append(doc.MosaicLayout.Tiles,
				tile{YPos: y, Width: half, Height: r.height, Widget: r.left},
				tile{XPos: half, YPos: y, Width: half, Height: r.height, Widget: *r.right})
		}
		y += r.height
	}
	b, err := json.Marshal(doc)
	return string(b), err
}
