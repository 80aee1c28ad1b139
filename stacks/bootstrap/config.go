package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Config is the bootstrap stack's whole configuration, defaults filled in.
type Config struct {
	Project             string // gcp:project
	Repository          string // githubRepository, OWNER/NAME
	StateBucket         string // stateBucket
	StateBucketLocation string // stateBucketLocation
	PoolID              string // workloadIdentityPoolId
	ProviderID          string // workloadIdentityProviderId
	DeployerAccountID   string // deployerAccountId
	GrantableRoles      []string
}

// Defaults for the optional keys.
const (
	defaultStateBucketLocation = "US"
	defaultPoolID              = "github"
	defaultProviderID          = "github-actions"
	defaultDeployerAccountID   = "pulumi-deployer"
)

// defaultGrantableRoles are the roles the main stack grants at project level (infra.Identity gives
// the app's runtime service account Firestore data access), the only ones the deployer may add or
// remove (see deployer.go).
var defaultGrantableRoles = []string{infra.RoleDatastoreUser}

var (
	projectRE    = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	repositoryRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$`)
	bucketRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$`)
	locationRE   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]$`)
	wifIDRE      = regexp.MustCompile(`^[a-z0-9-]{4,32}$`)
	accountRE    = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	roleRE       = regexp.MustCompile(`^roles/[A-Za-z0-9_.]+$`)
)

// loadConfig reads the stack configuration; the error lists every bad key at once.
func loadConfig(ctx *pulumi.Context) (Config, error) {
	ns := ctx.Project()
	get := func(key string) string {
		if !strings.Contains(key, ":") {
			key = ns + ":" + key
		}
		v, _ := ctx.GetConfig(key)
		return v
	}
	c := Config{
		Project:             get("gcp:project"),
		Repository:          get("githubRepository"),
		StateBucket:         get("stateBucket"),
		StateBucketLocation: get("stateBucketLocation"),
		PoolID:              get("workloadIdentityPoolId"),
		ProviderID:          get("workloadIdentityProviderId"),
		DeployerAccountID:   get("deployerAccountId"),
	}
	var rolesErr error
	if raw := get("deployerGrantableRoles"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &c.GrantableRoles); err != nil {
			rolesErr = fmt.Errorf(`%s:deployerGrantableRoles: %q is not a JSON list of role names (e.g. ["roles/datastore.user"])`, ns, raw)
		}
	}
	c.fillDefaults()
	return c, errors.Join(rolesErr, c.Validate(ns))
}

func (c *Config) fillDefaults() {
	if c.StateBucket == "" && c.Project != "" {
		c.StateBucket = c.Project + "-pulumi-state"
	}
	if c.StateBucketLocation == "" {
		c.StateBucketLocation = defaultStateBucketLocation
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
	if c.GrantableRoles == nil {
		c.GrantableRoles = defaultGrantableRoles
	}
}

// Validate checks every key; ns is the project's config namespace, used to name the keys.
func (c Config) Validate(ns string) error {
	var p []string
	bad := func(key, format string, args ...any) {
		if !strings.Contains(key, ":") {
			key = ns + ":" + key
		}
		p = append(p, key+": "+fmt.Sprintf(format, args...))
	}
	if !projectRE.MatchString(c.Project) {
		bad("gcp:project", "%q is not a Google Cloud project id (6-30 lowercase letters, digits, hyphens; set it with `pulumi config set gcp:project ID`)", c.Project)
	}
	owner, name, _ := strings.Cut(c.Repository, "/")
	if !repositoryRE.MatchString(c.Repository) || name == "." || name == ".." || strings.HasPrefix(owner, "-") {
		bad("githubRepository", "%q is not a GitHub repository; want OWNER/NAME, e.g. my-org/cloudrun-affinity (it limits who may deploy)", c.Repository)
	}
	if !bucketRE.MatchString(c.StateBucket) || strings.Contains(c.StateBucket, "..") || strings.HasPrefix(c.StateBucket, "goog") {
		bad("stateBucket", "%q is not a valid bucket name (3-63 lowercase letters, digits, '-', '_', '.'; not starting with goog)", c.StateBucket)
	}
	if !locationRE.MatchString(c.StateBucketLocation) {
		bad("stateBucketLocation", "%q is not a bucket location (e.g. US, EU, europe-west1)", c.StateBucketLocation)
	}
	for _, kv := range [][2]string{{"workloadIdentityPoolId", c.PoolID}, {"workloadIdentityProviderId", c.ProviderID}} {
		key, id := kv[0], kv[1]
		if !wifIDRE.MatchString(id) || strings.HasPrefix(id, "gcp-") {
			bad(key, "%q must be 4-32 lowercase letters, digits or hyphens, not starting with gcp-", id)
		}
	}
	if !accountRE.MatchString(c.DeployerAccountID) {
		bad("deployerAccountId", "%q must be 6-30 lowercase letters, digits or hyphens, starting with a letter", c.DeployerAccountID)
	}
	if len(c.GrantableRoles) == 0 {
		bad("deployerGrantableRoles", "must list at least one role (the main stack grants roles/datastore.user)")
	}
	for _, r := range c.GrantableRoles {
		if !roleRE.MatchString(r) {
			bad("deployerGrantableRoles", "%q is not a predefined role name (roles/...)", r)
		}
		if strings.HasPrefix(r, "roles/owner") || strings.HasPrefix(r, "roles/editor") || strings.HasPrefix(r, "roles/resourcemanager.") || strings.HasPrefix(r, "roles/iam.") {
			bad("deployerGrantableRoles", "%q would let the deployer escalate its own access; list only the app's runtime roles", r)
		}
	}
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("invalid stack configuration: %s", strings.Join(p, "; "))
}
