package infra_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

func runLoadBalancer(t *testing.T, mode infratest.Mode, args infra.LoadBalancerArgs) (*infratest.Result, *infra.LoadBalancer) {
	t.Helper()
	var lb *infra.LoadBalancer
	res := runComponent(t, mode, func(ctx *pulumi.Context, deps []pulumi.Resource) error {
		args.DependsOn = deps
		if args.Labels == nil {
			args.Labels = testLabels
		}
		var err error
		lb, err = infra.NewLoadBalancer(ctx, "lb", args)
		return err
	})
	return res, lb
}

func TestLoadBalancerGAESAAffinityOnExternalManagedServerlessBackend(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res, lb := runLoadBalancer(t, mode, infra.LoadBalancerArgs{
			Backends: []infra.RegionBackend{{Region: testRegion, Service: pulumi.String("app-123")}}, Affinity: infra.AffinityGAESA,
		})
		checkParentedAndWaiting(t, res, "cloudrun-affinity:infra:LoadBalancer")

		neg := res.One(t, "gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup")
		if str(neg, "networkEndpointType") != "SERVERLESS" || str(neg, "cloudRun.service") != "app-123" || str(neg, "region") != testRegion {
			t.Errorf("NEG = %s %s %s", neg.InputString("networkEndpointType"), neg.InputString("cloudRun.service"), neg.InputString("region"))
		}
		be := res.One(t, "gcp:compute/backendService:BackendService")
		for path, want := range map[string]string{
			"loadBalancingScheme": "EXTERNAL_MANAGED", "sessionAffinity": "HTTP_COOKIE", "localityLbPolicy": "RING_HASH",
			"consistentHash.httpCookie.name": "GAESA", "consistentHash.httpCookie.path": "/", "protocol": "HTTP",
		} {
			if got := str(be, path); got != want {
				t.Errorf("backend %s = %q, want %q", path, got, want)
			}
		}
		if num(be, "consistentHash.httpCookie.ttl.seconds") != 30*24*3600 {
			t.Errorf("cookie TTL = %s, want 30 days", be.InputString("consistentHash.httpCookie.ttl"))
		}
		if v, ok := boolean(be, "logConfig.enable"); !ok || !v {
			t.Errorf("logging = %s", be.InputString("logConfig"))
		}
		if !be.DependsOn(neg.URN) {
			t.Errorf("backend does not use the NEG")
		}
		for _, k := range []string{"timeoutSec", "portName", "healthChecks", "securityPolicy"} {
			if be.HasInput(k) {
				t.Errorf("backend sets %s = %s", k, be.InputString(k))
			}
		}

		rules := res.OfType("gcp:compute/globalForwardingRule:GlobalForwardingRule")
		addr := res.One(t, "gcp:compute/globalAddress:GlobalAddress")
		checkLabels(t, addr)
		for _, r := range rules {
			checkLabels(t, r)
		}
		if mode == infratest.Update {
			beName, _ := be.Output("name")
			cert, _ := res.One(t, "gcp:compute/managedSslCertificate:ManagedSslCertificate").Output("name")
			if got := infratest.AwaitString(t, lb.BackendServiceName); got != beName.StringValue() {
				t.Errorf("BackendServiceName = %q, want %q", got, beName.StringValue())
			}
			if got := infratest.AwaitString(t, lb.CertificateName); got != cert.StringValue() {
				t.Errorf("CertificateName = %q, want %q", got, cert.StringValue())
			}
			// Monitoring filters on the HTTPS URL map and rule, not the port-80 redirect's.
			urlMap, _ := res.Named(t, "gcp:compute/uRLMap:URLMap", "lb").Output("name")
			rule, _ := res.Named(t, "gcp:compute/globalForwardingRule:GlobalForwardingRule", "lb-https").Output("name")
			if got := infratest.AwaitString(t, lb.URLMapName); got != urlMap.StringValue() {
				t.Errorf("URLMapName = %q, want %q", got, urlMap.StringValue())
			}
			if got := infratest.AwaitString(t, lb.HTTPSForwardingRuleName); got != rule.StringValue() {
				t.Errorf("HTTPSForwardingRuleName = %q, want %q", got, rule.StringValue())
			}
		}
		ports := map[string]infratest.Resource{}
		for _, r := range rules {
			ports[str(r, "portRange")] = r
			if str(r, "loadBalancingScheme") != "EXTERNAL_MANAGED" || !r.DependsOn(addr.URN) {
				t.Errorf("rule %s: scheme %s, on the reserved address %v", r.Name, r.InputString("loadBalancingScheme"), r.DependsOn(addr.URN))
			}
		}
		https, http := ports["443"], ports["80"]
		proxy := res.One(t, "gcp:compute/targetHttpsProxy:TargetHttpsProxy")
		redirectProxy := res.One(t, "gcp:compute/targetHttpProxy:TargetHttpProxy")
		if !https.DependsOn(proxy.URN) || !http.DependsOn(redirectProxy.URN) {
			t.Errorf("443 -> HTTPS proxy: %v; 80 -> redirect proxy: %v", https.DependsOn(proxy.URN), http.DependsOn(redirectProxy.URN))
		}
		redirect := res.Named(t, "gcp:compute/uRLMap:URLMap", "lb-redirect")
		if v, ok := boolean(redirect, "defaultUrlRedirect.httpsRedirect"); !ok || !v {
			t.Errorf("port 80 does not redirect to HTTPS: %s", redirect.InputString("defaultUrlRedirect"))
		}
		cert := res.One(t, "gcp:compute/managedSslCertificate:ManagedSslCertificate")
		if !proxy.DependsOn(cert.URN) {
			t.Errorf("HTTPS proxy does not use the certificate")
		}
		if mode == infratest.Update {
			if got := str(cert, "managed.domains[0]"); got != infratest.AddressIP+".nip.io" {
				t.Errorf("certificate domain = %q, want <ip>.nip.io", got)
			}
			if got := infratest.AwaitString(t, lb.URL); got != "https://"+infratest.AddressIP+".nip.io" {
				t.Errorf("URL = %q", got)
			}
		} else if v := infratest.Await(t, lb.URL); v.Known {
			t.Errorf("URL known in preview (%v) although the address is not reserved yet", v.Value)
		}
	})
}

