package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

func loadConfig(t *testing.T, cfg infratest.Config) (Config, error) {
	t.Helper()
	var got Config
	var loadErr error
	_, err := infratest.Run(infratest.Update, func(ctx *pulumi.Context) error {
		got, loadErr = LoadConfig(ctx)
		return nil
	}, infratest.WithConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return got, loadErr
}

func TestConfigDefaults(t *testing.T) {
	c, err := loadConfig(t, infratest.Config{"gcp:project": "p", "gcp:region": "us-central1"})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Project: "p", Region: "us-central1", Image: "", LBAffinity: "gaesa",
		MinInstances: 0, MaxInstances: 3, Concurrency: 80, CPU: "1", Memory: "512Mi", DeletionProtection: true,
		RedisTier: "BASIC", RedisSizeGB: 1, RedisVersion: "REDIS_7_2", RedisMaintenanceDay: "SUNDAY", RedisMaintenanceHour: 3,
		RedisSnapshotPeriod: "1h",
		FirestoreLocation:   "us-central1", FirestorePITR: true, FirestoreDeleteProtection: true,
		SubnetCIDR: "10.8.0.0/24", RateLimitPerMinute: 600, RegistryKeepCount: 10,
		Labels: map[string]string{}, Regions: []string{"us-central1"}, AlertEmails: []string{}, SLOAvailability: 0.999,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
}

func TestDevStackSettingsAreCompleteAndValid(t *testing.T) {
	cfg := devConfig(t)
	known := map[string]bool{}
	for _, k := range Keys {
		known[ns+k.Name] = true
	}
	for k := range cfg {
		if strings.HasPrefix(k, ns) && !known[k] {
			t.Errorf("Pulumi.dev.yaml sets unknown key %s (typo?)", k)
		}
	}
	for _, k := range []string{"gcp:project", "gcp:region"} {
		if cfg[k] == "" {
			t.Errorf("Pulumi.dev.yaml lacks %s", k)
		}
	}
	c, err := loadConfig(t, cfg)
	if err != nil {
		t.Fatalf("Pulumi.dev.yaml is not valid: %v", err)
	}
	if c.RedisTier != "BASIC" || c.RedisSizeGB != 1 || c.FirestorePITR || c.FirestoreDeleteProtection || c.DeletionProtection {
		t.Errorf("dev stack should be BASIC 1 GB with protections off: %+v", c)
	}
}

func TestConfigKeysTableMatchesLoader(t *testing.T) {
	// Every key in the table is read by LoadConfig: setting it to junk must produce an error naming it.
	for _, k := range Keys {
		if k.Name == "image" || k.Name == "domain" || k.Name == "firestoreLocation" {
			continue // free-form strings, checked by format below
		}
		_, err := loadConfig(t, infratest.Config{"gcp:project": "p", "gcp:region": "r", ns + k.Name: "junk!"})
		if err == nil || !strings.Contains(err.Error(), ns+k.Name) {
			t.Errorf("key %s: junk accepted or error does not name it: %v", k.Name, err)
		}
	}
}

func TestBadConfigFailsWithTheMessageAUserNeeds(t *testing.T) {
	base := infratest.Config{"gcp:project": "p", "gcp:region": "europe-west1"}
	for _, tc := range []struct {
		name string
		cfg  infratest.Config
		want []string
	}{
		{"unknown tier", base.With(ns+"redisTier", "PREMIUM"), []string{ns + "redisTier", `"PREMIUM"`, "BASIC, STANDARD_HA"}},
		{"negative instances", base.With(ns+"minInstances", "-1"), []string{ns + "minInstances", "-1", "0..1000"}},
		{"max below min", base.With(ns+"minInstances", "5", ns+"maxInstances", "2"), []string{ns + "maxInstances", "below minInstances 5"}},
		{"lbAffinity typo", base.With(ns+"lbAffinity", "gaesaa"), []string{ns + "lbAffinity", `"gaesaa"`, "gaesa, none"}},
		{"missing project", infratest.Config{"gcp:region": "europe-west1"}, []string{"gcp:project is required", "pulumi config set gcp:project"}},
		{"missing region", infratest.Config{"gcp:project": "p"}, []string{"gcp:region is required"}},
		{"not a number", base.With(ns+"redisSizeGb", "one"), []string{ns + "redisSizeGb", `"one" is not a whole number`, "1..300"}},
		{"not a bool", base.With(ns+"cloudArmor", "yes"), []string{ns + "cloudArmor", "true or false"}},
		{"bad domain", base.With(ns+"domain", "https://shop.example.com"), []string{ns + "domain", "nip.io"}},
		{"bad image", base.With(ns+"image", "not an image"), []string{ns + "image", "REGISTRY/PATH"}},
		{"small subnet", base.With(ns+"subnetCidr", "10.0.0.0/28"), []string{ns + "subnetCidr", "/26 or larger"}},
		{"subnet too small for maxInstances", base.With(ns+"subnetCidr", "10.0.0.0/26", ns+"maxInstances", "13"),
			[]string{ns + "subnetCidr", "3 blocks of 16 addresses", "enough for 12 instances", "maxInstances 13", "twice that while a rollout", "vpc-direct-vpc", "use a /25 or larger"}},
		{"bad label", base.With(ns+"labels", `{"Team":"shop","env":"Prod","app":"x"}`),
			[]string{ns + "labels", `key "Team" is not allowed`, `value "Prod" of "env"`, `key "app" is set by the stack`}},
		{"labels not a map", base.With(ns+"labels", `["team"]`), []string{ns + "labels", "map of label keys"}},
		{"bad snapshot period", base.With(ns+"redisSnapshotPeriod", "2h"), []string{ns + "redisSnapshotPeriod", "off, 1h, 6h, 12h, 24h"}},
		{"unknown region", base.With(ns+"regions", `["europe-west1","mars-north1"]`), []string{ns + "regions", `"mars-north1" is not a Cloud Run region`}},
		{"region twice", base.With(ns+"regions", `["europe-west1","europe-west4","europe-west4"]`, ns+"minInstances", "1", ns+"firestoreLocation", "eur3"), []string{ns + "regions", `lists "europe-west4" twice`}},
		{"home region missing", base.With(ns+"regions", `["europe-west4","us-central1"]`, ns+"minInstances", "1", ns+"firestoreLocation", "eur3"), []string{ns + "regions", `does not include gcp:region "europe-west1"`}},
		{"too many regions", base.With(ns+"regions", `["europe-west1","europe-west2","europe-west3","europe-west4","europe-west6","europe-west8"]`, ns+"minInstances", "1", ns+"firestoreLocation", "eur3"),
			[]string{ns + "regions", "has 6 regions; use at most 5"}},
		{"regions not a list", base.With(ns+"regions", "europe-west1,europe-west4"), []string{ns + "regions", "is not a list of regions"}},
		{"several regions, no minimum instance", base.With(ns+"regions", `["europe-west1","europe-west4"]`, ns+"firestoreLocation", "eur3"), []string{ns + "minInstances", "with 2 regions use at least 1"}},
		{"several regions, one Firestore region", base.With(ns+"regions", `["europe-west1","europe-west4"]`, ns+"minInstances", "1"), []string{ns + "firestoreLocation", `"europe-west1" is one region`, "nam5, nam7, eur3"}},
		{"bad runtime account", base.With(ns+"runtimeServiceAccount", "me@example.com"), []string{ns + "runtimeServiceAccount", "iam.gserviceaccount.com"}},
		{"bad memory", base.With(ns+"memory", "1GB"), []string{ns + "memory", "512Mi"}},
		{"bad cpu", base.With(ns+"cpu", "3"), []string{ns + "cpu", "1, 2, 4, 6, 8"}},
		{"memory too small for the cpu", base.With(ns+"cpu", "4"), []string{ns + "memory", `"512Mi" does not fit 4 CPU`, "2Gi to 16Gi"}},
		{"memory too large for the cpu", base.With(ns+"memory", "16Gi"), []string{ns + "memory", `"16Gi" does not fit 1 CPU`, "128Mi to 4Gi"}},
		{"alert email", base.With(ns+"alertEmails", `["oncall@example.com","oncall"]`), []string{ns + "alertEmails", `"oncall" is not an email address`}},
		{"alert email twice", base.With(ns+"alertEmails", `["a@example.com","A@example.com"]`), []string{ns + "alertEmails", "listed twice"}},
		{"alert emails not a list", base.With(ns+"alertEmails", "oncall@example.com"), []string{ns + "alertEmails", "not a list of email addresses", `pulumi config set alertEmails '["oncall@example.com"]'`}},
		{"slo 1", base.With(ns+"sloAvailability", "1"), []string{ns + "sloAvailability", "out of range", "0.9..0.9999"}},
		{"slo percent", base.With(ns+"sloAvailability", "99.9"), []string{ns + "sloAvailability", "0.999 for 99.9%"}},
		{"slo too low", base.With(ns+"sloAvailability", "0.8"), []string{ns + "sloAvailability", "0.8 is out of range"}},
		{"slo not a number", base.With(ns+"sloAvailability", "high"), []string{ns + "sloAvailability", `"high" is not a number`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := infratest.Run(infratest.Preview, program, infratest.WithConfig(tc.cfg))
			if err == nil {
				t.Fatal("bad config accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
			if n := len(res.Resources()); n != 0 {
				t.Errorf("%d resources registered before the config error; want none", n)
			}
		})
	}
}

func TestBadConfigListsEveryProblemInOneError(t *testing.T) {
	cfg := infratest.Config{
		"gcp:region":       "europe-west1",
		ns + "redisTier":   "MEGA",
		ns + "lbAffinity":  "sticky",
		ns + "concurrency": "0",
	}
	_, err := infratest.Run(infratest.Update, program, infratest.WithConfig(cfg))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range []string{"gcp:project", ns + "redisTier", ns + "lbAffinity", ns + "concurrency"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not list %s:\n%v", w, err)
		}
	}
}

func TestConfigTypoInAKeyIsReported(t *testing.T) {
	// The CLI passes the whole stack config in PULUMI_CONFIG; an unknown key there is a typo.
	t.Setenv("PULUMI_CONFIG", `{"gcp:project":"p","gcp:region":"r","cloudrun-affinity:lbAfinity":"none","aws:region":"x"}`)
	_, err := loadConfig(t, infratest.Config{"gcp:project": "p", "gcp:region": "r", ns + "lbAfinity": "none"})
	if err == nil || !strings.Contains(err.Error(), ns+"lbAfinity is not a setting") || !strings.Contains(err.Error(), "lbAffinity") {
		t.Fatalf("err = %v, want the typo named with the known keys", err)
	}
	if strings.Contains(err.Error(), "aws:region") {
		t.Errorf("keys of other namespaces are not ours to judge: %v", err)
	}
}

func TestRegionsAcceptAYAMLListAndTheJSONStringConfigSetStores(t *testing.T) {
	base := infratest.Config{"gcp:project": "p", "gcp:region": "europe-west1", ns + "minInstances": "1", ns + "firestoreLocation": "eur3"}
	// A YAML list in Pulumi.<stack>.yaml reaches the program as JSON, and so does the string
	// `pulumi config set regions '["europe-west4","europe-west1"]'` stores; the home region goes first.
	for _, raw := range []string{`["europe-west4","europe-west1"]`, `[ "europe-west4", "europe-west1" ]`} {
		c, err := loadConfig(t, base.With(ns+"regions", raw))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if strings.Join(c.Regions, " ") != "europe-west1 europe-west4" {
			t.Errorf("%s: regions %v, want home first", raw, c.Regions)
		}
	}
	cfg, err := infratest.ConfigFromYAML(writeStackFile(t, "config:\n  gcp:project: p\n  gcp:region: europe-west1\n  cloudrun-affinity:regions:\n    - europe-west1\n    - europe-west4\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(t, cfg.With(ns+"minInstances", "1", ns+"firestoreLocation", "eur3"))
	if err != nil || strings.Join(c.Regions, " ") != "europe-west1 europe-west4" {
		t.Errorf("YAML list: regions %v, err %v", c.Regions, err)
	}
}

func writeStackFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "Pulumi.test.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// alertEmails arrives as JSON text both from a YAML list in the stack file (the CLI hands
// lists to the program as JSON) and from a JSON string set with `pulumi config set`.
func TestAlertEmailsAcceptAYAMLListAndAJSONString(t *testing.T) {
	yaml := "config:\n  gcp:project: p\n  gcp:region: europe-west1\n  cloudrun-affinity:alertEmails:\n    - oncall@example.com\n    - shop@example.com\n  cloudrun-affinity:sloAvailability: 0.995\n"
	fromYAML, err := infratest.ConfigFromYAML(writeStackFile(t, yaml))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"oncall@example.com", "shop@example.com"}
	for name, cfg := range map[string]infratest.Config{
		"YAML list":   fromYAML,
		"JSON string": {"gcp:project": "p", "gcp:region": "europe-west1", ns + "alertEmails": `["oncall@example.com", "shop@example.com"]`, ns + "sloAvailability": "0.995"},
	} {
		c, err := loadConfig(t, cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(c.AlertEmails, want) || c.SLOAvailability != 0.995 {
			t.Errorf("%s: alertEmails %v, sloAvailability %v", name, c.AlertEmails, c.SLOAvailability)
		}
	}
	for _, empty := range []string{"[]", ""} {
		c, err := loadConfig(t, infratest.Config{"gcp:project": "p", "gcp:region": "r", ns + "alertEmails": empty})
		if err != nil || len(c.AlertEmails) != 0 {
			t.Errorf("alertEmails %q: %v, %v; want none (alerts without channels)", empty, c.AlertEmails, err)
		}
	}
}
