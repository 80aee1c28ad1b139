package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

const (
	ns         = "cloudrun-affinity-bootstrap"
	project    = "acme-ci-123"
	repository = "acme/cloudrun-affinity"

	tService        = "gcp:projects/service:Service"
	tBucket         = "gcp:storage/bucket:Bucket"
	tBucketMember   = "gcp:storage/bucketIAMMember:BucketIAMMember"
	tPool           = "gcp:iam/workloadIdentityPool:WorkloadIdentityPool"
	tProvider       = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
	tAccount        = "gcp:serviceaccount/account:Account"
	tProjectMember  = "gcp:projects/iAMMember:IAMMember"
	tAccountMember  = "gcp:serviceaccount/iAMMember:IAMMember"
	tAPIs           = "cloudrun-affinity:infra:APIs"
	tStateBucket    = typePrefix + "StateBucket"
	tFederation     = typePrefix + "GitHubFederation"
	tDeployer       = typePrefix + "Deployer"
	mockProjectNum  = "123456789012" // infratest's project number
	wantPoolName    = "projects/" + mockProjectNum + "/locations/global/workloadIdentityPools/github"
	wantProvider    = wantPoolName + "/providers/github-actions"
	wantDeployer    = "pulumi-deployer@" + project + ".iam.gserviceaccount.com"
	wantBucket      = project + "-pulumi-state"
	wantPrincipal   = "principalSet://iam.googleapis.com/" + wantPoolName + "/attribute.repository/" + repository
	wantCondition   = "assertion.repository == 'acme/cloudrun-affinity'"
	wantGrantRoles  = "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly(['roles/datastore.user'])"
	wantAccountName = "projects/" + project + "/serviceAccounts/" + wantDeployer
)

func baseConfig() infratest.Config {
	return infratest.Config{"gcp:project": project, ns + ":githubRepository": repository}
}

// mockFederation answers like the IAM API: pools and providers are named by project number.
// (The service account's outputs come from infratest's defaults.)
func mockFederation(m *infratest.Mocks) {
	m.PulumiProject = ns
	m.Outputs[tPool] = func(m *infratest.Mocks, r infratest.Resource) resource.PropertyMap {
		return resource.PropertyMap{"name": resource.NewProperty(fmt.Sprintf(
			"projects/%s/locations/global/workloadIdentityPools/%s", m.ProjectNumber, r.Str("workloadIdentityPoolId")))}
	}
	m.Outputs[tProvider] = func(m *infratest.Mocks, r infratest.Resource) resource.PropertyMap {
		return resource.PropertyMap{"name": resource.NewProperty(fmt.Sprintf(
			"projects/%s/locations/global/workloadIdentityPools/%s/providers/%s", m.ProjectNumber,
			r.Str("workloadIdentityPoolId"), r.Str("workloadIdentityPoolProviderId")))}
	}
}

func run(t *testing.T, mode infratest.Mode, cfg infratest.Config) *infratest.Result {
	t.Helper()
	return infratest.MustRun(t, mode, program,
		infratest.WithConfig(cfg), infratest.WithStack("bootstrap"), infratest.WithMocksSetup(mockFederation))
}

// str returns a known string input, or "<unknown>" in preview when it comes from an output.
func str(t *testing.T, r infratest.Resource, path string) string {
	t.Helper()
	v, ok := r.Input(path)
	if !ok {
		t.Fatalf("%s %s has no input %s", r.Type, r.Name, path)
	}
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	if v.IsOutput() {
		if !v.OutputValue().Known {
			return "<unknown>"
		}
		v = v.OutputValue().Element
	}
	if v.IsComputed() {
		return "<unknown>"
	}
	if !v.IsString() {
		t.Fatalf("%s %s input %s = %s, want a string", r.Type, r.Name, path, infratest.Format(v))
	}
	return v.StringValue()
}

