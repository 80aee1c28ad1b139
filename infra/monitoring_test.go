package infra_test

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

const (
	monitoringType    = "cloudrun-affinity:infra:Monitoring"
	dashboardType     = "gcp:monitoring/dashboard:Dashboard"
	alertPolicyType   = "gcp:monitoring/alertPolicy:AlertPolicy"
	channelType       = "gcp:monitoring/notificationChannel:NotificationChannel"
	uptimeCheckType   = "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig"
	customServiceType = "gcp:monitoring/customService:CustomService"
	sloType           = "gcp:monitoring/slo:Slo"

	testRedisID  = "projects/p-test/locations/europe-west1/instances/redis-1"
	testService  = "app-123"
	testURLMap   = "lb-urlmap-1"
	testFwdRule  = "lb-https-1"
	testDatabase = "affinity-test-abcdef"
)

var testEmails = []string{"oncall@example.com", "Shop.Team@example.com"}

func validMonitoringArgs() infra.MonitoringArgs {
	return infra.MonitoringArgs{
		Project: testProject, Title: "cloudrun-affinity test",
		ServiceNames: []pulumi.StringInput{pulumi.String(testService)}, URLMapName: pulumi.String(testURLMap),
		ForwardingRuleName: pulumi.String(testFwdRule), Host: pulumi.String("shop.example.com"),
		RedisInstanceIDs: []pulumi.StringInput{pulumi.String(testRedisID)}, FirestoreDatabase: pulumi.String(testDatabase),
		AlertEmails: testEmails, SLOGoal: 0.999, Labels: testLabels,
	}
}

func runMonitoring(t *testing.T, mode infratest.Mode, args infra.MonitoringArgs) (*infratest.Result, *infra.Monitoring) {
	t.Helper()
	var m *infra.Monitoring
	res := runComponent(t, mode, func(ctx *pulumi.Context, deps []pulumi.Resource) error {
		args.DependsOn = deps
		var err error
		m, err = infra.NewMonitoring(ctx, "monitoring", args)
		return err
	})
	return res, m
}

// monitoringRuns caches one run per mode: the tests only read them.
var monitoringRuns = map[infratest.Mode]*infratest.Result{}

func monitoringRun(t *testing.T, mode infratest.Mode) *infratest.Result {
	t.Helper()
	if res, ok := monitoringRuns[mode]; ok {
		return res
	}
	res, _ := runMonitoring(t, mode, validMonitoringArgs())
	monitoringRuns[mode] = res
	return res
}

