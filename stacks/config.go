package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Config is the whole stack configuration: gcp:project, gcp:region and the keys under the
// project's namespace (cloudrun-affinity:KEY).
type Config struct {
	Project string // gcp:project
	Region  string // gcp:region: the stack's home region
	// Regions run the service, the home region first; the default is the home region alone.
	Regions []string

	Image  string // prebuilt image to deploy; "" builds app/ and deploys it by digest
	Domain string // certificate domain; "" uses <ip>.nip.io

	LBAffinity string // gaesa or none

	MinInstances       int
	MaxInstances       int
	Concurrency        int
	CPU                string
	Memory             string
	CPUAlwaysAllocated bool
	DeletionProtection bool // Cloud Run service
	// RuntimeServiceAccount is an existing account to run as; "" creates one (see infra.Identity).
	RuntimeServiceAccount string

	RedisTier            string
	RedisSizeGB          int
	RedisVersion         string
	RedisMaintenanceDay  string
	RedisMaintenanceHour int
	RedisSnapshotPeriod  string

	FirestoreLocation         string // defaults to Region
	FirestorePITR             bool
	FirestoreDeleteProtection bool

	SubnetCIDR string

	CloudArmor         bool
	RateLimitPerMinute int

	RegistryKeepCount int

	// Labels are the user's own labels for every labelable resource (app, stack and
	// managed-by are added by the stack).
	Labels map[string]string

	// AlertEmails get an email notification channel each; empty: alerts without channels.
	AlertEmails []string
	// SLOAvailability is the availability SLO's goal (infra.SLOGoalMin..infra.SLOGoalMax).
	SLOAvailability float64
}

// Key describes one config key: its type and default as Pulumi.yaml declares them (a test
// keeps the two equal) and a description for `pulumi new`, `pulumi config` and errors.
type Key struct {
	Name string
	// Type is Pulumi's config type: string, integer or boolean; "" declares the key without a
	// type: lists and maps, because the CLI checks a typed list or map only in its structured
	// form and would refuse the JSON string `pulumi config set KEY '[...]'` stores; and
	// fractions, because Pulumi's project schema has no number type
	// (sdk/go/common/workspace/project.json, simpleConfigType); the program checks those.
	Type string
	// Default is the value used when the key is unset. Every key has one: the CLI refuses to
	// run a stack that lacks a key Pulumi.yaml declares without a default (pulumi/pulumi#21797).
	// "" or an empty list stands for a default that depends on another key (Description says which).
	Default     any
	Description string
}

// Keys are the keys under the project namespace.
var Keys = []Key{
	{"image", "string", "", `Image to deploy instead of app/ (REGISTRY/PATH[:TAG|@sha256:DIGEST]); "" builds app/ and deploys it by digest`},
	{"domain", "string", "", `Lowercase DNS name for the certificate, whose A record you point at ipAddress; "" uses <ip>.nip.io`},
	{"lbAffinity", "string", infra.AffinityGAESA, "Load balancer session affinity: " + strings.Join(infra.LBAffinities, " or ") + " (see README)"},
	{"minInstances", "integer", 0, "Minimum Cloud Run instances, 0..1000"},
	{"maxInstances", "integer", 3, "Maximum Cloud Run instances, 1..1000, at least minInstances"},
	{"concurrency", "integer", 80, "Concurrent requests per instance, 1..1000"},
	{"cpu", "string", "1", "CPU limit per instance: " + strings.Join(infra.ServiceCPUs, ", ")},
	{"memory", "string", "512Mi", "Memory limit per instance (NMi or NGi) within Cloud Run's range for cpu"},
	{"cpuAlwaysAllocated", "boolean", false, "Keep CPU allocated outside requests (instance-based billing); false bills only while requests run"},
	{"deletionProtection", "boolean", true, "Refuse to delete the Cloud Run service"},
	{"runtimeServiceAccount", "string", "", `Email of an existing service account to run as (the CI bootstrap creates one); "" creates affinity-run-<stack>`},
	{"redisTier", "string", "BASIC", "Memorystore tier: " + strings.Join(infra.RedisTiers, " or ")},
	{"redisSizeGb", "integer", 1, "Memorystore size in GB, 1..300"},
	{"redisVersion", "string", "REDIS_7_2", "Redis version: " + strings.Join(infra.RedisVersions, " or ")},
	{"redisMaintenanceDay", "string", "SUNDAY", "Weekly maintenance day, MONDAY..SUNDAY"},
	{"redisMaintenanceHour", "integer", 3, "Maintenance start hour, 0..23 (UTC)"},
	{"redisSnapshotPeriod", "string", "1h", "RDB snapshots, so a restart reloads sessions: " + strings.Join(infra.RedisSnapshotSettings, ", ")},
	{"firestoreLocation", "string", "", `Firestore location: a region or nam5/eur3; "" uses gcp:region`},
	{"firestorePitr", "boolean", true, "Firestore point-in-time recovery"},
	{"firestoreDeleteProtection", "boolean", true, "Firestore delete protection; destroy then leaves the database (and its TTL policy) in place"},
	{"subnetCidr", "string", "10.8.0.0/24", "IPv4 range of the Direct VPC egress subnet, /26 or larger, 4 addresses per maxInstances in blocks of 16"},
	{"cloudArmor", "boolean", false, "Cloud Armor per-client-IP rate limit"},
	{"rateLimitPerMinute", "integer", 600, "Requests per minute per client IP with cloudArmor, 1..1000000"},
	{"registryKeepCount", "integer", 10, "Image versions the registry cleanup keeps, 1..1000"},
	{"labels", "", map[string]any{}, "Labels for every resource that takes labels (lowercase keys and values); app, stack and managed-by are set by the stack"},
	{"regions", "", []any{}, "Cloud Run regions to serve from, at most 5, including gcp:region ([] serves from gcp:region alone); more than one needs minInstances >= 1 and a multi-region firestoreLocation"},
	{"alertEmails", "", []any{}, "Email addresses that get the alerts, one notification channel each; [] creates the alerts without channels"},
	{"sloAvailability", "", 0.999, "Availability SLO goal: the share of load balancer requests that are not 5xx over 28 days, 0.9..0.9999"},
}

