package infra

import (
	"fmt"
	"math"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/monitoring"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Alert thresholds. Each alert's documentation (and the README) says what crossing it means.
const (
	// LB5xxRatioThreshold: more than 5% of the load balancer's answers are 5xx for 5 minutes.
	LB5xxRatioThreshold = 0.05
	// LBLatencyP95ThresholdMs: the 95th percentile of the load balancer's total latency (the
	// user's view; WebSocket upgrades left out) above 1 s for 5 minutes. The slow backend takes
	// SLOW_BACKEND_DELAY (300 ms) per uncached report, so 1 s means more than slowness by design.
	LBLatencyP95ThresholdMs = 1000
	// RedisMemoryRatioThreshold: Memorystore's used memory above 80% of maxmemory.
	RedisMemoryRatioThreshold = 0.8
	// AffinityMovedRatioThreshold: more than 20% of signed-in requests reach another instance
	// than the session's previous one, for 10 minutes. With affinity holding the ratio stays
	// near 0 (the affinity lab: 0 moves without a kill, 4 of 5830 requests with one).
	AffinityMovedRatioThreshold = 0.2
	// BurnRateThreshold over BurnRateLookback is the fast-burn alert on the availability SLO:
	// a burn rate of 10 spends a 28-day error budget in 2.8 days, 1.5% of it per hour. Google's
	// Cloud Monitoring guide suggests a short lookback with a high threshold for fast burns
	// (cloud.google.com/stackdriver/docs/solutions/slo-monitoring/alerting-on-budget-burn-rate);
	// the SRE workbook's page-worthy fast burn is 2% of the budget in 1 hour, 14.4 for 30 days,
	// 13.4 for 28 (sre.google/workbook/alerting-on-slos). 10 pages a little earlier than that.
	BurnRateThreshold = 10
	BurnRateLookback  = "3600s"
	// SLOWindowDays is the availability SLO's rolling window: four whole weeks, so every
	// weekday weighs the same.
	SLOWindowDays = 28
)

// SLOGoalMin and SLOGoalMax bound the availability goal: below 90% an SLO says little, and the
// API accepts `0 < goal <= 0.9999` (ServiceLevelObjective.goal in google/monitoring/v3).
const (
	SLOGoalMin = 0.9
	SLOGoalMax = 0.9999
)

// Uptime check: HTTPS GET of /health on the load balancer's host. Public paths never end in
// "z" (Cloud Run reserves some of them; the in-instance probes use /healthz); /health is the
// app's public twin of the liveness probe and answers {"status":"ok"} without touching a data
// store.
const (
	UptimeCheckPath    = "/health"
	uptimeCheckContent = `"status":"ok"`
	uptimeCheckPeriod  = "60s"
	uptimeCheckTimeout = "10s"
)

// UptimeCheckRegions are the checker regions (UptimeCheckRegion in google/monitoring/v3):
// four continents' worth, at least the three locations the API requires.
var UptimeCheckRegions = []string{"USA_VIRGINIA", "USA_OREGON", "EUROPE", "ASIA_PACIFIC"}

// alertAutoClose closes an incident whose condition stopped being met and saw no data since.
const alertAutoClose = "1800s"

// Monitoring is what a user needs to see whether session affinity pays off in production: a
// dashboard of the load balancer, Cloud Run, the app's affinity metrics, Redis and Firestore;
// alert policies (5xx ratio, p95 latency, Redis memory, affinity churn, uptime, SLO burn rate);
// an uptime check; an availability SLO; and an email notification channel per address.
type Monitoring struct {
	pulumi.ResourceState
	// DashboardURL opens the dashboard in the Google Cloud console.
	DashboardURL pulumi.StringOutput `pulumi:"dashboardUrl"`
	// SLOName is the SLO's resource name (projects/P/services/S/serviceLevelObjectives/ID).
	SLOName pulumi.StringOutput `pulumi:"sloName"`
}

// MonitoringArgs configures the monitoring. The inputs name the stack's own resources, so
// nothing mixes in another stack of the same project.
type MonitoringArgs struct {
	Project string
	// Title starts every display name (e.g. "cloudrun-affinity dev").
	Title string

	ServiceNames       []pulumi.StringInput // the Cloud Run services, one per region
	URLMapName         pulumi.StringInput   // the load balancer's HTTPS URL map
	ForwardingRuleName pulumi.StringInput   // the load balancer's HTTPS forwarding rule
	Host               pulumi.StringInput   // the load balancer's host name, for the uptime check
	RedisInstanceIDs   []pulumi.StringInput // projects/P/locations/R/instances/N, one per region
	FirestoreDatabase  pulumi.StringInput   // database id

	// AlertEmails get one email notification channel each; empty means alert policies
	// without channels (incidents show in the console only).
	AlertEmails []string
	// SLOGoal is the availability objective, SLOGoalMin..SLOGoalMax.
	SLOGoal float64

	Labels    map[string]string // see StackLabels
	DependsOn []pulumi.Resource
}

// ValidEmail reports whether s is a bare email address (no display name, no angle brackets).
func ValidEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".") && !strings.ContainsAny(s, " \t\r\n")
}