func TestMonitoringCreatesDashboardAlertsUptimeCheckSLOAndChannelsWaitingForTheAPI(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res, m := runMonitoring(t, mode, validMonitoringArgs())
		checkParentedAndWaiting(t, res, monitoringType)
		counts := res.CountByType()
		for typ, want := range map[string]int{
			dashboardType: 1, alertPolicyType: 6, channelType: len(testEmails), uptimeCheckType: 1, customServiceType: 1, sloType: 1,
		} {
			if counts[typ] != want {
				t.Errorf("%d %s, want %d", counts[typ], typ, want)
			}
		}
		for _, r := range children(res) {
			if str(r, "project") != testProject {
				t.Errorf("%s %q: project %s", r.Type, r.Name, r.InputString("project"))
			}
			if r.HasInput("name") || r.HasInput("serviceId") || r.HasInput("sloId") {
				t.Errorf("%s %q sets its id; a replacement would collide with the resource it replaces", r.Type, r.Name)
			}
			if r.Type == dashboardType {
				continue // labels inside the JSON, see the dashboard test
			}
			got := map[string]string{}
			if v, ok := r.Input("userLabels"); ok && v.IsObject() {
				for k, e := range v.ObjectValue() {
					got[string(k)] = e.StringValue()
				}
			}
			if !reflect.DeepEqual(got, testLabels) {
				t.Errorf("%s %q userLabels %v, want %v", r.Type, r.Name, got, testLabels)
			}
		}

		// Registrations arrive in any order; the channels are listed in alertEmails' order.
		byEmail := map[string]infratest.Resource{}
		for _, ch := range res.OfType(channelType) {
			byEmail[str(ch, "labels.email_address")] = ch
		}
		var channelNames []string
		for _, email := range testEmails {
			ch, ok := byEmail[email]
			if !ok || str(ch, "type") != "email" {
				t.Errorf("no email channel to %s (channels %v)", email, byEmail)
				continue
			}
			if n, ok := ch.Output("name"); ok && mode == infratest.Update {
				channelNames = append(channelNames, n.StringValue())
			}
		}
		for _, p := range res.OfType(alertPolicyType) {
			if str(p, "documentation.content") == "" || str(p, "documentation.mimeType") != "text/markdown" || !strings.Contains(str(p, "documentation.content"), "What to do") {
				t.Errorf("alert %s has no documentation saying what it means and what to do", p.Name)
			}
			if str(p, "combiner") != "OR" || str(p, "severity") == "" || !strings.HasPrefix(str(p, "displayName"), "cloudrun-affinity test: ") {
				t.Errorf("alert %s: combiner %s severity %s displayName %s", p.Name, p.InputString("combiner"), p.InputString("severity"), p.InputString("displayName"))
			}
			if mode == infratest.Update {
				var got []string
				if v, ok := p.Input("notificationChannels"); ok {
					for _, e := range v.ArrayValue() {
						got = append(got, e.StringValue())
					}
				}
				if strings.Join(got, " ") != strings.Join(channelNames, " ") {
					t.Errorf("alert %s notifies %v, want every channel %v", p.Name, got, channelNames)
				}
			}
		}

		slo, svc := res.One(t, sloType), res.One(t, customServiceType)
		if !slo.DependsOn(svc.URN) || num(slo, "goal") != 0.999 || num(slo, "rollingPeriodDays") != 28 {
			t.Errorf("SLO: on the custom service %v, goal %s, window %s", slo.DependsOn(svc.URN), slo.InputString("goal"), slo.InputString("rollingPeriodDays"))
		}
		burn := res.Named(t, alertPolicyType, "monitoring-slo-burn")
		if !burn.DependsOn(slo.URN) {
			t.Errorf("burn-rate alert does not take the SLO's name")
		}
		if mode == infratest.Update {
			sloName, _ := slo.Output("name")
			want := `select_slo_burn_rate("` + sloName.StringValue() + `", "3600s")`
			if got := str(burn, "conditions[0].conditionThreshold.filter"); got != want {
				t.Errorf("burn-rate filter %q, want %q", got, want)
			}
			if num(burn, "conditions[0].conditionThreshold.thresholdValue") != infra.BurnRateThreshold || burn.HasInput("conditions[0].conditionThreshold.aggregations") {
				t.Errorf("burn-rate condition %s", burn.InputString("conditions[0].conditionThreshold"))
			}
			good := str(slo, "requestBasedSli.goodTotalRatio.goodServiceFilter")
			total := str(slo, "requestBasedSli.goodTotalRatio.totalServiceFilter")
			if good != total+` AND metric.label.response_code_class!="500"` || !strings.Contains(total, `resource.label.url_map_name="`+testURLMap+`"`) {
				t.Errorf("SLI good %q total %q: want the stack's LB requests, good = not 5xx", good, total)
			}

			dash := res.One(t, dashboardType)
			id, _ := dash.Output("name")
			wantURL := "https://console.cloud.google.com/monitoring/dashboards/builder/" + id.StringValue()[strings.LastIndex(id.StringValue(), "/")+1:] + "?project=" + testProject
			if got := infratest.AwaitString(t, m.DashboardURL); got != wantURL || strings.Contains(got, "projects/") {
				t.Errorf("DashboardURL = %q, want %q", got, wantURL)
			}
		} else if v := infratest.Await(t, m.DashboardURL); v.Known {
			t.Errorf("DashboardURL known in preview (%v) before the dashboard exists", v.Value)
		}
	})
}

