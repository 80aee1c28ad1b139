package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/artifactregistry"
	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/cloudrunv2"
	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/compute"
	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/firestore"
	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/monitoring"
	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/projects"
	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/redis"
	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/secretmanager"
	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
)

const (
	runService     = "gcp:cloudrunv2/service:Service"
	backendService = "gcp:compute/backendService:BackendService"
	redisInstance  = "gcp:redis/instance:Instance"
)

func TestEveryRegionRunsTheServiceWithItsOwnSubnetRedisAndNEG(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		regions := regionsOf(t, res)
		var got []string
		for _, rg := range regions {
			got = append(got, rg.Name)
			for what, r := range map[string]infratest.Resource{"service": rg.Service, "redis": rg.Redis, "subnet": rg.Subnet, "NEG": rg.NEG} {
				field := map[string]string{"service": "location", "redis": "region", "subnet": "region", "NEG": "region"}[what]
				if str(r, field) != rg.Name {
					t.Errorf("region %s: %s %s is %q", rg.Name, what, field, str(r, field))
				}
			}
		}
		want := s.regionsWanted()
		sort.Strings(got)
		if sorted := slices.Sorted(slices.Values(want)); strings.Join(got, " ") != strings.Join(sorted, " ") {
			t.Errorf("regions %v, want %v", got, want)
		}
		// The home region keeps the single-region names; the others carry their region.
		for _, rg := range regions {
			wantName := "app"
			if rg.Name != want[0] {
				wantName = "app-" + rg.Name
			}
			if rg.Service.Name != wantName {
				t.Errorf("region %s: service %q, want %q", rg.Name, rg.Service.Name, wantName)
			}
		}
		// All NEGs in the one backend service.
		be := res.One(t, backendService)
		for _, rg := range regions {
			if !be.DependsOn(rg.NEG.URN) {
				t.Errorf("backend service does not hold %s's NEG", rg.Name)
			}
		}
		if n := len(res.OfType("gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup")); n != len(regions) {
			t.Errorf("%d NEGs for %d regions", n, len(regions))
		}
	})
}

func TestCloudRunSessionAffinityIsOn(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		for _, rg := range regionsOf(t, res) {
			if !isTrue(rg.Service, "template.sessionAffinity") {
				t.Errorf("%s: template.sessionAffinity = %s, want true", rg.Name, rg.Service.InputString("template.sessionAffinity"))
			}
		}
	})
}

func TestServiceIngressIsLoadBalancerOnly(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		for _, rg := range regionsOf(t, res) {
			if got := str(rg.Service, "ingress"); got != "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER" {
				t.Errorf("%s: ingress = %q, want INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER", rg.Name, got)
			}
			if str(rg.NEG, "networkEndpointType") != "SERVERLESS" {
				t.Errorf("%s: the load balancer's NEG is not serverless", rg.Name)
			}
		}
	})
}

func TestLBAffinityMatchesConfigAndOnlyOnExternalManaged(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		want := s.cfg[ns+"lbAffinity"]
		if want == "" {
			want = infra.AffinityGAESA
		}
		for _, be := range res.OfType(backendService) {
			affinity := str(be, "sessionAffinity")
			if affinity != "" && affinity != "NONE" && str(be, "loadBalancingScheme") != "EXTERNAL_MANAGED" {
				t.Errorf("%s: sessionAffinity %s on scheme %q", be.Name, affinity, str(be, "loadBalancingScheme"))
			}
			switch want {
			case infra.AffinityGAESA:
				if affinity != "HTTP_COOKIE" || str(be, "consistentHash.httpCookie.name") != "GAESA" ||
					str(be, "consistentHash.httpCookie.path") != "/" || num(be, "consistentHash.httpCookie.ttl.seconds") != 2592000 ||
					str(be, "localityLbPolicy") != "RING_HASH" {
					t.Errorf("lbAffinity gaesa: got sessionAffinity %s, consistentHash %s, locality %s",
						affinity, be.InputString("consistentHash"), be.InputString("localityLbPolicy"))
				}
			case infra.AffinityNone:
				if affinity != "NONE" || be.HasInput("consistentHash") {
					t.Errorf("lbAffinity none: got sessionAffinity %s, consistentHash %s", affinity, be.InputString("consistentHash"))
				}
			}
		}
		if got := res.Export(t, "lbAffinity"); got.Value != want {
			t.Errorf("export lbAffinity = %v, want %s", got.Value, want)
		}
	})
}

func TestServerlessBackendHasNoTimeoutPortOrHealthCheck(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		for _, be := range res.OfType(backendService) {
			for _, k := range []string{"timeoutSec", "portName", "healthChecks"} {
				if be.HasInput(k) {
					t.Errorf("%s sets %s = %s; the API rejects it for serverless NEGs", be.Name, k, be.InputString(k))
				}
			}
		}
	})
}

func TestRedisHasAuthAndTLS(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		for _, rg := range regionsOf(t, res) {
			checkRedis(t, s, rg.Redis)
		}
	})
}

