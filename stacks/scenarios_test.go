package main

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

const ns = "cloudrun-affinity:"

// scenario is one stack configuration the tests run in preview and update mode.
type scenario struct {
	name  string
	stack string
	cfg   infratest.Config
}

// devConfig is the exact configuration in Pulumi.dev.yaml.
func devConfig(t testing.TB) infratest.Config {
	t.Helper()
	cfg, err := infratest.ConfigFromYAML("../Pulumi.dev.yaml")
	if err != nil {
		t.Fatalf("reading the dev stack settings: %v", err)
	}
	return cfg
}

func scenarios(t testing.TB) []scenario {
	dev := devConfig(t)
	return []scenario{
		{"dev", "dev", dev},
		// Production-like: HA Redis, a custom domain, Cloud Armor, protections on (defaults).
		{"prod", "prod", infratest.Config{
			"gcp:project":             "shop-prod-123",
			"gcp:region":              "europe-west1",
			ns + "image":              "europe-west1-docker.pkg.dev/shop-prod-123/cloudrun-affinity-prod/app@sha256:" + strings.Repeat("ab", 32),
			ns + "domain":             "shop.example.com",
			ns + "redisTier":          "STANDARD_HA",
			ns + "redisSizeGb":        "5",
			ns + "cloudArmor":         "true",
			ns + "rateLimitPerMinute": "300",
			ns + "minInstances":       "1",
			ns + "maxInstances":       "20",
			ns + "concurrency":        "40",
			ns + "cpu":                "2",
			ns + "memory":             "1Gi",
			ns + "firestoreLocation":  "eur3",
			ns + "cpuAlwaysAllocated": "true",
			ns + "labels":             `{"team":"shop","cost-center":"cc-42"}`,
			ns + "alertEmails":        `["oncall@example.com","Shop.Team@example.com"]`,
			ns + "sloAvailability":    "0.995",
		}},
		// The dev stack with Cloud Run's affinity alone.
		{"lb-affinity-none", "dev", dev.With(ns+"lbAffinity", "none")},
		// Two regions behind the one load balancer, as a YAML list in the stack file reaches
		// the program (JSON); sessions and carts in Firestore's eur3.
		{"two-regions", "dev", dev.With(ns+"regions", `["europe-west1","europe-west4"]`, ns+"minInstances", "1", ns+"firestoreLocation", "eur3")},
		// Three regions on two continents, the home region listed last.
		{"three-regions", "global", infratest.Config{
			"gcp:project":            "shop-global-123",
			"gcp:region":             "us-central1",
			ns + "regions":           `["us-east1","europe-west1","us-central1"]`,
			ns + "minInstances":      "1",
			ns + "maxInstances":      "10",
			ns + "firestoreLocation": "nam5",
			ns + "redisTier":         "STANDARD_HA",
		}},
	}
}

// runs caches one run per scenario and mode: results are only read, and the invariant tests
// all look at the same runs.
var runs sync.Map // scenario name + mode -> *infratest.Result

// run runs the program for a scenario in a mode (once per test binary).
func (s scenario) run(t *testing.T, mode infratest.Mode) *infratest.Result {
	t.Helper()
	key := s.name + "/" + mode.String()
	if res, ok := runs.Load(key); ok {
		return res.(*infratest.Result)
	}
	res := infratest.MustRun(t, mode, program, infratest.WithConfig(s.cfg), infratest.WithStack(s.stack))
	runs.Store(key, res)
	return res
}

// eachRun runs f for every scenario in both modes.
func eachRun(t *testing.T, f func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result)) {
	t.Helper()
	for _, s := range scenarios(t) {
		t.Run(s.name, func(t *testing.T) {
			infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
				f(t, s, mode, s.run(t, mode))
			})
		})
	}
}

func str(r infratest.Resource, path string) string { return r.Str(path) }

func num(r infratest.Resource, path string) float64 {
	v, ok := r.Input(path)
	if !ok || !v.IsNumber() {
		return -1
	}
	return v.NumberValue()
}

func isTrue(r infratest.Resource, path string) bool {
	v, ok := r.Input(path)
	return ok && v.IsBool() && v.BoolValue()
}

// region is what one RegionalService put in the cloud, and the load balancer's NEG for it.
type region struct {
	Name                              string
	Service, Redis, Subnet, NEG       infratest.Resource
	Secret, SecretVersion, SecretRead infratest.Resource
}

// regionsOf finds every region's resources by parentage, in registration order (home first),
// failing the test when a region lacks one.
func regionsOf(t *testing.T, res *infratest.Result) []region {
	t.Helper()
	var out []region
	for _, rs := range res.OfType("cloudrun-affinity:infra:RegionalService") {
		rg := region{Name: rs.Name}
		found := map[string]bool{}
		var walk func(urn string)
		walk = func(urn string) {
			for _, c := range res.Children(urn) {
				switch c.Type {
				case runService:
					rg.Service = c
				case redisInstance:
					rg.Redis = c
				case "gcp:compute/subnetwork:Subnetwork":
					rg.Subnet = c
				case "gcp:secretmanager/secret:Secret":
					rg.Secret = c
				case "gcp:secretmanager/secretVersion:SecretVersion":
					rg.SecretVersion = c
				case "gcp:secretmanager/secretIamMember:SecretIamMember":
					rg.SecretRead = c
				}
				found[c.Type] = true
				walk(c.URN)
			}
		}
		walk(rs.URN)
		for _, neg := range res.OfType("gcp:compute/regionNetworkEndpointGroup:RegionNetworkEndpointGroup") {
			if neg.DependsOn(rg.Service.URN) {
				rg.NEG = neg
				found["neg"] = true
			}
		}
		for _, typ := range []string{runService, redisInstance, "gcp:compute/subnetwork:Subnetwork", "gcp:secretmanager/secret:Secret",
			"gcp:secretmanager/secretVersion:SecretVersion", "gcp:secretmanager/secretIamMember:SecretIamMember", "neg"} {
			if !found[typ] {
				t.Fatalf("region %s has no %s", rs.Name, typ)
			}
		}
		out = append(out, rg)
	}
	if len(out) == 0 {
		t.Fatal("no RegionalService registered")
	}
	return out
}

// regionsWanted are a scenario's regions, home first, as LoadConfig orders them.
func (s scenario) regionsWanted() []string {
	home := s.cfg["gcp:region"]
	out := []string{home}
	var listed []string
	if raw := s.cfg[ns+"regions"]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &listed); err != nil {
			panic(err)
		}
	}
	for _, r := range listed {
		if r != home {
			out = append(out, r)
		}
	}
	return out
}
