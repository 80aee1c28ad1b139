package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Config is the bootstrap stack's whole configuration, defaults filled in.
type Config struct {
	Project             string // gcp:project
	Region              string // gcp:region (optional here: only the default bucket location)
	Repository          string // githubRepository, OWNER/NAME
	RepositoryID        string // githubRepositoryId, GitHub's numeric repository id
	RepositoryOwnerID   string // githubRepositoryOwnerId, GitHub's numeric owner (user or org) id
	StateBucket         string // stateBucket
	StateBucketLocation string // stateBucketLocation, default gcp:region
	PoolID              string // workloadIdentityPoolId
	ProviderID          string // workloadIdentityProviderId
	DeployerAccountID   string // deployerAccountId
	PreviewerAccountID  string // previewerAccountId
	GrantableRoles      []string
	// DeployEnvironments are the GitHub environments whose jobs may impersonate the deployer
	// (deployEnvironments).
	DeployEnvironments []string
	// DeployStacks are the main program's stacks the deployer deploys (deployStacks): each gets
	// a runtime service account the deployer may act as, and its Secret Manager secret.
	DeployStacks []string
	// ExistingRuntimeAccounts maps a deploy stack to the runtime service account its main stack
	// created itself (existingRuntimeServiceAccounts); no account is created for those.
	ExistingRuntimeAccounts map[string]string
}

// Defaults for the optional keys.
const (
	defaultPoolID             = "github"
	defaultProviderID         = "github-actions"
	defaultDeployerAccountID  = "pulumi-deployer"
	defaultPreviewerAccountID = "pulumi-previewer"
)

// defaultGrantableRoles are the roles the main stack grants at project level (infra.Identity gives
// the app's runtime service account Firestore data access and the telemetry export), the only
// ones the deployer may add or remove (see deployer.go).
var defaultGrantableRoles = append([]string{infra.RoleDatastoreUser}, infra.TelemetryRoles...)

// The deploy workflow runs `pulumi up` of the dev stack behind the GitHub environment dev.
var (
	defaultDeployEnvironments = []string{"dev"}
	defaultDeployStacks       = []string{"dev"}
)

var (
	projectRE    = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	repositoryRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$`)
	numericIDRE  = regexp.MustCompile(`^[1-9][0-9]{0,19}$`)
	bucketRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$`)
	locationRE   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]$`)
	wifIDRE      = regexp.MustCompile(`^[a-z0-9-]{4,32}$`)
	accountRE    = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	roleRE       = regexp.MustCompile(`^roles/[A-Za-z0-9_.]+$`)
	// A GitHub environment name as it appears in the OIDC token's environment claim and in a
	// principalSet path segment: no slashes, spaces or quotes.
	environmentRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)
	// A main stack name, as deploy.yml accepts it and short enough for the main program's
	// resource names (stacks/config.go refuses slugs over 40 characters).
	stackRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,39}$`)
)

// loadConfig reads the stack configuration; the error lists every bad key at once.
func loadConfig(ctx *pulumi.Context) (Config, error) {
	ns := ctx.Project()
	var p problems
	read := map[string]bool{} // every key the program reads, for the typo check below
	get := func(key string) string {
		if !strings.Contains(key, ":") {
			key = ns + ":" + key
		}
		read[key] = true
		v, _ := ctx.GetConfig(key)
		return strings.TrimSpace(v)
	}
	// jsonKey decodes a JSON value into dst; an unset key leaves dst nil.
	jsonKey := func(key, example string, dst any) {
		raw := get(key)
		if raw == "" {
			return
		}
		if err := json.Unmarshal([]byte(raw), dst); err != nil {
			p.bad(ns, key, "%q is not JSON of the form %s", raw, example)
		}
	}
	c := Config{
		Project:             get("gcp:project"),
		Region:              get("gcp:region"),
		Repository:          get("githubRepository"),
		RepositoryID:        get("githubRepositoryId"),
		RepositoryOwnerID:   get("githubRepositoryOwnerId"),
		StateBucket:         get("stateBucket"),
		StateBucketLocation: get("stateBucketLocation"),
		PoolID:              get("workloadIdentityPoolId"),
		ProviderID:          get("workloadIdentityProviderId"),
		DeployerAccountID:   get("deployerAccountId"),
		PreviewerAccountID:  get("previewerAccountId"),
	}
	jsonKey("deployerGrantableRoles", `["roles/datastore.user"]`, &c.GrantableRoles)
	jsonKey("deployEnvironments", `["dev"]`, &c.DeployEnvironments)
	jsonKey("deployStacks", `["dev"]`, &c.DeployStacks)
	jsonKey("existingRuntimeServiceAccounts", `{"dev": "affinity-run-dev@PROJECT.iam.gserviceaccount.com"}`, &c.ExistingRuntimeAccounts)
	c.fillDefaults()
	c.validate(ns, &p)
	unknownKeys(ns, read, &p)
	return c, p.err()
}