func checkRedis(t *testing.T, s scenario, r infratest.Resource) {
	t.Helper()
	if !isTrue(r, "authEnabled") || str(r, "transitEncryptionMode") != "SERVER_AUTHENTICATION" {
		t.Errorf("authEnabled %s, transitEncryptionMode %s", r.InputString("authEnabled"), r.InputString("transitEncryptionMode"))
	}
	if !strings.HasPrefix(str(r, "redisVersion"), "REDIS_7_") {
		t.Errorf("redisVersion = %s, want 7.x", r.InputString("redisVersion"))
	}
	wantTier := s.cfg[ns+"redisTier"]
	if str(r, "tier") != wantTier {
		t.Errorf("tier = %s, want %s", r.InputString("tier"), wantTier)
	}
}

func TestNoSecretInPlainExportsOrInputs(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		for name, v := range res.Exports {
			if infratest.ContainsValue(v.Value, infratest.RedisAuthString) {
				t.Errorf("export %s holds the Redis AUTH string", name)
			}
		}
		for _, r := range res.Resources() {
			for k, v := range r.Inputs {
				if infratest.ContainsPlain(v, infratest.RedisAuthString) {
					t.Errorf("%s %q: input %s holds the AUTH string in plain text", r.Type, r.Name, k)
				}
			}
		}
		for _, rg := range regionsOf(t, res) {
			version := rg.SecretVersion
			if !version.Inputs["secretData"].IsSecret() {
				t.Errorf("%s: secret version data is not marked secret", rg.Name)
			}
			if mode == infratest.Update && str(version, "secretData") != infratest.RedisAuthString {
				t.Errorf("%s: the AUTH string does not reach Secret Manager", rg.Name)
			}
		}
	})
}

// The runtime account holds data access to its database, read access to its secret, and the
// two roles the app's OpenTelemetry export needs (metrics to Cloud Monitoring, spans to Cloud
// Trace): nothing else.
func TestServiceAccountHoldsExactlyDatastoreSecretMetricWriterAndTraceAgent(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		var grants []string
		for _, r := range res.Resources() {
			if strings.Contains(strings.ToLower(r.Type), "iammember") || strings.Contains(strings.ToLower(r.Type), "iambinding") ||
				strings.Contains(strings.ToLower(r.Type), "iampolicy") {
				grants = append(grants, r.Type+" "+str(r, "role"))
			}
		}
		sort.Strings(grants)
		want := []string{
			"gcp:projects/iAMMember:IAMMember roles/cloudtrace.agent",
			"gcp:projects/iAMMember:IAMMember roles/datastore.user",
			"gcp:projects/iAMMember:IAMMember roles/monitoring.metricWriter",
		}
		regions := regionsOf(t, res)
		for range regions {
			// One accessor per region, each on that region's AUTH secret (below).
			want = append(want, "gcp:secretmanager/secretIamMember:SecretIamMember roles/secretmanager.secretAccessor")
		}
		if strings.Join(grants, "\n") != strings.Join(want, "\n") {
			t.Errorf("IAM grants:\n%s\nwant exactly:\n%s", strings.Join(grants, "\n"), strings.Join(want, "\n"))
		}
		sa := res.One(t, "gcp:serviceaccount/account:Account")
		for _, rg := range regions {
			if !rg.SecretRead.DependsOn(rg.Secret.URN) || str(rg.SecretRead, "secretId") != str(rg.Secret, "secretId") {
				t.Errorf("%s: secret accessor is not on the region's AUTH secret", rg.Name)
			}
			if !rg.SecretRead.DependsOn(sa.URN) {
				t.Errorf("%s: secret accessor is not granted to the runtime service account", rg.Name)
			}
			if !rg.Service.DependsOn(sa.URN) {
				t.Errorf("%s: service does not run as the runtime service account", rg.Name)
			}
		}
		for _, g := range res.OfType("gcp:projects/iAMMember:IAMMember") {
			if !g.DependsOn(sa.URN) {
				t.Errorf("%s %s is not granted to the runtime service account", g.Type, g.Name)
			}
			if str(g, "role") != infra.RoleDatastoreUser && g.HasInput("condition") {
				t.Errorf("%s has a condition %s; only datastore.user is narrowed to the database", g.Name, g.InputString("condition"))
			}
		}
		// Firestore data access only on the stack's database.
		data := res.Named(t, "gcp:projects/iAMMember:IAMMember", "identity-datastore-user")
		db := res.One(t, "gcp:firestore/database:Database")
		if !data.DependsOn(db.URN) || str(data, "condition.title") == "" {
			t.Errorf("datastore.user is not conditioned on the database: condition %s", data.InputString("condition"))
		}
		if want := infra.DatabaseCondition(s.cfg["gcp:project"], str(db, "name")); mode == infratest.Update && str(data, "condition.expression") != want {
			t.Errorf("datastore.user condition %q, want %q", str(data, "condition.expression"), want)
		}
	})
}