// expectString checks a string input: in update mode it must equal want; in preview it may
// only be unknown when it comes from another resource's output (fromOutput).
func expectString(t *testing.T, mode infratest.Mode, r infratest.Resource, path, want string, fromOutput bool) {
	t.Helper()
	got := str(t, r, path)
	if mode == infratest.Preview && fromOutput && got == "<unknown>" {
		return
	}
	if got != want {
		t.Errorf("%s %s: %s = %q, want %q", r.Type, r.Name, path, got, want)
	}
}

func expectInput(t *testing.T, r infratest.Resource, path, want string) {
	t.Helper()
	if got := r.InputString(path); got != want {
		t.Errorf("%s %s: %s = %s, want %s", r.Type, r.Name, path, got, want)
	}
}

func TestBootstrapEnablesExactlyTheAPIsItCalls(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res := run(t, mode, baseConfig())
		apis := res.One(t, tAPIs)
		var got []string
		for _, s := range res.OfType(tService) {
			got = append(got, str(t, s, "service"))
			expectInput(t, s, "project", `"`+project+`"`)
			expectInput(t, s, "disableOnDestroy", "false")
			if s.Parent != apis.URN {
				t.Errorf("service %s is not a child of the APIs component", s.Name)
			}
		}
		slices.Sort(got)
		want := []string{"cloudresourcemanager.googleapis.com", "iam.googleapis.com", "iamcredentials.googleapis.com",
			"serviceusage.googleapis.com", "storage.googleapis.com", "sts.googleapis.com"}
		if !slices.Equal(got, want) {
			t.Errorf("enabled services = %v, want %v", got, want)
		}
	})
}

func TestStateBucketIsPrivateVersionedAndProtected(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res := run(t, mode, baseConfig())
		b := res.One(t, tBucket)
		expectInput(t, b, "name", `"`+wantBucket+`"`)
		expectInput(t, b, "project", `"`+project+`"`)
		expectInput(t, b, "location", `"US"`)
		expectInput(t, b, "uniformBucketLevelAccess", "true")
		expectInput(t, b, "publicAccessPrevention", `"enforced"`)
		expectInput(t, b, "versioning", "{enabled: true}")
		expectInput(t, b, "forceDestroy", "false")
		expectInput(t, b, "lifecycleRules", `[{action: {type: "Delete"}, condition: {daysSinceNoncurrentTime: 30}}]`)
		if !b.Protect {
			t.Error("the state bucket is not protected: a destroy would delete every stack's state")
		}
		if b.Parent != res.One(t, tStateBucket).URN {
			t.Error("the bucket is not a child of the StateBucket component")
		}
		// Only the deployer gets access, and only to objects.
		m := res.One(t, tBucketMember)
		expectString(t, mode, m, "bucket", wantBucket, false)
		expectInput(t, m, "role", `"roles/storage.objectUser"`)
		expectString(t, mode, m, "member", "serviceAccount:"+wantDeployer, true)
		if m.HasInput("condition") {
			t.Errorf("bucket grant has a condition: %s", m.InputString("condition"))
		}
	})
}

func TestFederationTrustsOnlyTheConfiguredRepository(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res := run(t, mode, baseConfig())
		fed := res.One(t, tFederation)
		pool := res.One(t, tPool)
		expectInput(t, pool, "workloadIdentityPoolId", `"github"`)
		expectInput(t, pool, "project", `"`+project+`"`)
		p := res.One(t, tProvider)
		expectInput(t, p, "attributeCondition", `"`+wantCondition+`"`)
		expectInput(t, p, "workloadIdentityPoolProviderId", `"github-actions"`)
		expectInput(t, p, "oidc.issuerUri", `"https://token.actions.githubusercontent.com"`)
		expectInput(t, p, "attributeMapping",
			`{attribute.ref: "assertion.ref", attribute.repository: "assertion.repository", `+
				`attribute.repository_owner: "assertion.repository_owner", google.subject: "assertion.sub"}`)
		expectString(t, mode, p, "workloadIdentityPoolId", "github", true)
		// The provider is created in the pool: its pool id flows from the pool resource.
		if !slices.Contains(p.PropertyDependencies["workloadIdentityPoolId"], pool.URN) {
			t.Errorf("provider's workloadIdentityPoolId does not come from the pool (deps %v)", p.PropertyDependencies["workloadIdentityPoolId"])
		}
		for _, r := range []infratest.Resource{pool, p} {
			if r.Parent != fed.URN {
				t.Errorf("%s is not a child of the GitHubFederation component", r.Type)
			}
		}
	})
}