// EmailProblems lists what is wrong with a list of alert email addresses.
func EmailProblems(emails []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, e := range emails {
		switch key := strings.ToLower(e); {
		case !ValidEmail(e):
			out = append(out, fmt.Sprintf("%q is not an email address; use NAME@DOMAIN, e.g. oncall@example.com", e))
		case seen[key]:
			out = append(out, fmt.Sprintf("%q is listed twice", e))
		default:
			seen[key] = true
		}
	}
	return out
}

// Validate checks every field.
func (a MonitoringArgs) Validate() error {
	var p problems
	if a.Project == "" {
		p.addf("Project is required (the Google Cloud project id)")
	}
	if strings.TrimSpace(a.Title) == "" {
		p.addf("Title is required (it starts every display name, e.g. \"cloudrun-affinity dev\")")
	}
	p.required(map[string]pulumi.Input{
		"URLMapName": a.URLMapName, "ForwardingRuleName": a.ForwardingRuleName,
		"Host": a.Host, "FirestoreDatabase": a.FirestoreDatabase,
	})
	for name, list := range map[string][]pulumi.StringInput{"ServiceNames": a.ServiceNames, "RedisInstanceIDs": a.RedisInstanceIDs} {
		if len(list) == 0 || slices.Contains(list, nil) {
			p.addf("%s is required: one per region", name)
		}
	}
	for _, msg := range EmailProblems(a.AlertEmails) {
		p.addf("AlertEmails: %s", msg)
	}
	if math.IsNaN(a.SLOGoal) || a.SLOGoal < SLOGoalMin || a.SLOGoal > SLOGoalMax {
		p.addf("SLOGoal %v is out of range; use %v..%v (the SLO API accepts at most %v)", a.SLOGoal, SLOGoalMin, SLOGoalMax, SLOGoalMax)
	}
	labelsProblems(&p, a.Labels)
	return p.err()
}

// emailResourceName is the logical name of an address's channel: stable when the list is
// reordered, so adding an address never replaces another's channel.
var nonNameChars = regexp.MustCompile(`[^a-z0-9]+`)

func emailResourceName(name, email string) string {
	return name + "-email-" + strings.Trim(nonNameChars.ReplaceAllString(strings.ToLower(email), "-"), "-")
}