func TestNEGAndCertificateHaveNoHardCodedNames(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		for _, typ := range []string{
			"gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup",
			"gcp:compute/managedSslCertificate:ManagedSslCertificate",
		} {
			for _, r := range res.OfType(typ) {
				if r.HasInput("name") {
					t.Errorf("%s %q has name %s", typ, r.Name, r.InputString("name"))
				}
			}
		}
	})
}

func TestEveryChildHasItsComponentAsParent(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		for _, r := range res.Resources() {
			parent, ok := res.ByURN(r.Parent)
			switch {
			case !r.Custom:
				// Components sit at the top, or (Redis, Service) in their region's RegionalService.
				inRegion := ok && parent.Type == "cloudrun-affinity:infra:RegionalService"
				if !strings.HasPrefix(r.Type, "cloudrun-affinity:infra:") || !(strings.Contains(r.Parent, "pulumi:pulumi:Stack") || inRegion) {
					t.Errorf("component %s %q: parent %q, want the stack or a RegionalService", r.Type, r.Name, r.Parent)
				}
			case !ok || parent.Custom || !strings.HasPrefix(parent.Type, "cloudrun-affinity:infra:"):
				t.Errorf("%s %q: parent %q is not one of our components", r.Type, r.Name, r.Parent)
			}
		}
	})
}

// apiOf maps a resource type's module to the service that must be enabled before it.
var apiOf = map[string]string{
	"gcp:compute/":           "compute.googleapis.com",
	"gcp:redis/":             "redis.googleapis.com",
	"gcp:firestore/":         "firestore.googleapis.com",
	"gcp:cloudrunv2/":        "run.googleapis.com",
	"gcp:artifactregistry/":  "artifactregistry.googleapis.com",
	"gcp:secretmanager/":     "secretmanager.googleapis.com",
	"gcp:serviceaccount/":    "iam.googleapis.com",
	"gcp:projects/iAMMember": "cloudresourcemanager.googleapis.com",
	"gcp:monitoring/":        "monitoring.googleapis.com",
}

func TestEveryResourceWaitsForItsAPI(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		services := map[string]string{}
		for _, svc := range res.OfType("gcp:projects/service:Service") {
			services[str(svc, "service")] = svc.URN
		}
		for _, r := range res.Resources() {
			if !r.Custom || r.Type == "gcp:projects/service:Service" || strings.HasPrefix(r.Type, "random:") {
				continue
			}
			api := ""
			for prefix, a := range apiOf {
				if strings.HasPrefix(r.Type, prefix) {
					api = a
				}
			}
			if api == "" {
				t.Errorf("%s: no API known for this type; add it to apiOf", r.Type)
				continue
			}
			if urn, ok := services[api]; !ok || !res.WaitsFor(r, urn) {
				t.Errorf("%s %q does not wait for %s (deps %v)", r.Type, r.Name, api, r.Dependencies)
			}
		}
	})
}

func TestServiceWaitsForItsIAMGrants(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		projectGrants := res.OfType("gcp:projects/iAMMember:IAMMember")
		for _, rg := range regionsOf(t, res) {
			for _, g := range append(append([]infratest.Resource{}, projectGrants...), rg.SecretRead) {
				if !rg.Service.DependsOn(g.URN) {
					t.Errorf("%s: service does not wait for %s %s: its first revision could fail to read the secret, use Firestore or export telemetry", rg.Name, g.Type, g.Name)
				}
			}
			if !rg.Service.DependsOn(rg.SecretVersion.URN) {
				t.Errorf("%s: service does not wait for its AUTH secret version", rg.Name)
			}
		}
	})
}

func TestAppReceivesTheEnvironmentContract(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		regions := regionsOf(t, res)
		for _, rg := range regions {
			checkEnvironment(t, s, mode, res, rg, len(regions) > 1)
			// Each region's service talks to its own Redis only.
			for _, other := range regions {
				if other.Name != rg.Name && rg.Service.DependsOn(other.Redis.URN) {
					t.Errorf("%s's service uses %s's Redis", rg.Name, other.Name)
				}
			}
			if !rg.Service.DependsOn(rg.Redis.URN) {
				t.Errorf("%s's service does not use its region's Redis", rg.Name)
			}
		}
	})
}