var imagePattern = regexp.MustCompile(`^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+(:[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})?$`)

// LoadConfig reads and validates the whole configuration. The error lists every bad key.
func LoadConfig(ctx *pulumi.Context) (Config, error) {
	r := reader{ctx: ctx, ns: ctx.Project()}
	c := Config{
		Project: r.raw("gcp:project"),
		Region:  r.raw("gcp:region"),
	}
	if c.Project == "" {
		r.fail("gcp:project", "is required: set it with `pulumi config set gcp:project YOUR_PROJECT_ID`")
	}
	if c.Region == "" {
		r.fail("gcp:region", "is required: set it with `pulumi config set gcp:region europe-west1`")
	}
	c.Image = r.str("image", "")
	c.Domain = r.str("domain", "")
	c.LBAffinity = r.oneOf("lbAffinity", infra.AffinityGAESA, infra.LBAffinities...)
	c.MinInstances = r.integer("minInstances", 0, 0, 1000)
	c.MaxInstances = r.integer("maxInstances", 3, 1, 1000)
	c.Concurrency = r.integer("concurrency", 80, 1, 1000)
	c.CPU = r.oneOf("cpu", "1", infra.ServiceCPUs...)
	c.Memory = r.str("memory", "512Mi")
	c.CPUAlwaysAllocated = r.boolean("cpuAlwaysAllocated", false)
	c.DeletionProtection = r.boolean("deletionProtection", true)
	c.RuntimeServiceAccount = r.str("runtimeServiceAccount", "")
	c.RedisTier = r.oneOf("redisTier", "BASIC", infra.RedisTiers...)
	c.RedisSizeGB = r.integer("redisSizeGb", 1, 1, 300)
	c.RedisVersion = r.oneOf("redisVersion", "REDIS_7_2", infra.RedisVersions...)
	c.RedisMaintenanceDay = r.oneOf("redisMaintenanceDay", "SUNDAY",
		"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
	c.RedisMaintenanceHour = r.integer("redisMaintenanceHour", 3, 0, 23)
	c.RedisSnapshotPeriod = r.oneOf("redisSnapshotPeriod", "1h", infra.RedisSnapshotSettings...)
	if c.FirestoreLocation = r.str("firestoreLocation", ""); c.FirestoreLocation == "" {
		c.FirestoreLocation = c.Region
	}
	c.FirestorePITR = r.boolean("firestorePitr", true)
	c.FirestoreDeleteProtection = r.boolean("firestoreDeleteProtection", true)
	c.SubnetCIDR = r.str("subnetCidr", "10.8.0.0/24")
	c.CloudArmor = r.boolean("cloudArmor", false)
	c.RateLimitPerMinute = r.integer("rateLimitPerMinute", 600, 1, 1000000)
	c.RegistryKeepCount = r.integer("registryKeepCount", 10, 1, 1000)
	c.Labels = r.labels("labels")
	c.Regions = r.regions("regions", c.Region)
	c.AlertEmails = r.emails("alertEmails")
	c.SLOAvailability = r.fraction("sloAvailability", 0.999, infra.SLOGoalMin, infra.SLOGoalMax)

	// Cross-field and format checks, with the user's key names.
	if c.MaxInstances < c.MinInstances {
		r.fail(r.key("maxInstances"), fmt.Sprintf("is %d, below minInstances %d; use at least minInstances", c.MaxInstances, c.MinInstances))
	}
	if c.Image != "" && !imagePattern.MatchString(c.Image) {
		r.fail(r.key("image"), fmt.Sprintf("%q is not an image reference; use REGISTRY/PATH[:TAG|@sha256:DIGEST]", c.Image))
	}
	if c.Domain != "" && !infra.ValidDomain(c.Domain) {
		r.fail(r.key("domain"), fmt.Sprintf("%q is not a lowercase DNS name (e.g. shop.example.com); leave it empty to use <ip>.nip.io", c.Domain))
	}
	if !infra.ValidMemory(c.Memory) {
		r.fail(r.key("memory"), fmt.Sprintf("%q is not a size; use e.g. 512Mi or 1Gi", c.Memory))
	} else if err := infra.MemoryFitsCPU(c.CPU, c.Memory); err != nil {
		// Cloud Run would reject the revision only after Redis, Firestore and the rest exist.
		r.fail(r.key("memory"), err.Error())
	}
	// A full subnet stops scale-out and rollouts with no other sign.
	if err := infra.SubnetFits(c.SubnetCIDR, c.MaxInstances); err != nil {
		r.fail(r.key("subnetCidr"), err.Error())
	} else if _, err := infra.RegionSubnets(c.SubnetCIDR, len(c.Regions)); err != nil {
		r.fail(r.key("subnetCidr"), err.Error()+" (one per region)")
	}
	if len(c.Regions) > 1 {
		// Failback needs an instance to send traffic to, and the readiness-based failover a
		// newer provider offers needs one per region (Cloud Run "configure service health").
		if c.MinInstances < 1 {
			r.fail(r.key("minInstances"), fmt.Sprintf("is %d; with %d regions use at least 1, so every region has an instance to fail over to", c.MinInstances, len(c.Regions)))
		}
		// Carts and sessions outlive a region only in a multi-region location.
		if !slices.Contains(infra.FirestoreMultiRegions, c.FirestoreLocation) {
			r.fail(r.key("firestoreLocation"), fmt.Sprintf("%q is one region; with several regions use a multi-region location (%s), or losing that region loses carts and sessions",
				c.FirestoreLocation, strings.Join(infra.FirestoreMultiRegions, ", ")))
		}
	}
	if c.RuntimeServiceAccount != "" && !infra.ValidServiceAccountEmail(c.RuntimeServiceAccount) {
		r.fail(r.key("runtimeServiceAccount"), fmt.Sprintf("%q is not a service account email; use NAME@PROJECT.iam.gserviceaccount.com, or \"\" to create one", c.RuntimeServiceAccount))
	}
	r.unknownKeys()
	return c, r.err()
}

// unknownKeys reports keys under the project namespace that no setting reads, so a typo
// ("lbAfinity") fails instead of silently falling back to a default.
func (r *reader) unknownKeys() {
	known := map[string]bool{}
	names := []string{}
	for _, k := range Keys {
		known[r.key(k.Name)] = true
		names = append(names, k.Name)
	}
	for _, k := range infra.UnknownConfigKeys(r.ns, func(k string) bool { return known[k] }) {
		r.fail(k, "is not a setting of this stack; known keys: "+strings.Join(names, ", "))
	}
}

// reader collects every problem instead of stopping at the first.
type reader struct {
	ctx  *pulumi.Context
	ns   string
	errs []string
}

func (r *reader) key(k string) string { return r.ns + ":" + k }

func (r *reader) raw(fullKey string) string {
	v, _ := r.ctx.GetConfig(fullKey)
	return strings.TrimSpace(v)
}

func (r *reader) fail(key, msg string) { r.errs = append(r.errs, key+" "+msg) }

func (r *reader) str(k, def string) string {
	if v, ok := r.ctx.GetConfig(r.key(k)); ok {
		return strings.TrimSpace(v)
	}
	return def
}

func (r *reader) oneOf(k, def string, allowed ...string) string {
	v := r.str(k, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.fail(r.key(k), fmt.Sprintf("%q is not allowed; use one of: %s", v, strings.Join(allowed, ", ")))
	return v
}

func (r *reader) integer(k string, def, lo, hi int) int {
	s, ok := r.ctx.GetConfig(r.key(k))
	if !ok {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		r.fail(r.key(k), fmt.Sprintf("%q is not a whole number; use %d..%d", s, lo, hi))
		return def
	}
	if n < lo || n > hi {
		r.fail(r.key(k), fmt.Sprintf("%d is out of range; use %d..%d", n, lo, hi))
	}
	return n
}

func (r *reader) boolean(k string, def bool) bool {
	s, ok := r.ctx.GetConfig(r.key(k))
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	if err != nil {
		r.fail(r.key(k), fmt.Sprintf("%q is not allowed; use true or false", s))
		return def
	}
	return b
}

// json decodes key k's JSON text (lists and maps reach the program as JSON) into dst. It is
// false when the key is unset or empty, or, reported as "<value> is not <want>", when the text
// is not JSON of dst's shape.
func (r *reader) json(k string, dst any, want string) bool {
	s := r.raw(r.key(k))
	if s == "" {
		return false
	}
	if err := json.Unmarshal([]byte(s), dst); err != nil {
		r.fail(r.key(k), fmt.Sprintf("%q is not %s", s, want))
		return false
	}
	return true
}

// labels reads a map of label keys to values: a YAML map in the stack file reaches the
// program as a JSON object.
func (r *reader) labels(k string) map[string]string {
	var m map[string]string
	if !r.json(k, &m, "a map of label keys to string values; e.g. labels: {team: shop, env: prod}") {
		return map[string]string{}
	}
	for _, msg := range infra.LabelProblems(m) {
		r.fail(r.key(k), msg)
	}
	return m
}

// regions reads the list of regions: a YAML list in the stack file and the JSON string
// `pulumi config set regions '["a","b"]'` stores both reach the program as a JSON array. The
// home region is moved first; the rest keep their order.
func (r *reader) regions(k, home string) []string {
	var list []string
	if r.raw(r.key(k)) == "[]" || !r.json(k, &list, `a list of regions; e.g. ["europe-west1", "europe-west4"]`) {
		return []string{home}
	}
	seen := map[string]bool{}
	out := []string{home}
	for _, region := range list {
		switch {
		case seen[region]:
			r.fail(r.key(k), fmt.Sprintf("lists %q twice", region))
		case !slices.Contains(infra.CloudRunRegions, region):
			r.fail(r.key(k), fmt.Sprintf("%q is not a Cloud Run region (cloud.google.com/run/docs/locations), e.g. europe-west1, us-central1", region))
		case region != home:
			out = append(out, region)
		}
		seen[region] = true
	}
	if home != "" && !seen[home] {
		r.fail(r.key(k), fmt.Sprintf("%v does not include gcp:region %q, the stack's home region; add it", list, home))
	}
	if len(list) > infra.MaxRegions {
		r.fail(r.key(k), fmt.Sprintf("has %d regions; use at most %d", len(list), infra.MaxRegions))
	}
	return out
}

// emails reads a list of email addresses: a YAML list in the stack file and the JSON string
// `pulumi config set alertEmails '["a@b.c"]'` stores both reach the program as JSON text (the
// key is untyped in Pulumi.yaml so the CLI lets the string through).
func (r *reader) emails(k string) []string {
	var list []string
	if !r.json(k, &list, `a list of email addresses; e.g. alertEmails: [oncall@example.com] in the stack file, or `+
		"`pulumi config set alertEmails '[\"oncall@example.com\"]'`") {
		return []string{}
	}
	for i := range list {
		list[i] = strings.TrimSpace(list[i])
	}
	for _, msg := range infra.EmailProblems(list) {
		r.fail(r.key(k), msg)
	}
	if list == nil {
		list = []string{}
	}
	return list
}

// fraction reads a number in [lo, hi].
func (r *reader) fraction(k string, def, lo, hi float64) float64 {
	s, ok := r.ctx.GetConfig(r.key(k))
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		r.fail(r.key(k), fmt.Sprintf("%q is not a number; use %v..%v, e.g. 0.999", s, lo, hi))
		return def
	}
	if f < lo || f > hi {
		r.fail(r.key(k), fmt.Sprintf("%v is out of range; use %v..%v (e.g. 0.999 for 99.9%%; the SLO API accepts at most %v)", f, lo, hi, hi))
	}
	return f
}

func (r *reader) err() error {
	if len(r.errs) == 0 {
		return nil
	}
	sort.Strings(r.errs)
	return errors.New("invalid stack configuration:\n  " + strings.Join(r.errs, "\n  "))
}
