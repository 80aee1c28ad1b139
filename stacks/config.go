package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
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
	Region  string // gcp:region

	Image  string // prebuilt image to deploy; "" builds app/ and deploys it by digest
	Domain string // certificate domain; "" uses <ip>.nip.io

	LBAffinity string // gaesa or none

	MinInstances       int
	MaxInstances       int
	Concurrency        int
	CPU                string
	Memory             string
	DeletionProtection bool // Cloud Run service

	RedisTier            string
	RedisSizeGB          int
	RedisVersion         string
	RedisMaintenanceDay  string
	RedisMaintenanceHour int

	FirestoreLocation         string // defaults to Region
	FirestorePITR             bool
	FirestoreDeleteProtection bool

	SubnetCIDR string

	CloudArmor         bool
	RateLimitPerMinute int

	RegistryKeepCount int
}

// Key describes one config key for errors and the README table.
type Key struct {
	Name    string
	Default string
	Allowed string
}

// Keys are the keys under the project namespace, with defaults and allowed values.
var Keys = []Key{
	{"image", `""`, `an image reference to deploy instead of app/; "" builds app/ and pushes it by digest`},
	{"domain", `""`, `lowercase DNS name; "" uses <ip>.nip.io`},
	{"lbAffinity", infra.AffinityGAESA, strings.Join(infra.LBAffinities, ", ")},
	{"minInstances", "0", "0 or more"},
	{"maxInstances", "3", "1 or more, at least minInstances"},
	{"concurrency", "80", "1..1000"},
	{"cpu", "1", strings.Join(infra.ServiceCPUs, ", ")},
	{"memory", "512Mi", "NMi or NGi, within the range Cloud Run allows for cpu"},
	{"deletionProtection", "true", "true, false"},
	{"redisTier", "BASIC", strings.Join(infra.RedisTiers, ", ")},
	{"redisSizeGb", "1", "1..300"},
	{"redisVersion", "REDIS_7_2", strings.Join(infra.RedisVersions, ", ")},
	{"redisMaintenanceDay", "SUNDAY", "MONDAY..SUNDAY"},
	{"redisMaintenanceHour", "3", "0..23 (UTC)"},
	{"firestoreLocation", "gcp:region", "a Firestore location (region or nam5, eur3)"},
	{"firestorePitr", "true", "true, false"},
	{"firestoreDeleteProtection", "true", "true, false"},
	{"subnetCidr", "10.8.0.0/24", "IPv4 CIDR, /26 or larger, at least 2 addresses per maxInstances"},
	{"cloudArmor", "false", "true, false"},
	{"rateLimitPerMinute", "600", "1..1000000 (per client IP, with cloudArmor)"},
	{"registryKeepCount", "10", "1 or more"},
}

var imagePattern = regexp.MustCompile(`^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+(:[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})?$`)

// maxStackSlug keeps "cloudrun-affinity-<stack>" within Artifact Registry's 63 characters.
const maxStackSlug = 40

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
	c.DeletionProtection = r.boolean("deletionProtection", true)
	c.RedisTier = r.oneOf("redisTier", "BASIC", infra.RedisTiers...)
	c.RedisSizeGB = r.integer("redisSizeGb", 1, 1, 300)
	c.RedisVersion = r.oneOf("redisVersion", "REDIS_7_2", infra.RedisVersions...)
	c.RedisMaintenanceDay = r.oneOf("redisMaintenanceDay", "SUNDAY",
		"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
	c.RedisMaintenanceHour = r.integer("redisMaintenanceHour", 3, 0, 23)
	c.FirestoreLocation = r.str("firestoreLocation", c.Region)
	c.FirestorePITR = r.boolean("firestorePitr", true)
	c.FirestoreDeleteProtection = r.boolean("firestoreDeleteProtection", true)
	c.SubnetCIDR = r.str("subnetCidr", "10.8.0.0/24")
	c.CloudArmor = r.boolean("cloudArmor", false)
	c.RateLimitPerMinute = r.integer("rateLimitPerMinute", 600, 1, 1000000)
	c.RegistryKeepCount = r.integer("registryKeepCount", 10, 1, 1000)

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
	if pre, err := netip.ParsePrefix(c.SubnetCIDR); err != nil || !pre.Addr().Is4() || pre.Bits() > 26 || pre.Masked() != pre {
		r.fail(r.key("subnetCidr"), fmt.Sprintf("%q is not allowed; use an IPv4 network range of /26 or larger, e.g. 10.8.0.0/24", c.SubnetCIDR))
	} else if usable := 1<<(32-pre.Bits()) - 4; 2*c.MaxInstances > usable {
		// Direct VPC egress takes about two addresses per instance (more during a rollout);
		// Google reserves four per subnet. A full subnet stops scale-out with no other sign.
		r.fail(r.key("subnetCidr"), fmt.Sprintf("%q has %d usable addresses, too few for maxInstances %d (Direct VPC egress needs about 2 per instance); use a larger range or fewer instances", c.SubnetCIDR, usable, c.MaxInstances))
	}
	if c.FirestoreLocation == "" {
		r.fail(r.key("firestoreLocation"), "is empty; use a region (e.g. europe-west1) or nam5/eur3")
	}
	// Physical names carry the stack name (Artifact Registry repository ids stop at 63
	// characters, Firestore database ids at 63 with their suffix): refuse before registering.
	if st := slug(ctx.Stack()); st == "" || len(st) > maxStackSlug {
		r.fail("stack name", fmt.Sprintf("%q is not allowed; use 1-%d letters, digits, - or _ (it is part of resource names)", ctx.Stack(), maxStackSlug))
	}
	r.unknownKeys()
	return c, r.err()
}

// unknownKeys reports keys under the project namespace that no setting reads, so a typo
// ("lbAfinity") fails instead of silently falling back to a default. The SDK offers no way
// to list config keys, so this reads the set the CLI hands the program in PULUMI_CONFIG.
func (r *reader) unknownKeys() {
	raw := os.Getenv(pulumi.EnvConfig)
	if raw == "" {
		return
	}
	var all map[string]any
	if err := json.Unmarshal([]byte(raw), &all); err != nil {
		return
	}
	known := map[string]bool{}
	var names []string
	for _, k := range Keys {
		known[r.key(k.Name)] = true
		names = append(names, k.Name)
	}
	for k := range all {
		if strings.HasPrefix(k, r.ns+":") && !known[k] {
			r.fail(k, "is not a setting of this stack; known keys: "+strings.Join(names, ", "))
		}
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

func (r *reader) err() error {
	if len(r.errs) == 0 {
		return nil
	}
	sort.Strings(r.errs)
	return errors.New("invalid stack configuration:\n  " + strings.Join(r.errs, "\n  "))
}
