package main

import (
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