// unknownKeys reports keys of this project's namespace that nothing reads: a typo
// ("existingRuntimeServiceAccount") would otherwise fall back to a default silently, here by
// creating a runtime account.
func unknownKeys(ns string, read map[string]bool, p *problems) {
	unknown := infra.UnknownConfigKeys(ns, func(k string) bool { return read[k] })
	if len(unknown) == 0 {
		return
	}
	var known []string
	for k := range read {
		if name, ok := strings.CutPrefix(k, ns+":"); ok {
			known = append(known, name)
		}
	}
	slices.Sort(known)
	for _, k := range unknown {
		p.bad(ns, k, "is not a setting of this program; known keys: %s", strings.Join(known, ", "))
	}
}

func (c *Config) fillDefaults() {
	if c.StateBucket == "" && c.Project != "" {
		c.StateBucket = c.Project + "-pulumi-state"
	}
	// The bucket goes where the stacks' resources are. An existing stack's bucket keeps its
	// location whatever this says (StateBucket ignores later changes to it); see validate for
	// the stack that has neither key.
	if c.StateBucketLocation == "" {
		c.StateBucketLocation = c.Region
	}
	if c.PoolID == "" {
		c.PoolID = defaultPoolID
	}
	if c.ProviderID == "" {
		c.ProviderID = defaultProviderID
	}
	if c.DeployerAccountID == "" {
		c.DeployerAccountID = defaultDeployerAccountID
	}
	if c.PreviewerAccountID == "" {
		c.PreviewerAccountID = defaultPreviewerAccountID
	}
	if c.GrantableRoles == nil {
		c.GrantableRoles = defaultGrantableRoles
	}
	if c.DeployEnvironments == nil {
		c.DeployEnvironments = defaultDeployEnvironments
	}
	if c.DeployStacks == nil {
		c.DeployStacks = defaultDeployStacks
	}
	if c.ExistingRuntimeAccounts == nil {
		c.ExistingRuntimeAccounts = map[string]string{}
	}
}