func checkEnvironment(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result, rg region, multiRegion bool) {
	t.Helper()
	svc := rg.Service
	var names []string
	for i := 0; ; i++ {
		n := str(svc, "template.containers[0].envs["+itoa(i)+"].name")
		if n == "" {
			break
		}
		names = append(names, n)
	}
	sort.Strings(names)
	want := "COOKIE_SECURE FIRESTORE_DATABASE GOOGLE_CLOUD_PROJECT REDIS_ADDR REDIS_PASSWORD REDIS_TLS_CA"
	if multiRegion {
		// Sessions written through to Firestore, so a client moved to another region keeps it.
		want = "COOKIE_SECURE FIRESTORE_DATABASE GOOGLE_CLOUD_PROJECT REDIS_ADDR REDIS_PASSWORD REDIS_TLS_CA SESSIONS_FIRESTORE"
	}
	if strings.Join(names, " ") != want {
		t.Errorf("%s: env names %v, want %s", rg.Name, names, want)
	}
	get := func(name string) string {
		for i := range names {
			p := "template.containers[0].envs[" + itoa(i) + "]"
			if str(svc, p+".name") == name {
				if svc.HasInput(p + ".valueSource.secretKeyRef") {
					return "secret:" + str(svc, p+".valueSource.secretKeyRef.secret")
				}
				return str(svc, p+".value")
			}
		}
		return ""
	}
	if got := get("REDIS_PASSWORD"); got != "secret:"+str(rg.Secret, "secretId") {
		t.Errorf("%s: REDIS_PASSWORD = %q, want from secret %s", rg.Name, got, str(rg.Secret, "secretId"))
	}
	if get("COOKIE_SECURE") != "true" || get("GOOGLE_CLOUD_PROJECT") != s.cfg["gcp:project"] {
		t.Errorf("%s: COOKIE_SECURE %q, GOOGLE_CLOUD_PROJECT %q", rg.Name, get("COOKIE_SECURE"), get("GOOGLE_CLOUD_PROJECT"))
	}
	if multiRegion && get("SESSIONS_FIRESTORE") != "true" {
		t.Errorf("%s: SESSIONS_FIRESTORE = %q, want true", rg.Name, get("SESSIONS_FIRESTORE"))
	}
	if mode == infratest.Update {
		if get("REDIS_ADDR") != infratest.RedisHost+":6378" {
			t.Errorf("%s: REDIS_ADDR = %q", rg.Name, get("REDIS_ADDR"))
		}
		for _, ca := range infratest.RedisCACerts {
			if !strings.Contains(get("REDIS_TLS_CA"), strings.TrimSpace(ca)) {
				t.Errorf("%s: REDIS_TLS_CA lacks a server CA: %q", rg.Name, get("REDIS_TLS_CA"))
			}
		}
		db := res.One(t, "gcp:firestore/database:Database")
		if get("FIRESTORE_DATABASE") != str(db, "name") || str(db, "name") == "(default)" {
			t.Errorf("%s: FIRESTORE_DATABASE = %q, database %q", rg.Name, get("FIRESTORE_DATABASE"), str(db, "name"))
		}
	}
}

func TestExportsAreComplete(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		for _, k := range []string{"url", "ipAddress", "serviceName", "serviceUri", "runtimeServiceAccount", "backendService",
			"certificate", "network", "redisHost", "redisPort", "firestoreDatabase", "imageRepository", "lbAffinity", "dashboardUrl"} {
			v := res.Export(t, k)
			if mode == infratest.Update && (!v.Known || fmt.Sprint(v.Value) == "") {
				t.Errorf("export %s = %+v, want a value after update", k, v)
			}
			if v.Secret {
				t.Errorf("export %s is secret; exports here are all public values", k)
			}
		}
		wantURL := "https://" + infratest.AddressIP + ".nip.io"
		if d := s.cfg[ns+"domain"]; d != "" {
			wantURL = "https://" + d
		}
		if mode == infratest.Preview {
			// Before the address exists its nip.io name is unknown; a custom domain is not.
			url := res.Export(t, "url")
			if custom := s.cfg[ns+"domain"] != ""; url.Known != custom || (custom && url.String() != wantURL) {
				t.Errorf("preview url = %+v; custom domain %v", url, custom)
			}
			return
		}
		if got := res.Export(t, "url").String(); got != wantURL {
			t.Errorf("url = %q, want %q", got, wantURL)
		}
		wantRepo := s.cfg["gcp:region"] + "-docker.pkg.dev/" + s.cfg["gcp:project"] + "/cloudrun-affinity-" + s.stack
		if got := res.Export(t, "imageRepository").String(); got != wantRepo {
			t.Errorf("imageRepository = %q, want %q", got, wantRepo)
		}
		if got := res.Export(t, "ipAddress").String(); got != infratest.AddressIP {
			t.Errorf("ipAddress = %q", got)
		}
		// The names gcloud takes, from the resources they name.
		for export, typ := range map[string]string{
			"backendService": backendService,
			"certificate":    "gcp:compute/managedSslCertificate:ManagedSslCertificate",
			"network":        "gcp:compute/network:Network",
		} {
			name, _ := res.One(t, typ).Output("name")
			if got := res.Export(t, export).String(); got != name.StringValue() {
				t.Errorf("%s = %q, want the %s name %q", export, got, typ, name.StringValue())
			}
		}
		if got, _ := res.One(t, "gcp:serviceaccount/account:Account").Output("email"); res.Export(t, "runtimeServiceAccount").String() != got.StringValue() {
			t.Errorf("runtimeServiceAccount = %q, want %q", res.Export(t, "runtimeServiceAccount").String(), got.StringValue())
		}
		if got := fmt.Sprint(res.Export(t, "redisPort").Value); got != "6378" {
			t.Errorf("redisPort = %q, want 6378 (Memorystore's TLS port)", got)
		}
	})
}