// NewMonitoring creates the monitoring resources.
func NewMonitoring(ctx *pulumi.Context, name string, args MonitoringArgs, opts ...pulumi.ResourceOption) (*Monitoring, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("monitoring %q: %w", name, err)
	}
	c := &Monitoring{}
	if err := ctx.RegisterComponentResource(typePrefix+"Monitoring", name, c, opts...); err != nil {
		return nil, err
	}
	// Every child waits for monitoring.googleapis.com through DependsOn (see ChildOptions).
	child := func() []pulumi.ResourceOption { return ChildOptions(c, args.DependsOn) }
	labels := labelsInput(args.Labels)
	project := pulumi.String(args.Project)

	var channels pulumi.StringArray
	for _, email := range args.AlertEmails {
		ch, err := monitoring.NewNotificationChannel(ctx, emailResourceName(name, email), &monitoring.NotificationChannelArgs{
			Project:     project,
			Type:        pulumi.String("email"),
			DisplayName: pulumi.Sprintf("%s alerts: %s", args.Title, email),
			// labels are the channel type's settings; userLabels are the resource's labels.
			Labels:     pulumi.StringMap{"email_address": pulumi.String(email)},
			UserLabels: labels,
		}, child()...)
		if err != nil {
			return nil, err
		}
		channels = append(channels, ch.Name)
	}

	// No ID is set anywhere here: Monitoring generates uptime check, service and SLO ids, so a
	// replacement never collides with the resource it replaces.
	uptime, err := monitoring.NewUptimeCheckConfig(ctx, name+"-uptime", &monitoring.UptimeCheckConfigArgs{
		Project:     project,
		DisplayName: pulumi.Sprintf("%s: HTTPS %s", args.Title, UptimeCheckPath),
		// project_id is set although the API fills it in: labels are ForceNew, and the
		// provider's diff suppression for an unset project_id is all that would keep the
		// check from being replaced.
		MonitoredResource: &monitoring.UptimeCheckConfigMonitoredResourceArgs{
			Type:   pulumi.String(resourceUptime),
			Labels: pulumi.StringMap{"project_id": project, "host": args.Host},
		},
		HttpCheck: &monitoring.UptimeCheckConfigHttpCheckArgs{
			Path:          pulumi.String(UptimeCheckPath),
			Port:          pulumi.Int(443),
			UseSsl:        pulumi.Bool(true),
			ValidateSsl:   pulumi.Bool(true),
			RequestMethod: pulumi.String("GET"),
			AcceptedResponseStatusCodes: monitoring.UptimeCheckConfigHttpCheckAcceptedResponseStatusCodeArray{
				&monitoring.UptimeCheckConfigHttpCheckAcceptedResponseStatusCodeArgs{StatusValue: pulumi.Int(200)},
			},
		},
		ContentMatchers: monitoring.UptimeCheckConfigContentMatcherArray{
			&monitoring.UptimeCheckConfigContentMatcherArgs{
				Content: pulumi.String(uptimeCheckContent),
				Matcher: pulumi.String("CONTAINS_STRING"),
			},
		},
		SelectedRegions: pulumi.ToStringArray(UptimeCheckRegions),
		CheckerType:     pulumi.String("STATIC_IP_CHECKERS"),
		Period:          pulumi.String(uptimeCheckPeriod),
		Timeout:         pulumi.String(uptimeCheckTimeout),
		UserLabels:      labels,
	}, child()...)
	if err != nil {
		return nil, err
	}

	watch := pulumi.All(pulumi.StringArray(args.ServiceNames), args.URLMapName, args.ForwardingRuleName,
		pulumi.StringArray(args.RedisInstanceIDs), args.FirestoreDatabase, uptime.UptimeCheckId).ApplyT(func(v []any) watched {
		return watched{
			services: v[0].([]string), urlMap: v[1].(string), forwardingRule: v[2].(string),
			redisInstances: v[3].([]string), database: v[4].(string), uptimeCheckID: v[5].(string),
		}
	})
	// watch is an AnyOutput (ApplyT has no output type for watched): appliers take any.
	filter := func(f func(watched) string) pulumi.StringOutput {
		return watch.ApplyT(func(w any) string { return f(w.(watched)) }).(pulumi.StringOutput)
	}

	// The availability SLO: the share of the load balancer's requests that are not 5xx, on a
	// custom service (the stack is no GKE/App Engine/Istio service Monitoring discovers).
	svc, err := monitoring.NewCustomService(ctx, name+"-service", &monitoring.CustomServiceArgs{
		Project:     project,
		DisplayName: pulumi.String(args.Title),
		UserLabels:  labels,
	}, child()...)
	if err != nil {
		return nil, err
	}
	slo, err := monitoring.NewSlo(ctx, name+"-availability", &monitoring.SloArgs{
		Project:           project,
		Service:           svc.ServiceId,
		DisplayName:       pulumi.Sprintf("%s: %s%% of requests not 5xx over %d days", args.Title, pct(args.SLOGoal), SLOWindowDays),
		Goal:              pulumi.Float64(args.SLOGoal),
		RollingPeriodDays: pulumi.Int(SLOWindowDays),
		RequestBasedSli: &monitoring.SloRequestBasedSliArgs{
			GoodTotalRatio: &monitoring.SloRequestBasedSliGoodTotalRatioArgs{
				GoodServiceFilter:  filter(func(w watched) string { return w.lb(MetricLBRequestCount, lbNot5xx) }),
				TotalServiceFilter: filter(func(w watched) string { return w.lb(MetricLBRequestCount) }),
			},
		},
		UserLabels: labels,
	}, child()...)
	if err != nil {
		return nil, err
	}

	for _, a := range alerts(args, filter, slo.Name) {
		if _, err := monitoring.NewAlertPolicy(ctx, name+"-"+a.suffix, &monitoring.AlertPolicyArgs{
			Project:     project,
			DisplayName: pulumi.Sprintf("%s: %s", args.Title, a.title),
			Combiner:    pulumi.String("OR"),
			Severity:    pulumi.String(a.severity),
			Conditions: monitoring.AlertPolicyConditionArray{&monitoring.AlertPolicyConditionArgs{
				DisplayName:                      pulumi.String(a.title),
				ConditionThreshold:               a.condition,
				ConditionPrometheusQueryLanguage: a.promql,
			}},
			Documentation: &monitoring.AlertPolicyDocumentationArgs{
				Subject:  pulumi.Sprintf("%s: %s", args.Title, a.title),
				Content:  pulumi.String(a.doc),
				MimeType: pulumi.String("text/markdown"),
			},
			AlertStrategy:        &monitoring.AlertPolicyAlertStrategyArgs{AutoClose: pulumi.String(alertAutoClose)},
			NotificationChannels: channels,
			UserLabels:           labels,
		}, child()...); err != nil {
			return nil, err
		}
	}

	dash, err := monitoring.NewDashboard(ctx, name, &monitoring.DashboardArgs{
		Project: project,
		DashboardJson: watch.ApplyT(func(w any) (string, error) {
			return dashboardJSON(args.Title, w.(watched), args.Labels)
		}).(pulumi.StringOutput),
	}, child()...)
	if err != nil {
		return nil, err
	}

	c.DashboardURL = dash.ID().ToStringOutput().ApplyT(func(id string) string { return DashboardURL(args.Project, id) }).(pulumi.StringOutput)
	c.SLOName = slo.Name
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"dashboardUrl": c.DashboardURL, "sloName": c.SLOName})
}