func TestDeployerHasExactlyTheRolesTheMainStackNeeds(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res := run(t, mode, baseConfig())
		dep := res.One(t, tDeployer)
		sa := res.One(t, tAccount)
		expectInput(t, sa, "accountId", `"pulumi-deployer"`)
		expectInput(t, sa, "project", `"`+project+`"`)

		got := map[string]string{} // role -> condition expression ("" when unconditional)
		for _, m := range res.OfType(tProjectMember) {
			role := str(t, m, "role")
			if _, dup := got[role]; dup {
				t.Errorf("role %s granted twice", role)
			}
			got[role] = ""
			if m.HasInput("condition") {
				got[role] = str(t, m, "condition.expression")
			}
			expectInput(t, m, "project", `"`+project+`"`)
			expectString(t, mode, m, "member", "serviceAccount:"+wantDeployer, true)
			if m.Parent != dep.URN {
				t.Errorf("grant of %s is not a child of the Deployer component", role)
			}
		}
		want := map[string]string{
			"roles/serviceusage.serviceUsageAdmin":  "",
			"roles/compute.networkAdmin":            "",
			"roles/compute.securityAdmin":           "",
			"roles/redis.admin":                     "",
			"roles/datastore.owner":                 "",
			"roles/secretmanager.admin":             "",
			"roles/artifactregistry.admin":          "",
			"roles/run.admin":                       "",
			"roles/iam.serviceAccountAdmin":         "",
			"roles/iam.serviceAccountUser":          "",
			"roles/resourcemanager.projectIamAdmin": wantGrantRoles,
		}
		for role, cond := range want {
			if g, ok := got[role]; !ok {
				t.Errorf("missing project role %s", role)
			} else if g != cond {
				t.Errorf("role %s condition = %q, want %q", role, g, cond)
			}
		}
		for role := range got {
			if _, ok := want[role]; !ok {
				t.Errorf("unexpected project role %s", role)
			}
		}

		// Only the repository's workflows may impersonate the deployer.
		wi := res.One(t, tAccountMember)
		expectInput(t, wi, "role", `"roles/iam.workloadIdentityUser"`)
		expectString(t, mode, wi, "member", wantPrincipal, true)
		expectString(t, mode, wi, "serviceAccountId", wantAccountName, true)
		if !wi.DependsOn(sa.URN) {
			t.Error("the workloadIdentityUser grant does not depend on the service account")
		}
		if !wi.DependsOn(res.One(t, tPool).URN) {
			t.Error("the workloadIdentityUser grant does not depend on the pool its principal names")
		}
	})
}

// Everything this program creates calls an API it enables, so every cloud resource must wait
// for every service; and nothing else may be created.
func TestEveryResourceWaitsForTheAPIsAndNothingElseIsCreated(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res := run(t, mode, baseConfig())
		var services []string
		for _, s := range res.OfType(tService) {
			services = append(services, s.URN)
		}
		wantCounts := map[string]int{tService: 6, tBucket: 1, tBucketMember: 1, tPool: 1, tProvider: 1,
			tAccount: 1, tProjectMember: 11, tAccountMember: 1, tAPIs: 1, tStateBucket: 1, tFederation: 1, tDeployer: 1}
		for typ, n := range res.CountByType() {
			if typ == "pulumi:pulumi:Stack" {
				continue
			}
			if wantCounts[typ] != n {
				t.Errorf("%d resources of type %s, want %d", n, typ, wantCounts[typ])
			}
		}
		for _, r := range res.Resources() {
			if !r.Custom || r.Type == tService {
				continue
			}
			for _, s := range services {
				if !r.DependsOn(s) {
					t.Errorf("%s %s does not wait for %s", r.Type, r.Name, s)
				}
			}
		}
	})
}