// A second `pulumi preview` after `pulumi up` must show no changes: inputs the provider or the
// API rewrites are not set.
func TestNoInputsTheCloudRewrites(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		for _, svc := range res.OfType(runService) {
			for _, k := range []string{"launchStage", "annotations", "client", "clientVersion", "scaling",
				"template.labels", "template.annotations", "template.revision", "template.containers[0].ports.name",
				"template.containers[0].startupProbe.httpGet.port", "template.containers[0].livenessProbe.httpGet.port"} {
				if svc.HasInput(k) {
					t.Errorf("Cloud Run service %s sets %s = %s", svc.Name, k, svc.InputString(k))
				}
			}
		}
		for _, p := range res.OfType("gcp:compute/securityPolicy:SecurityPolicy") {
			found := false
			for i := 0; i < 10; i++ {
				if num(p, "rules["+itoa(i)+"].priority") == 2147483647 {
					found = true
				}
			}
			if !found {
				t.Errorf("security policy lacks the default rule the API would add")
			}
		}
		// A description on the global address would replace it (ForceNew), and none was set
		// when the stack's address was created.
		if a := res.One(t, "gcp:compute/globalAddress:GlobalAddress"); a.HasInput("description") {
			t.Errorf("global address sets description %s", a.InputString("description"))
		}
	})
}

// TestSecondRunSendsTheSameInputs: the program is deterministic, so a preview after `up`
// compares the inputs `up` sent with the same inputs (the API's echo is the other half:
// TestNoInputsTheCloudRewrites).
func TestSecondRunSendsTheSameInputs(t *testing.T) {
	t.Parallel()
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			byURN := func(state []infratest.StateResource) map[string]infratest.StateResource {
				m := map[string]infratest.StateResource{}
				for _, r := range state {
					m[r.URN] = r
				}
				return m
			}
			first := byURN(s.run(t, infratest.Update).State())
			second := byURN(infratest.MustRun(t, infratest.Update, program, infratest.WithConfig(s.cfg), infratest.WithStack(s.stack)).State())
			for urn, r := range first {
				if !reflect.DeepEqual(r, second[urn]) {
					t.Errorf("%s: inputs differ between two runs:\n%v\n%v", urn, r.Inputs, second[urn].Inputs)
				}
			}
			if len(first) != len(second) {
				t.Errorf("%d resources, then %d", len(first), len(second))
			}
		})
	}
}

// resourceTypes maps every resource type the stack registers to its SDK struct, so tests can
// ask the SDK itself what a type supports (TestEveryLabelableResourceCarriesTheStackLabels).
// TestEveryRegisteredTypeIsInResourceTypes keeps it complete.
var resourceTypes = map[string]any{
	"gcp:projects/service:Service":                                      projects.Service{},
	"gcp:projects/iAMMember:IAMMember":                                  projects.IAMMember{},
	"gcp:compute/network:Network":                                       compute.Network{},
	"gcp:compute/subnetwork:Subnetwork":                                 compute.Subnetwork{},
	"gcp:compute/globalAddress:GlobalAddress":                           compute.GlobalAddress{},
	"gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup": compute.RegionNetworkEndpointGroup{},
	"gcp:compute/backendService:BackendService":                         compute.BackendService{},
	"gcp:compute/uRLMap:URLMap":                                         compute.URLMap{},
	"gcp:compute/managedSslCertificate:ManagedSslCertificate":           compute.ManagedSslCertificate{},
	"gcp:compute/targetHttpsProxy:TargetHttpsProxy":                     compute.TargetHttpsProxy{},
	"gcp:compute/targetHttpProxy:TargetHttpProxy":                       compute.TargetHttpProxy{},
	"gcp:compute/globalForwardingRule:GlobalForwardingRule":             compute.GlobalForwardingRule{},
	"gcp:compute/securityPolicy:SecurityPolicy":                         compute.SecurityPolicy{},
	"gcp:redis/instance:Instance":                                       redis.Instance{},
	"gcp:secretmanager/secret:Secret":                                   secretmanager.Secret{},
	"gcp:secretmanager/secretVersion:SecretVersion":                     secretmanager.SecretVersion{},
	"gcp:secretmanager/secretIamMember:SecretIamMember":                 secretmanager.SecretIamMember{},
	"gcp:firestore/database:Database":                                   firestore.Database{},
	"gcp:firestore/field:Field":                                         firestore.Field{},
	"gcp:serviceaccount/account:Account":                                serviceaccount.Account{},
	"gcp:artifactregistry/repository:Repository":                        artifactregistry.Repository{},
	"gcp:cloudrunv2/service:Service":                                    cloudrunv2.Service{},
	"random:index/randomId:RandomId":                                    random.RandomId{},
	"gcp:monitoring/dashboard:Dashboard":                                monitoring.Dashboard{},
	"gcp:monitoring/alertPolicy:AlertPolicy":                            monitoring.AlertPolicy{},
	"gcp:monitoring/notificationChannel:NotificationChannel":            monitoring.NotificationChannel{},
	"gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig":                monitoring.UptimeCheckConfig{},
	"gcp:monitoring/customService:CustomService":                        monitoring.CustomService{},
	"gcp:monitoring/slo:Slo":                                            monitoring.Slo{},
}

