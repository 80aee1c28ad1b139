package main

import (
	"fmt"
	"slices"
	"testing"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

const (
	ns           = "cloudrun-affinity-bootstrap"
	project      = "acme-ci-123"
	region       = "europe-west1"
	repository   = "acme/cloudrun-affinity"
	repositoryID = "260064828"
	ownerID      = "1342004"

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
	tPreviewer      = typePrefix + "Previewer"
	tRuntime        = typePrefix + "RuntimeAccounts"
	mockProjectNum  = "123456789012" // infratest's project number
	wantPoolName    = "projects/" + mockProjectNum + "/locations/global/workloadIdentityPools/github"
	wantProvider    = wantPoolName + "/providers/github-actions"
	wantDeployer    = "pulumi-deployer@" + project + ".iam.gserviceaccount.com"
	wantPreviewer   = "pulumi-previewer@" + project + ".iam.gserviceaccount.com"
	wantRuntimeDev  = "affinity-rt-dev@" + project + ".iam.gserviceaccount.com"
	wantBucket      = project + "-pulumi-state"
	wantDevEnv      = "principalSet://iam.googleapis.com/" + wantPoolName + "/attribute.environment/dev"
	wantPullRequest = "principalSet://iam.googleapis.com/" + wantPoolName + "/attribute.event_name/pull_request"
	wantCondition   = "assertion.repository_id == '260064828' && assertion.repository_owner_id == '1342004' && assertion.repository == 'acme/cloudrun-affinity'"
	wantGrantRoles  = "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly(['roles/datastore.user', 'roles/monitoring.metricWriter', 'roles/cloudtrace.agent'])"
	wantDevSecrets  = "resource.type == 'cloudresourcemanager.googleapis.com/Project' || " +
		"resource.name == 'projects/123456789012/secrets/cloudrun-affinity-redis-auth-dev' || " +
		"resource.name.startsWith('projects/123456789012/secrets/cloudrun-affinity-redis-auth-dev/') || " +
		"resource.name.startsWith('projects/123456789012/secrets/cloudrun-affinity-redis-auth-dev_')"
)

// accountName is the fully qualified name IAM bindings on a service account use.
func accountName(email string) string { return "projects/" + project + "/serviceAccounts/" + email }

// baseConfig is a new stack's config: the required keys and gcp:region.
func baseConfig() infratest.Config {
	return infratest.Config{
		"gcp:project": project, "gcp:region": region,
		ns + ":githubRepository": repository, ns + ":githubRepositoryId": repositoryID, ns + ":githubRepositoryOwnerId": ownerID,
	}
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

// Everything this program creates calls an API it enables, so every cloud resource must wait
// for every service; and nothing else may be created.
func TestEveryResourceWaitsForTheAPIsAndNothingElseIsCreated(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res := run(t, mode, baseConfig())
		var services []string
		for _, s := range res.OfType(tService) {
			services = append(services, s.URN)
		}
		// Accounts: deployer, previewer, dev's runtime account. Project grants: the deployer's 7
		// plain and 2 conditional roles. Bucket grants: deployer and previewer. Account grants:
		// who may impersonate the deployer and the previewer, and the deployer on dev's account.
		wantCounts := map[string]int{tService: 6, tBucket: 1, tBucketMember: 2, tPool: 1, tProvider: 1,
			tAccount: 3, tProjectMember: 10, tAccountMember: 3, tAPIs: 1, tStateBucket: 1, tFederation: 1,
			tDeployer: 1, tPreviewer: 1, tRuntime: 1}
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
		"previewServiceAccount":    wantPreviewer,
		"stateBucket":              "gs://" + wantBucket,
		"runtimeServiceAccounts":   fmt.Sprint(map[string]string{"dev": wantRuntimeDev}),
	} {
		v := res.Export(t, key)
		got := v.String()
		if m, ok := v.Value.(map[string]string); ok {
			got = fmt.Sprint(m)
		}
		if !v.Known || v.Secret || got != want {
			t.Errorf("export %s = %#v (known %v, secret %v), want %q", key, v.Value, v.Known, v.Secret, want)
		}
	}
	if len(res.Exports) != 5 {
		t.Errorf("exports %v, want exactly the five above", res.Exports)
	}
	// In preview the bucket URL is already known (the name is configured); the other two come
	// from the cloud.
	pre := run(t, infratest.Preview, baseConfig())
	if v := pre.Export(t, "stateBucket"); !v.Known || v.String() != "gs://"+wantBucket {
		t.Errorf("preview export stateBucket = %#v, want %q", v.Value, "gs://"+wantBucket)
	}
	for _, key := range []string{"workloadIdentityProvider", "serviceAccount", "previewServiceAccount"} {
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
		ns+":previewerAccountId", "ci-previewer",
		ns+":deployerGrantableRoles", `["roles/datastore.user", "roles/logging.logWriter"]`,
	)
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res := run(t, mode, cfg)
		b := res.One(t, tBucket)
		expectInput(t, b, "name", `"acme-tfstate"`)
		expectInput(t, b, "location", `"europe-west1"`)
		expectInput(t, res.One(t, tPool), "workloadIdentityPoolId", `"ci-pool"`)
		expectInput(t, res.One(t, tProvider), "workloadIdentityPoolProviderId", `"gh-oidc"`)
		expectInput(t, res.Named(t, tAccount, "deployer"), "accountId", `"ci-deployer"`)
		expectInput(t, res.Named(t, tAccount, "previewer"), "accountId", `"ci-previewer"`)
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