func TestLoadBalancerWithoutAffinityCustomDomainAndArmor(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res, lb := runLoadBalancer(t, mode, infra.LoadBalancerArgs{
			Backends: []infra.RegionBackend{{Region: testRegion, Service: pulumi.String("app-123")}}, Affinity: infra.AffinityNone,
			Domain: "shop.example.com", SecurityPolicy: pulumi.String("https://armor/selflink"),
		})
		be := res.One(t, "gcp:compute/backendService:BackendService")
		if str(be, "sessionAffinity") != "NONE" || be.HasInput("consistentHash") || be.HasInput("localityLbPolicy") {
			t.Errorf("affinity none: sessionAffinity %s consistentHash %s locality %s",
				be.InputString("sessionAffinity"), be.InputString("consistentHash"), be.InputString("localityLbPolicy"))
		}
		if str(be, "securityPolicy") != "https://armor/selflink" {
			t.Errorf("securityPolicy = %s", be.InputString("securityPolicy"))
		}
		cert := res.One(t, "gcp:compute/managedSslCertificate:ManagedSslCertificate")
		if str(cert, "managed.domains[0]") != "shop.example.com" {
			t.Errorf("certificate domain = %s", cert.InputString("managed.domains"))
		}
		if got := infratest.AwaitString(t, lb.URL); got != "https://shop.example.com" {
			t.Errorf("URL = %q (a custom domain is known even in preview)", got)
		}
	})
}

func TestLoadBalancerNEGAndCertificateAreAutoNamed(t *testing.T) {
	res, _ := runLoadBalancer(t, infratest.Update, infra.LoadBalancerArgs{Backends: []infra.RegionBackend{{Region: testRegion, Service: pulumi.String("s")}}, Affinity: infra.AffinityGAESA})
	for _, typ := range []string{
		"gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup",
		"gcp:compute/managedSslCertificate:ManagedSslCertificate",
	} {
		if r := res.One(t, typ); r.HasInput("name") {
			t.Errorf("%s has a hard-coded name %s; replacement would fail with resource in use", typ, r.InputString("name"))
		}
	}
}