// validate checks every key; ns is the project's config namespace, used to name the keys.
func (c Config) validate(ns string, p *problems) {
	if !projectRE.MatchString(c.Project) {
		p.bad(ns, "gcp:project", "%q is not a Google Cloud project id (6-30 lowercase letters, digits, hyphens; set it with `pulumi config set gcp:project ID`)", c.Project)
	}
	owner, name, _ := strings.Cut(c.Repository, "/")
	if !repositoryRE.MatchString(c.Repository) || name == "." || name == ".." || strings.HasPrefix(owner, "-") {
		p.bad(ns, "githubRepository", "%q is not a GitHub repository; want OWNER/NAME, e.g. my-org/cloudrun-affinity (it limits who may deploy)", c.Repository)
	}
	for _, kv := range [][2]string{{"githubRepositoryId", c.RepositoryID}, {"githubRepositoryOwnerId", c.RepositoryOwnerID}} {
		key, id := kv[0], kv[1]
		if !numericIDRE.MatchString(id) {
			p.bad(ns, key, "%q is not a numeric GitHub id; want digits, e.g. 260064828 (`gh api repos/OWNER/NAME --jq .id`, or `--jq .owner.id` for the owner); names can be re-registered, ids cannot", id)
		}
	}
	if !bucketRE.MatchString(c.StateBucket) || strings.Contains(c.StateBucket, "..") || strings.HasPrefix(c.StateBucket, "goog") {
		p.bad(ns, "stateBucket", "%q is not a valid bucket name (3-63 lowercase letters, digits, '-', '_', '.'; not starting with goog)", c.StateBucket)
	}
	switch {
	case c.StateBucketLocation == "":
		// Before this key defaulted to gcp:region it was US, and the bootstrap commands never
		// set gcp:region: an existing stack lands here and must say US, or its protected bucket
		// would be up for replacement.
		p.bad(ns, "stateBucketLocation", "is required when gcp:region is unset; a stack whose bucket already exists sets the bucket's location (US for buckets this program created before the key existed): `pulumi config set stateBucketLocation US`; a new stack sets gcp:region (the bucket then goes there) or this key (US, EU, or a region such as europe-west1)")
	case !locationRE.MatchString(c.StateBucketLocation):
		p.bad(ns, "stateBucketLocation", "%q is not a bucket location (e.g. US, EU, europe-west1)", c.StateBucketLocation)
	}
	for _, kv := range [][2]string{{"workloadIdentityPoolId", c.PoolID}, {"workloadIdentityProviderId", c.ProviderID}} {
		key, id := kv[0], kv[1]
		if !wifIDRE.MatchString(id) || strings.HasPrefix(id, "gcp-") {
			p.bad(ns, key, "%q must be 4-32 lowercase letters, digits or hyphens, not starting with gcp-", id)
		}
	}
	accounts := map[string]string{} // account id -> key that names it
	for _, kv := range [][2]string{{"deployerAccountId", c.DeployerAccountID}, {"previewerAccountId", c.PreviewerAccountID}} {
		key, id := kv[0], kv[1]
		if !accountRE.MatchString(id) {
			p.bad(ns, key, "%q must be 6-30 lowercase letters, digits or hyphens, starting with a letter", id)
		} else if strings.HasPrefix(id, runtimeAccountPrefix) || strings.HasPrefix(id, mainStackAccountPrefix) {
			p.bad(ns, key, "%q starts like a runtime service account id (%s..., %s...); choose another id", id, runtimeAccountPrefix, mainStackAccountPrefix)
		}
		accounts[id] = key
	}
	if c.DeployerAccountID == c.PreviewerAccountID {
		p.bad(ns, "previewerAccountId", "%q is also deployerAccountId; previews need their own, read-only account", c.PreviewerAccountID)
	}
	if len(c.GrantableRoles) == 0 {
		p.bad(ns, "deployerGrantableRoles", "must list at least one role (the main stack grants roles/datastore.user)")
	}
	for _, r := range c.GrantableRoles {
		if !roleRE.MatchString(r) {
			p.bad(ns, "deployerGrantableRoles", "%q is not a predefined role name (roles/...)", r)
		}
		if strings.HasPrefix(r, "roles/owner") || strings.HasPrefix(r, "roles/editor") || strings.HasPrefix(r, "roles/resourcemanager.") || strings.HasPrefix(r, "roles/iam.") {
			p.bad(ns, "deployerGrantableRoles", "%q would let the deployer escalate its own access; list only the app's runtime roles", r)
		}
	}
	if len(c.DeployEnvironments) == 0 {
		p.bad(ns, "deployEnvironments", `must list at least one GitHub environment (deploy.yml deploys dev behind the environment "dev")`)
	}
	for _, e := range c.DeployEnvironments {
		if !environmentRE.MatchString(e) {
			p.bad(ns, "deployEnvironments", "%q is not a GitHub environment name this set-up accepts (letters, digits, '-', '_', '.'; up to 100)", e)
		}
	}
	if len(c.DeployStacks) == 0 {
		p.bad(ns, "deployStacks", `must list at least one main stack (e.g. ["dev"])`)
	}
	listed := map[string]bool{}
	for _, s := range c.DeployStacks {
		if !stackRE.MatchString(s) {
			p.bad(ns, "deployStacks", "%q is not a main stack name (1-40 lowercase letters, digits, '-', '_', '.', starting with a letter or digit)", s)
			continue
		}
		// Stack names that slug alike still get distinct physical names (infra.StackID).
		if listed[s] {
			p.bad(ns, "deployStacks", "lists %q twice; list each stack once", s)
		}
		listed[s] = true
	}
	emailRE := regexp.MustCompile(`^([a-z][a-z0-9-]{4,28}[a-z0-9])@` + regexp.QuoteMeta(c.Project) + `\.iam\.gserviceaccount\.com$`)
	for _, s := range slices.Sorted(maps.Keys(c.ExistingRuntimeAccounts)) {
		email := c.ExistingRuntimeAccounts[s]
		if !slices.Contains(c.DeployStacks, s) {
			p.bad(ns, "existingRuntimeServiceAccounts", "names stack %q, which is not in deployStacks %v; add it there or remove it here", s, c.DeployStacks)
		}
		m := emailRE.FindStringSubmatch(email)
		if m == nil {
			p.bad(ns, "existingRuntimeServiceAccounts", "%s: %q is not a service account of project %s (ID@%s.iam.gserviceaccount.com)", s, email, c.Project, c.Project)
			continue
		}
		if key, taken := accounts[m[1]]; taken {
			p.bad(ns, "existingRuntimeServiceAccounts", "%s: %q is the account of %s; a stack's runtime account must be its own", s, email, key)
		}
		accounts[m[1]] = "existingRuntimeServiceAccounts"
	}
}

// problems collects "KEY: message" lines so one error can name every bad key.
type problems []string

// bad records a problem with key, prefixed with the namespace unless it has one (gcp:project).
func (p *problems) bad(ns, key, format string, args ...any) {
	if !strings.Contains(key, ":") {
		key = ns + ":" + key
	}
	*p = append(*p, key+": "+fmt.Sprintf(format, args...))
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("invalid stack configuration: %s", strings.Join(p, "; "))
}