func TestEveryRegisteredTypeIsInResourceTypes(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		for _, r := range res.Resources() {
			if _, ok := resourceTypes[r.Type]; r.Custom && !ok {
				t.Errorf("%s is not in resourceTypes; add its SDK struct", r.Type)
			}
		}
	})
}

// labelsField is the input that holds a type's resource labels, from the SDK's resource
// struct: userLabels where there is one (Cloud Monitoring; a notification channel's labels
// field is its channel settings, such as email_address), else labels; "" when it takes none.
func labelsField(typ string) string {
	t := reflect.TypeOf(resourceTypes[typ])
	if t == nil {
		return "" // reported by TestEveryRegisteredTypeIsInResourceTypes
	}
	if _, ok := t.FieldByName("UserLabels"); ok {
		return "userLabels"
	}
	if _, ok := t.FieldByName("Labels"); ok {
		return "labels"
	}
	return ""
}

func TestEveryLabelableResourceCarriesTheStackLabels(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		want := map[string]string{"app": "cloudrun-affinity", "stack": s.stack, "managed-by": "pulumi"}
		if raw := s.cfg[ns+"labels"]; raw != "" {
			var user map[string]string
			if err := json.Unmarshal([]byte(raw), &user); err != nil {
				t.Fatal(err)
			}
			for k, v := range user {
				want[k] = v
			}
		}
		labelled := 0
		for _, r := range res.Resources() {
			if !r.Custom {
				continue
			}
			field := labelsField(r.Type)
			if field == "" {
				continue
			}
			labelled++
			got := map[string]string{}
			if v, ok := r.Input(field); ok && v.IsObject() {
				for k, e := range v.ObjectValue() {
					got[string(k)] = e.StringValue()
				}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s %q %s %v, want %v", r.Type, r.Name, field, got, want)
			}
		}
		// The dashboard takes labels only inside its JSON (the SDK has no field for them).
		for _, d := range res.OfType("gcp:monitoring/dashboard:Dashboard") {
			if mode == infratest.Preview {
				continue // the JSON names resources that do not exist yet
			}
			var doc struct{ Labels map[string]string }
			if err := json.Unmarshal([]byte(str(d, "dashboardJson")), &doc); err != nil || !reflect.DeepEqual(doc.Labels, want) {
				t.Errorf("dashboard labels %v (%v), want %v", doc.Labels, err, want)
			}
		}
		if labelled < 6 {
			t.Errorf("only %d resources take labels; the SDK lookup is broken", labelled)
		}
	})
}

func TestCPUBillingAndStartupBoostAreExplicit(t *testing.T) {
	eachService(t, func(t *testing.T, s scenario, mode infratest.Mode, svc infratest.Resource) {
		wantIdle := s.cfg[ns+"cpuAlwaysAllocated"] != "true"
		if v, ok := svc.Input("template.containers[0].resources.cpuIdle"); !ok || !v.IsBool() || v.BoolValue() != wantIdle {
			t.Errorf("cpuIdle = %s, want %v: left unset with limits, the API allocates CPU always", svc.InputString("template.containers[0].resources.cpuIdle"), wantIdle)
		}
		if !isTrue(svc, "template.containers[0].resources.startupCpuBoost") {
			t.Errorf("startupCpuBoost = %s, want true", svc.InputString("template.containers[0].resources.startupCpuBoost"))
		}
	})
}

func TestStartupProbeWaitsForRedisWithinCloudRunsBudget(t *testing.T) {
	eachService(t, func(t *testing.T, s scenario, mode infratest.Mode, svc infratest.Resource) {
		p := "template.containers[0].startupProbe."
		if got := str(svc, p+"httpGet.path"); got != infra.StartupPath {
			t.Errorf("startup probe path %q, want %s (passes only when Redis answers)", got, infra.StartupPath)
		}
		period, threshold, timeout, delay := num(svc, p+"periodSeconds"), num(svc, p+"failureThreshold"), num(svc, p+"timeoutSeconds"), num(svc, p+"initialDelaySeconds")
		if budget := period * threshold; budget != 240 {
			t.Errorf("startup budget %v × %v = %v s; want 240 (Direct VPC egress can take minutes; Cloud Run allows at most 240)", period, threshold, budget)
		}
		if timeout < 1 || timeout > period || delay > 240 {
			t.Errorf("startup probe timeout %v (period %v), initial delay %v", timeout, period, delay)
		}
		if got := str(svc, "template.containers[0].livenessProbe.httpGet.path"); got != infra.HealthPath {
			t.Errorf("liveness probe path %q, want %s (no data store behind it)", got, infra.HealthPath)
		}
		for _, path := range []string{str(svc, p+"httpGet.path"), str(svc, "template.containers[0].livenessProbe.httpGet.path")} {
			if !strings.HasSuffix(path, "z") {
				t.Errorf("probe path %s: probes use the z paths, which the public URLs avoid", path)
			}
		}
	})
}