func TestMonitoringUptimeCheckIsHTTPSHealthWithTLSFromSeveralRegions(t *testing.T) {
	u := monitoringRun(t, infratest.Update).One(t, uptimeCheckType)
	for path, want := range map[string]string{
		"monitoredResource.type": "uptime_url", "monitoredResource.labels.host": "shop.example.com",
		"monitoredResource.labels.project_id": testProject, "httpCheck.path": "/health", "httpCheck.requestMethod": "GET",
		"contentMatchers[0].content": `"status":"ok"`, "contentMatchers[0].matcher": "CONTAINS_STRING",
	} {
		if got := str(u, path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if strings.HasSuffix(str(u, "httpCheck.path"), "z") {
		t.Errorf("public path %s ends in z: Cloud Run may answer it itself", str(u, "httpCheck.path"))
	}
	for _, k := range []string{"httpCheck.useSsl", "httpCheck.validateSsl"} {
		if v, ok := boolean(u, k); !ok || !v {
			t.Errorf("%s = %s, want true", k, u.InputString(k))
		}
	}
	if num(u, "httpCheck.port") != 443 || num(u, "httpCheck.acceptedResponseStatusCodes[0].statusValue") != 200 {
		t.Errorf("port %s, accepted %s", u.InputString("httpCheck.port"), u.InputString("httpCheck.acceptedResponseStatusCodes"))
	}
	regions, _ := u.Input("selectedRegions")
	if n := len(regions.ArrayValue()); n < 3 {
		t.Errorf("%d selected regions; the API wants enough for 3 locations", n)
	}
	// The uptime alert watches this check.
	alert := monitoringRun(t, infratest.Update).Named(t, alertPolicyType, "monitoring-uptime")
	id, _ := u.Output("uptimeCheckId")
	if f := str(alert, "conditions[0].conditionThreshold.filter"); !strings.Contains(f, `metric.label.check_id="`+id.StringValue()+`"`) {
		t.Errorf("uptime alert filter %q does not name the check %s", f, id.StringValue())
	}
}

func TestMonitoringChannelsKeepTheirNamesWhenTheListIsReordered(t *testing.T) {
	names := func(emails ...string) []string {
		args := validMonitoringArgs()
		args.AlertEmails = emails
		res, _ := runMonitoring(t, infratest.Preview, args)
		var out []string
		for _, ch := range res.OfType(channelType) {
			out = append(out, ch.Name)
		}
		sort.Strings(out)
		return out
	}
	a, b := names("a@example.com", "b@example.com"), names("b@example.com", "a@example.com")
	if !reflect.DeepEqual(a, b) || len(a) != 2 {
		t.Errorf("channel names %v, then %v after reordering: a reorder would replace channels", a, b)
	}
	if n := names(); len(n) != 0 {
		t.Errorf("no addresses, but channels %v", n)
	}
	res, _ := runMonitoring(t, infratest.Update, func() infra.MonitoringArgs { a := validMonitoringArgs(); a.AlertEmails = nil; return a }())
	for _, p := range res.OfType(alertPolicyType) {
		if p.HasInput("notificationChannels") && len(p.Inputs["notificationChannels"].ArrayValue()) > 0 {
			t.Errorf("alert %s notifies %s without any alertEmails", p.Name, p.InputString("notificationChannels"))
		}
	}
}

func TestMonitoringArgsValidate(t *testing.T) {
	checkValidation(t, validMonitoringArgs(), []validationCase[infra.MonitoringArgs]{
		{"no project", func(a *infra.MonitoringArgs) { a.Project = "" }, []string{"Project is required"}},
		{"no title", func(a *infra.MonitoringArgs) { a.Title = " " }, []string{"Title is required"}},
		{"no service", func(a *infra.MonitoringArgs) { a.ServiceNames = nil }, []string{"ServiceNames is required"}},
		{"no redis", func(a *infra.MonitoringArgs) { a.RedisInstanceIDs = nil }, []string{"RedisInstanceIDs is required"}},
		{"bad email", func(a *infra.MonitoringArgs) { a.AlertEmails = []string{"oncall"} }, []string{`AlertEmails: "oncall" is not an email address`}},
		{"display name", func(a *infra.MonitoringArgs) { a.AlertEmails = []string{"On Call <oncall@example.com>"} }, []string{"is not an email address"}},
		{"twice", func(a *infra.MonitoringArgs) { a.AlertEmails = []string{"a@example.com", "A@example.com"} }, []string{`"A@example.com" is listed twice`}},
		{"goal 1", func(a *infra.MonitoringArgs) { a.SLOGoal = 1 }, []string{"SLOGoal 1 is out of range", "0.9..0.9999"}},
		{"goal 0.5", func(a *infra.MonitoringArgs) { a.SLOGoal = 0.5 }, []string{"SLOGoal 0.5"}},
		{"labels", func(a *infra.MonitoringArgs) { a.Labels = nil }, []string{"Labels must include"}},
	})
	checkRefusesBadArgs(t, `monitoring "m": AlertEmails`, func(ctx *pulumi.Context) error {
		a := validMonitoringArgs()
		a.AlertEmails = []string{"x"}
		_, err := infra.NewMonitoring(ctx, "m", a)
		return err
	})
}

// dashboardOf returns the recorded dashboard JSON of an update run.
func dashboardOf(t *testing.T) (string, map[string]any) {
	t.Helper()
	raw := str(monitoringRun(t, infratest.Update).One(t, dashboardType), "dashboardJson")
	var doc map[string]any
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		t.Fatalf("dashboard JSON: %v\n%s", err, raw)
	}
	return raw, doc
}

func TestMonitoringDashboardNamesTheStacksResourcesAndCarriesItsLabels(t *testing.T) {
	raw, doc := dashboardOf(t)
	for _, want := range []string{
		`resource.label.url_map_name=\"` + testURLMap + `\"`, `resource.label.forwarding_rule_name=\"` + testFwdRule + `\"`,
		`resource.label.service_name=\"` + testService + `\"`, `resource.label.instance_id=\"` + testRedisID + `\"`,
		`resource.label.database_id=\"` + testDatabase + `\"`, `resource.label.job=\"` + testService + `\"`,
	} {
		if !strings.Contains(raw, want) {
			t.Errorf("dashboard never filters on %s", want)
		}
	}
	labels, _ := doc["labels"].(map[string]any)
	if len(labels) != len(testLabels) {
		t.Errorf("dashboard labels %v, want %v", labels, testLabels)
	}
	for k, v := range testLabels {
		if labels[k] != v {
			t.Errorf("dashboard label %s = %v, want %s", k, labels[k], v)
		}
	}
	var pretty strings.Builder
	enc := json.NewEncoder(&pretty)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	// Review the dashboard here; regenerate with go test ./infra -run Dashboard -update.
	infratest.Golden(t, "testdata/monitoring-dashboard.json", pretty.String())
}

// inputsOf is a resource's recorded inputs as plain JSON values, without the keys the API
// message has no field for (project is in the request URL).
func inputsOf(r infratest.Resource, drop ...string) map[string]any {
	m := infratest.Plain(resource.NewProperty(r.Inputs)).(map[string]any)
	delete(m, "project")
	for _, k := range drop {
		delete(m, k)
	}
	return m
}

// TestMonitoringWatchesEveryRegion: with a service and a Redis per region, every chart and alert
// takes all of them (one_of in filters, a regex in PromQL), so a region's failures show.
func TestMonitoringWatchesEveryRegion(t *testing.T) {
	args := validMonitoringArgs()
	args.ServiceNames = []pulumi.StringInput{pulumi.String("app-1"), pulumi.String("app-4")}
	args.RedisInstanceIDs = []pulumi.StringInput{
		pulumi.String("projects/p-test/locations/europe-west1/instances/redis-1"),
		pulumi.String("projects/p-test/locations/europe-west4/instances/redis-4"),
	}
	res, _ := runMonitoring(t, infratest.Update, args)
	raw := str(res.One(t, "gcp:monitoring/dashboard:Dashboard"), "dashboardJson")
	for _, want := range []string{
		`resource.label.service_name=one_of(\"app-1\",\"app-4\")`,
		`resource.label.instance_id=one_of(\"projects/p-test/locations/europe-west1/instances/redis-1\",\"projects/p-test/locations/europe-west4/instances/redis-4\")`,
		`resource.label.job=one_of(\"app-1\",\"app-4\")`,
	} {
		if !strings.Contains(raw, want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}
	promql := 0
	for _, p := range res.OfType("gcp:monitoring/alertPolicy:AlertPolicy") {
		if q := str(p, "conditions[0].conditionPrometheusQueryLanguage.query"); q != "" {
			promql++
			if !strings.Contains(q, `job=~"app-1|app-4"`) {
				t.Errorf("%s PromQL %s does not take both regions' services", p.Name, q)
			}
		}
	}
	if promql == 0 {
		t.Errorf("no PromQL alert to check")
	}
}