func TestExportsAreTheRepositorySettings(t *testing.T) {
	res := run(t, infratest.Update, baseConfig())
	for key, want := range map[string]string{
		"workloadIdentityProvider": wantProvider,
		"serviceAccount":           wantDeployer,
		"stateBucket":              "gs://" + wantBucket,
	} {
		v := res.Export(t, key)
		if !v.Known || v.Secret || v.String() != want {
			t.Errorf("export %s = %#v (known %v, secret %v), want %q", key, v.Value, v.Known, v.Secret, want)
		}
	}
	// In preview the bucket URL is already known (the name is configured); the other two come
	// from the cloud.
	pre := run(t, infratest.Preview, baseConfig())
	if v := pre.Export(t, "stateBucket"); !v.Known || v.String() != "gs://"+wantBucket {
		t.Errorf("preview export stateBucket = %#v, want %q", v.Value, "gs://"+wantBucket)
	}
	for _, key := range []string{"workloadIdentityProvider", "serviceAccount"} {
		if v := pre.Export(t, key); v.Known {
			t.Errorf("preview export %s is known (%v) before the resource exists", key, v.Value)
		}
	}
}

func TestConfigOverridesReachTheResources(t *testing.T) {
	cfg := baseConfig().With(
		ns+":stateBucket", "acme-tfstate",
		ns+":stateBucketLocation", "europe-west1",
		ns+":workloadIdentityPoolId", "ci-pool",
		ns+":workloadIdentityProviderId", "gh-oidc",
		ns+":deployerAccountId", "ci-deployer",
		ns+":deployerGrantableRoles", `["roles/datastore.user", "roles/logging.logWriter"]`,
	)
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res := run(t, mode, cfg)
		b := res.One(t, tBucket)
		expectInput(t, b, "name", `"acme-tfstate"`)
		expectInput(t, b, "location", `"europe-west1"`)
		expectInput(t, res.One(t, tPool), "workloadIdentityPoolId", `"ci-pool"`)
		expectInput(t, res.One(t, tProvider), "workloadIdentityPoolProviderId", `"gh-oidc"`)
		expectInput(t, res.One(t, tAccount), "accountId", `"ci-deployer"`)
		found := false
		for _, m := range res.OfType(tProjectMember) {
			if str(t, m, "role") == ProjectIAMAdminRole {
				found = true
				expectInput(t, m, "condition.expression",
					`"api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly(['roles/datastore.user', 'roles/logging.logWriter'])"`)
			}
		}
		if !found {
			t.Errorf("no %s grant", ProjectIAMAdminRole)
		}
		if mode == infratest.Update {
			if got := res.Export(t, "workloadIdentityProvider").String(); got != "projects/"+mockProjectNum+"/locations/global/workloadIdentityPools/ci-pool/providers/gh-oidc" {
				t.Errorf("workloadIdentityProvider = %q", got)
			}
		}
	})
}