func TestDefaultRunAppURLIsDisabled(t *testing.T) {
	eachService(t, func(t *testing.T, s scenario, mode infratest.Mode, svc infratest.Resource) {
		if !isTrue(svc, "defaultUriDisabled") {
			t.Errorf("defaultUriDisabled = %s: the run.app URL would bypass the load balancer", svc.InputString("defaultUriDisabled"))
		}
	})
}

func TestDirectVPCEgressNamesTheNetworkAsTheAPIEchoesIt(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		vpc := res.One(t, "gcp:compute/network:Network")
		subnets := map[string]bool{}
		for i, rg := range regionsOf(t, res) {
			svc, subnet := rg.Service, rg.Subnet
			if subnets[str(subnet, "ipCidrRange")] {
				t.Errorf("%s's subnet %s overlaps another region's", rg.Name, str(subnet, "ipCidrRange"))
			}
			subnets[str(subnet, "ipCidrRange")] = true
			wantHome := s.cfg[ns+"subnetCidr"]
			if wantHome == "" {
				wantHome = "10.8.0.0/24"
			}
			if i == 0 && str(subnet, "ipCidrRange") != wantHome {
				t.Errorf("home subnet %s, want subnetCidr", str(subnet, "ipCidrRange"))
			}
			for field, from := range map[string]infratest.Resource{"network": vpc, "subnetwork": subnet} {
				path := "template.vpcAccess.networkInterfaces[0]." + field
				if !svc.DependsOn(from.URN) {
					t.Errorf("%s does not come from the stack's %s", path, from.Type)
				}
				if mode == infratest.Update {
					got, _ := from.Output("name")
					if str(svc, path) != got.StringValue() || strings.Contains(str(svc, path), "/") {
						t.Errorf("%s = %q, want the name %q (not an id)", path, str(svc, path), got.StringValue())
					}
				}
			}
			// Memorystore's authorizedNetwork is ForceNew and compares self links and names alike:
			// it keeps the id it was created with.
			if r := rg.Redis; mode == infratest.Update && str(r, "authorizedNetwork") != vpc.ID {
				t.Errorf("authorizedNetwork = %q, want the network id %q", str(r, "authorizedNetwork"), vpc.ID)
			}
		}
	})
}

func TestRedisSnapshotsMatchConfig(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		for _, rg := range regionsOf(t, res) {
			r := rg.Redis
			setting := s.cfg[ns+"redisSnapshotPeriod"]
			if setting == "" {
				setting = "1h"
			}
			wantMode, wantPeriod := "RDB", infra.RedisSnapshotPeriods[setting]
			if setting == "off" {
				wantMode, wantPeriod = "DISABLED", ""
			}
			if str(r, "persistenceConfig.persistenceMode") != wantMode || str(r, "persistenceConfig.rdbSnapshotPeriod") != wantPeriod {
				t.Errorf("redisSnapshotPeriod %s: persistenceConfig %s, want mode %s period %q", setting, r.InputString("persistenceConfig"), wantMode, wantPeriod)
			}
		}
	})
}

func TestFirestoreDeletionPolicyMatchesProtection(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		db := res.One(t, "gcp:firestore/database:Database")
		protected := s.cfg[ns+"firestoreDeleteProtection"] != "false"
		wantProtect, wantPolicy := "DELETE_PROTECTION_DISABLED", "DELETE"
		if protected {
			wantProtect, wantPolicy = "DELETE_PROTECTION_ENABLED", "ABANDON"
		}
		if str(db, "deleteProtectionState") != wantProtect || str(db, "deletionPolicy") != wantPolicy {
			t.Errorf("deleteProtectionState %s, deletionPolicy %s; want %s, %s",
				str(db, "deleteProtectionState"), str(db, "deletionPolicy"), wantProtect, wantPolicy)
		}
		// Deleting the field resource resets its TTL: a kept database keeps its TTL policy.
		for _, ttl := range res.OfType("gcp:firestore/field:Field") {
			if ttl.RetainOnDelete != protected {
				t.Errorf("TTL field %s retainOnDelete %v with delete protection %v", ttl.Name, ttl.RetainOnDelete, protected)
			}
		}
	})
}