func TestLoadBalancerArgsValidate(t *testing.T) {
	valid := infra.LoadBalancerArgs{Backends: []infra.RegionBackend{{Region: "r", Service: pulumi.String("s")}}, Affinity: "gaesa", Labels: testLabels}
	checkValidation(t, valid, []validationCase[infra.LoadBalancerArgs]{
		{"no backends", func(a *infra.LoadBalancerArgs) { a.Backends = nil }, []string{"Backends is required"}},
		{"region twice", func(a *infra.LoadBalancerArgs) { a.Backends = append(a.Backends, a.Backends[0]) }, []string{`Backends[1]: region "r" is empty or repeated`}},
		{"affinity typo", func(a *infra.LoadBalancerArgs) { a.Affinity = "gaesa " }, []string{`Affinity "gaesa "`, "gaesa, none"}},
		{"cookie", func(a *infra.LoadBalancerArgs) { a.Affinity = "GAESA" }, []string{"gaesa, none"}},
		{"domain", func(a *infra.LoadBalancerArgs) { a.Domain = "https://x.com" }, []string{`Domain "https://x.com"`, "nip.io"}},
		{"uppercase domain", func(a *infra.LoadBalancerArgs) { a.Domain = "Shop.Example.com" }, []string{"lowercase"}},
		{"no service", func(a *infra.LoadBalancerArgs) { a.Backends = []infra.RegionBackend{{Region: "r"}} }, []string{"Backends[0]: Service is required"}},
	})
	checkRefusesBadArgs(t, `load balancer "lb": Affinity "cookie"`, func(ctx *pulumi.Context) error {
		_, err := infra.NewLoadBalancer(ctx, "lb", infra.LoadBalancerArgs{Backends: []infra.RegionBackend{{Region: "r", Service: pulumi.String("s")}}, Affinity: "cookie", Labels: testLabels})
		return err
	})
}

// TestLoadBalancerFailsOverBetweenRegions: one NEG per region in the one backend service, the
// home region's keeping the single-region name, and outlier detection ejecting a region that
// answers errors (the only failover a serverless NEG has with this provider).
func TestLoadBalancerFailsOverBetweenRegions(t *testing.T) {
	res, _ := runLoadBalancer(t, infratest.Update, infra.LoadBalancerArgs{
		Backends: []infra.RegionBackend{
			{Region: "europe-west1", Service: pulumi.String("app-1")},
			{Region: "europe-west4", Service: pulumi.String("app-4")},
			{Region: "us-central1", Service: pulumi.String("app-c")},
		},
		Affinity: infra.AffinityGAESA,
	})
	negs := res.OfType("gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup")
	var names []string
	for _, n := range negs {
		names = append(names, n.Name+"@"+str(n, "region")+"->"+str(n, "cloudRun.service"))
	}
	sort.Strings(names)
	want := "lb-europe-west4@europe-west4->app-4 lb-us-central1@us-central1->app-c lb@europe-west1->app-1"
	if strings.Join(names, " ") != want {
		t.Errorf("NEGs %v, want %s", names, want)
	}
	be := res.One(t, "gcp:compute/backendService:BackendService")
	for _, n := range negs {
		if !be.DependsOn(n.URN) {
			t.Errorf("backend service does not hold %s", n.Name)
		}
	}
	for path, want := range map[string]float64{
		"outlierDetection.consecutiveErrors": 5, "outlierDetection.enforcingConsecutiveErrors": 100,
		"outlierDetection.consecutiveGatewayFailure": 3, "outlierDetection.enforcingConsecutiveGatewayFailure": 100,
		"outlierDetection.interval.seconds": 10, "outlierDetection.baseEjectionTime.seconds": 30,
		"outlierDetection.maxEjectionPercent": 66,
	} {
		if got := num(be, path); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	// One region: nothing to fail over to, and no outlier detection to eject the only backend.
	single, _ := runLoadBalancer(t, infratest.Update, infra.LoadBalancerArgs{
		Backends: []infra.RegionBackend{{Region: "europe-west1", Service: pulumi.String("app-1")}}, Affinity: infra.AffinityGAESA,
	})
	if be := single.One(t, "gcp:compute/backendService:BackendService"); be.HasInput("outlierDetection") {
		t.Errorf("one region: outlierDetection %s", be.InputString("outlierDetection"))
	}
}