// DashboardURL is the console address of a dashboard, from its resource name
// (projects/NUMBER/dashboards/ID, the provider's id): the form the console opens custom
// dashboards at, console.cloud.google.com/monitoring/dashboards/builder/ID?project=PROJECT.
func DashboardURL(project, name string) string {
	id := name[strings.LastIndexByte(name, '/')+1:]
	return fmt.Sprintf("https://console.cloud.google.com/monitoring/dashboards/builder/%s?project=%s", id, project)
}

// pct renders a fraction as a percentage without float noise (0.999 -> "99.9").
func pct(f float64) string { return strconv.FormatFloat(math.Round(f*1e6)/1e4, 'f', -1, 64) }

// alertPolicy is one alert: a threshold condition and what to do when it fires.
type alertPolicy struct {
	suffix, title, severity, doc string
	condition                    *monitoring.AlertPolicyConditionConditionThresholdArgs
	promql                       *monitoring.AlertPolicyConditionConditionPrometheusQueryLanguageArgs
}

func threshold1(alignment, aligner, reducer string) monitoring.AlertPolicyConditionConditionThresholdAggregationArray {
	return monitoring.AlertPolicyConditionConditionThresholdAggregationArray{
		&monitoring.AlertPolicyConditionConditionThresholdAggregationArgs{
			AlignmentPeriod:    pulumi.String(alignment),
			PerSeriesAligner:   pulumi.String(aligner),
			CrossSeriesReducer: pulumi.String(reducer),
		},
	}
}

func denominator1(alignment, aligner, reducer string) monitoring.AlertPolicyConditionConditionThresholdDenominatorAggregationArray {
	return monitoring.AlertPolicyConditionConditionThresholdDenominatorAggregationArray{
		&monitoring.AlertPolicyConditionConditionThresholdDenominatorAggregationArgs{
			AlignmentPeriod:    pulumi.String(alignment),
			PerSeriesAligner:   pulumi.String(aligner),
			CrossSeriesReducer: pulumi.String(reducer),
		},
	}
}

var triggerOnce = &monitoring.AlertPolicyConditionConditionThresholdTriggerArgs{Count: pulumi.Int(1)}