func TestCloudArmorOnlyWhenConfigured(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		policies := res.OfType("gcp:compute/securityPolicy:SecurityPolicy")
		be := res.One(t, backendService)
		if s.cfg[ns+"cloudArmor"] == "true" {
			if len(policies) != 1 || !be.DependsOn(policies[0].URN) {
				t.Errorf("cloudArmor on: %d policies, backend uses it: %v", len(policies), len(policies) == 1 && be.DependsOn(policies[0].URN))
			}
		} else if len(policies) != 0 || be.HasInput("securityPolicy") {
			t.Errorf("cloudArmor off but %d policies, securityPolicy %s", len(policies), be.InputString("securityPolicy"))
		}
	})
}

func itoa(i int) string { return strconv.Itoa(i) }

// eachService runs f for every Cloud Run service of every scenario in both modes.
func eachService(t *testing.T, f func(t *testing.T, s scenario, mode infratest.Mode, svc infratest.Resource)) {
	t.Helper()
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		for _, rg := range regionsOf(t, res) {
			f(t, s, mode, rg.Service)
		}
	})
}

// TestMonitoringWatchesTheStacksOwnResources: every chart, alert, the uptime check and the SLO
// name this stack's URL map and forwarding rule, every region's service and Redis instance, and
// the database, so two stacks in one Google Cloud project never mix; dashboardUrl opens that
// dashboard.
func TestMonitoringWatchesTheStacksOwnResources(t *testing.T) {
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		dash := res.One(t, "gcp:monitoring/dashboard:Dashboard")
		if len(res.OfType("gcp:monitoring/alertPolicy:AlertPolicy")) != 6 || len(res.OfType("gcp:monitoring/slo:Slo")) != 1 {
			t.Errorf("monitoring registers %v", res.CountByType())
		}
		if mode == infratest.Preview {
			return // the names are not known before the resources exist
		}
		name := func(typ, logical string) string {
			v, _ := res.Named(t, typ, logical).Output("name")
			return v.StringValue()
		}
		// One value or one_of(...) every region's, in region order.
		in := func(key string, values []string) string {
			if len(values) == 1 {
				return `resource.label.` + key + `=\"` + values[0] + `\"`
			}
			return `resource.label.` + key + `=one_of(\"` + strings.Join(values, `\",\"`) + `\")`
		}
		var services, redisIDs []string
		byName := map[string]region{}
		for _, rg := range regionsOf(t, res) {
			byName[rg.Name] = rg
		}
		for _, name := range s.regionsWanted() {
			rg := byName[name]
			n, _ := rg.Service.Output("name")
			services = append(services, n.StringValue())
			r, _ := rg.Redis.Output("name")
			redisIDs = append(redisIDs, "projects/"+s.cfg["gcp:project"]+"/locations/"+rg.Name+"/instances/"+r.StringValue())
		}
		wants := []string{
			`resource.label.url_map_name=\"` + name("gcp:compute/uRLMap:URLMap", "lb") + `\"`,
			`resource.label.forwarding_rule_name=\"` + name("gcp:compute/globalForwardingRule:GlobalForwardingRule", "lb-https") + `\"`,
			in("service_name", services),
			in("instance_id", redisIDs),
			`resource.label.database_id=\"` + str(res.One(t, "gcp:firestore/database:Database"), "name") + `\"`,
		}
		raw := str(dash, "dashboardJson")
		for _, w := range wants {
			if !strings.Contains(raw, w) {
				t.Errorf("dashboard does not filter on %s", w)
			}
		}
		lbFilter := strings.ReplaceAll(wants[0], `\"`, `"`)
		for _, p := range res.OfType("gcp:monitoring/alertPolicy:AlertPolicy") {
			if strings.HasPrefix(p.Name, "monitoring-lb-") && !strings.Contains(str(p, "conditions[0].conditionThreshold.filter"), lbFilter) {
				t.Errorf("%s does not watch the stack's load balancer: %s", p.Name, str(p, "conditions[0].conditionThreshold.filter"))
			}
		}
		host := strings.TrimPrefix(res.Export(t, "url").String(), "https://")
		if got := str(res.One(t, "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig"), "monitoredResource.labels.host"); got != host {
			t.Errorf("uptime check host %q, want the stack's %q", got, host)
		}
		id, _ := dash.Output("name")
		want := "https://console.cloud.google.com/monitoring/dashboards/builder/" + id.StringValue()[strings.LastIndex(id.StringValue(), "/")+1:] + "?project=" + s.cfg["gcp:project"]
		if got := res.Export(t, "dashboardUrl").String(); got != want {
			t.Errorf("dashboardUrl = %q, want %q", got, want)
		}
		emails := 0
		if raw := s.cfg[ns+"alertEmails"]; raw != "" {
			var list []string
			_ = json.Unmarshal([]byte(raw), &list)
			emails = len(list)
		}
		if n := len(res.OfType("gcp:monitoring/notificationChannel:NotificationChannel")); n != emails {
			t.Errorf("%d notification channels for %d alertEmails", n, emails)
		}
	})
}