func TestBadConfigFailsNamingTheKeyAndCreatesNothing(t *testing.T) {
	cases := []struct {
		name string
		cfg  infratest.Config
		key  string
	}{
		{"no repository", infratest.Config{"gcp:project": project}, ns + ":githubRepository"},
		{"repository without owner", baseConfig().With(ns+":githubRepository", "cloudrun-affinity"), ns + ":githubRepository"},
		{"repository with a path", baseConfig().With(ns+":githubRepository", "acme/app/extra"), ns + ":githubRepository"},
		{"repository with a quote", baseConfig().With(ns+":githubRepository", "acme/x' || true || '"), ns + ":githubRepository"},
		{"repository is a dot", baseConfig().With(ns+":githubRepository", "acme/.."), ns + ":githubRepository"},
		{"no project", infratest.Config{ns + ":githubRepository": repository}, "gcp:project"},
		{"bucket name", baseConfig().With(ns+":stateBucket", "Bad_Bucket"), ns + ":stateBucket"},
		{"bucket location", baseConfig().With(ns+":stateBucketLocation", "us central"), ns + ":stateBucketLocation"},
		{"reserved pool id", baseConfig().With(ns+":workloadIdentityPoolId", "gcp-pool"), ns + ":workloadIdentityPoolId"},
		{"provider id", baseConfig().With(ns+":workloadIdentityProviderId", "GH"), ns + ":workloadIdentityProviderId"},
		{"account id", baseConfig().With(ns+":deployerAccountId", "1deployer"), ns + ":deployerAccountId"},
		{"roles not JSON", baseConfig().With(ns+":deployerGrantableRoles", "roles/datastore.user"), ns + ":deployerGrantableRoles"},
		{"escalating role", baseConfig().With(ns+":deployerGrantableRoles", `["roles/owner"]`), ns + ":deployerGrantableRoles"},
		{"empty roles", baseConfig().With(ns+":deployerGrantableRoles", `[]`), ns + ":deployerGrantableRoles"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := infratest.Run(infratest.Preview, program,
				infratest.WithConfig(c.cfg), infratest.WithStack("bootstrap"), infratest.WithMocksSetup(mockFederation))
			if err == nil {
				t.Fatalf("program accepted the bad config %v", c.cfg)
			}
			if !strings.Contains(err.Error(), c.key+":") {
				t.Errorf("error does not name %s: %v", c.key, err)
			}
			for _, r := range res.Resources() {
				if r.Type != "pulumi:pulumi:Stack" {
					t.Errorf("created %s %s despite the bad config", r.Type, r.Name)
				}
			}
		})
	}
}

// Every bad key is reported in one go, so a user fixes the config in one round.
func TestBadConfigReportsEveryKeyAtOnce(t *testing.T) {
	_, err := infratest.Run(infratest.Preview, program, infratest.WithConfig(infratest.Config{
		ns + ":stateBucketLocation": "?", ns + ":deployerAccountId": "x",
	}), infratest.WithMocksSetup(mockFederation))
	if err == nil {
		t.Fatal("program accepted an empty config")
	}
	for _, key := range []string{"gcp:project", ns + ":githubRepository", ns + ":stateBucketLocation", ns + ":deployerAccountId"} {
		if !strings.Contains(err.Error(), key+":") {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
}

func TestComponentArgsValidateNameTheField(t *testing.T) {
	cases := []struct {
		err   error
		field string
	}{
		{StateBucketArgs{Project: project, Name: "ok-bucket", Location: "nowhere land"}.Validate(), "Location"},
		{StateBucketArgs{Project: project, Name: "A", Location: "US"}.Validate(), "Name"},
		{GitHubFederationArgs{Project: project, PoolID: "gcp-x", ProviderID: "github-actions", Repository: repository}.Validate(), "PoolID"},
		{GitHubFederationArgs{Project: project, PoolID: "github", ProviderID: "github-actions", Repository: "no-owner"}.Validate(), "Repository"},
		{DeployerArgs{Project: project, AccountID: "pulumi-deployer", GrantableRoles: []string{"roles/datastore.user"}}.Validate(), "Principal"},
		{DeployerArgs{Project: project, AccountID: "x"}.Validate(), "AccountID"},
	}
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.field) {
			t.Errorf("Validate() = %v, want an error naming %s", c.err, c.field)
		}
	}
	if err := (StateBucketArgs{Project: project, Name: wantBucket, Location: "US"}).Validate(); err != nil {
		t.Errorf("valid StateBucketArgs rejected: %v", err)
	}
}