// alerts are the stack's alert policies. Ratios (5xx, affinity moved) are a filter over a
// denominatorFilter, both summed across series so the ratio is of the whole service.
func alerts(args MonitoringArgs, filter func(func(watched) string) pulumi.StringOutput, sloName pulumi.StringOutput) []alertPolicy {
	return []alertPolicy{
		{
			suffix: "lb-5xx", severity: "ERROR",
			title: fmt.Sprintf("load balancer 5xx ratio above %s%%", pct(LB5xxRatioThreshold)),
			doc: fmt.Sprintf(`More than %s%% of the requests the load balancer answered in the last 5 minutes were 5xx (its own 502/503s included, e.g. when no instance could take the request).

What to do: open the dashboard (stack output dashboardUrl) and compare the Cloud Run charts: if instances are at maxInstances or CPU is saturated, raise maxInstances or concurrency; if Redis or Firestore latency rose at the same time, check those first (the app answers 503 naming the failing store). Cloud Run's logs (resource cloud_run_revision, severity>=ERROR) show the failing requests.`, pct(LB5xxRatioThreshold)),
			condition: &monitoring.AlertPolicyConditionConditionThresholdArgs{
				Filter:                  filter(func(w watched) string { return w.lb(MetricLBRequestCount, lb5xx) }),
				DenominatorFilter:       filter(func(w watched) string { return w.lb(MetricLBRequestCount) }),
				Aggregations:            threshold1("300s", "ALIGN_RATE", "REDUCE_SUM"),
				DenominatorAggregations: denominator1("300s", "ALIGN_RATE", "REDUCE_SUM"),
				Comparison:              pulumi.String("COMPARISON_GT"),
				ThresholdValue:          pulumi.Float64(LB5xxRatioThreshold),
				Duration:                pulumi.String("300s"),
				Trigger:                 triggerOnce,
			},
		},
		{
			suffix: "lb-latency", severity: "WARNING",
			title: fmt.Sprintf("load balancer p95 latency above %d ms", LBLatencyP95ThresholdMs),
			doc: fmt.Sprintf(`The 95th percentile of the load balancer's total latency (first byte in to last byte out, as users see it; WebSocket upgrades left out) has been above %d ms for 5 minutes.

What to do: on the dashboard, a falling report cache hit ratio and a rising affinity moved ratio mean requests miss the per-instance cache (each miss costs the slow backend's delay): look for instance churn (Cloud Run instances by state). High CPU utilization means instances are overloaded: raise maxInstances or lower concurrency. Slow session store or Firestore calls (app charts) point at Redis or Firestore.`, LBLatencyP95ThresholdMs),
			condition: &monitoring.AlertPolicyConditionConditionThresholdArgs{
				Filter:         filter(func(w watched) string { return w.lb(MetricLBTotalLatencies, lbNotWebSocket) }),
				Aggregations:   threshold1("300s", "ALIGN_DELTA", "REDUCE_PERCENTILE_95"),
				Comparison:     pulumi.String("COMPARISON_GT"),
				ThresholdValue: pulumi.Float64(LBLatencyP95ThresholdMs),
				Duration:       pulumi.String("300s"),
				Trigger:        triggerOnce,
			},
		},
		{
			suffix: "redis-memory", severity: "WARNING",
			title: fmt.Sprintf("Redis memory usage above %s%%", pct(RedisMemoryRatioThreshold)),
			doc: fmt.Sprintf(`Memorystore's memory usage ratio (used memory / maxmemory) has been above %v for 5 minutes. Near 1, Redis evicts keys or refuses writes: users are signed out and sign-ins fail.

What to do: check how many sessions there are (connected clients and commands on the dashboard; SESSION_TTL bounds how long each lives), then raise redisSizeGb (an in-place resize) or shorten SESSION_TTL; with RDB snapshots on, Redis also needs headroom to write them.`, RedisMemoryRatioThreshold),
			condition: &monitoring.AlertPolicyConditionConditionThresholdArgs{
				Filter:         filter(func(w watched) string { return w.redis(MetricRedisMemoryUsageRatio) }),
				Aggregations:   threshold1("300s", "ALIGN_MAX", "REDUCE_MAX"),
				Comparison:     pulumi.String("COMPARISON_GT"),
				ThresholdValue: pulumi.Float64(RedisMemoryRatioThreshold),
				Duration:       pulumi.String("300s"),
				Trigger:        triggerOnce,
			},
		},
		{
			suffix: "affinity-moved", severity: "WARNING",
			title: fmt.Sprintf("affinity broken: above %s%% of signed-in requests moved instance", pct(AffinityMovedRatioThreshold)),
			doc: fmt.Sprintf(`For 10 minutes more than %s%% of signed-in requests were served by another instance than the session's previous request (the app's affinity metric). Nothing is lost when this happens (sessions are in Redis, carts in Firestore), but the per-instance cache stops paying off and latency rises.

What to do: look at Cloud Run instances by state on the dashboard. Instances coming and going (scale in and out, a rollout, crashes) move clients: set minInstances to the steady load, or raise concurrency so fewer instances serve the same traffic. A steady instance count with a high moved ratio means the GAESA cookie is not honoured: check the lbAffinity setting and the verify-deployment affinity check.`, pct(AffinityMovedRatioThreshold)),
			// PromQL, not a metric threshold: creating a threshold alert on a
			// workload.googleapis.com metric the app has not written yet fails with 404
			// "Cannot find metric(s) that match type" (so a stack's first pulumi up would fail;
			// github.com/world-federation-of-advertisers/cross-media-measurement/issues/4350),
			// and only a PromQL condition can turn that check off (disableMetricValidation
			// "allows alerting policies to be defined on metrics that do not yet exist").
			promql: &monitoring.AlertPolicyConditionConditionPrometheusQueryLanguageArgs{
				Query: filter(func(w watched) string {
					return fmt.Sprintf("%s / %s > %v", w.appRate(MetricAppAffinityRequests, "10m", `outcome="moved"`),
						w.appRate(MetricAppAffinityRequests, "10m"), AffinityMovedRatioThreshold)
				}),
				Duration:                pulumi.String("600s"),
				EvaluationInterval:      pulumi.String("60s"),
				DisableMetricValidation: pulumi.Bool(true),
			},
		},
		{
			suffix: "uptime", severity: "CRITICAL",
			title: fmt.Sprintf("uptime check of %s failing", UptimeCheckPath),
			doc: fmt.Sprintf(`HTTPS GET %s on the load balancer's host failed (not 200, no {"status":"ok"}, an invalid certificate, or a timeout) from more than one checker location.

What to do: open the stack's url. A certificate error right after the first pulumi up is expected until the Google-managed certificate is ACTIVE (gcloud compute ssl-certificates describe, stack output certificate; up to about an hour once DNS points at ipAddress). Otherwise check the Cloud Run service's revisions and logs, and run go run ./app/cmd/verify-deployment URL.`, UptimeCheckPath),
			// Google's uptime alert: the number of failing checker locations, per check
			// (cloud.google.com/monitoring/uptime-checks#create-alert).
			condition: &monitoring.AlertPolicyConditionConditionThresholdArgs{
				Filter: filter(func(w watched) string { return w.uptime() }),
				Aggregations: monitoring.AlertPolicyConditionConditionThresholdAggregationArray{
					&monitoring.AlertPolicyConditionConditionThresholdAggregationArgs{
						AlignmentPeriod:    pulumi.String("1200s"),
						PerSeriesAligner:   pulumi.String("ALIGN_NEXT_OLDER"),
						CrossSeriesReducer: pulumi.String("REDUCE_COUNT_FALSE"),
						GroupByFields:      pulumi.StringArray{pulumi.String("resource.label.host")},
					},
				},
				Comparison:     pulumi.String("COMPARISON_GT"),
				ThresholdValue: pulumi.Float64(1),
				Duration:       pulumi.String("60s"),
				Trigger:        triggerOnce,
			},
		},
		{
			suffix: "slo-burn", severity: "CRITICAL",
			title: fmt.Sprintf("availability SLO burning its error budget %dx too fast", BurnRateThreshold),
			doc: fmt.Sprintf(`Over the last hour the share of 5xx answers consumed the availability SLO's error budget (%s%% of requests over %d days) %d times faster than the SLO allows: at this rate the whole budget is gone in %.1f days.

What to do: treat it like the 5xx alert (which usually fires too): find what fails on the dashboard, roll back a bad revision (gcloud run services update-traffic --to-revisions=PREVIOUS=100) or fix the failing dependency. The SLO and its remaining budget are under Monitoring > SLOs.`, pct(1-args.SLOGoal), SLOWindowDays, BurnRateThreshold, float64(SLOWindowDays)/BurnRateThreshold),
			// An SLO condition sets only filter, comparison, threshold, duration and trigger
			// (cloud.google.com/stackdriver/docs/solutions/slo-monitoring/api/create-policy-api).
			condition: &monitoring.AlertPolicyConditionConditionThresholdArgs{
				Filter:         sloName.ApplyT(func(n string) string { return fmt.Sprintf("select_slo_burn_rate(%q, %q)", n, BurnRateLookback) }).(pulumi.StringOutput),
				Comparison:     pulumi.String("COMPARISON_GT"),
				ThresholdValue: pulumi.Float64(BurnRateThreshold),
				Duration:       pulumi.String("60s"),
				Trigger:        triggerOnce,
			},
		},
	}
}
