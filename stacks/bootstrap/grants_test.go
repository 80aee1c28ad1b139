package main

import (
	"fmt"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"slices"
	"strings"
	"testing"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

// grant is one IAM grant as the cloud receives it: on what, which role, to whom, under which
// condition ("" when unconditional). In preview, values that come from other resources are
// "<unknown>".
type grant struct{ on, role, member, condition string }

func (g grant) String() string {
	s := fmt.Sprintf("%s: %s -> %s", g.on, g.role, g.member)
	if g.condition != "" {
		s += " IF " + g.condition
	}
	return s
}

// grants returns every IAM grant the program registers, and fails on an IAM resource type it
// does not know, so a new kind of grant cannot slip past these tests.
func grants(t *testing.T, res *infratest.Result) []grant {
	t.Helper()
	var out []grant
	for _, r := range res.Resources() {
		var on string
		switch r.Type {
		case tProjectMember:
			on = "project " + str(t, r, "project")
		case tBucketMember:
			on = "bucket " + str(t, r, "bucket")
		case tAccountMember:
			on = "account " + str(t, r, "serviceAccountId")
		default:
			if kind := r.Type[strings.LastIndex(r.Type, ":")+1:]; strings.Contains(strings.ToLower(kind), "iam") {
				t.Errorf("unexpected IAM resource %s %s: add it to grants()", r.Type, r.Name)
			}
			continue
		}
		g := grant{on: on, role: str(t, r, "role"), member: str(t, r, "member")}
		if r.HasInput("condition") {
			g.condition = str(t, r, "condition.expression")
		}
		out = append(out, g)
	}
	return out
}

const (
	deployerMember  = "serviceAccount:" + wantDeployer
	previewerMember = "serviceAccount:" + wantPreviewer
	onProject       = "project " + project
	onBucket        = "bucket " + wantBucket
)

func onAccount(email string) string { return "account " + accountName(email) }

// wantGrants is every grant of the base config (one deploy stack, dev, without an existing
// runtime account), and nothing else.
var wantGrants = []grant{
	// The deployer: what `pulumi up` of the main stack creates, nothing on service accounts.
	{onProject, "roles/serviceusage.serviceUsageAdmin", deployerMember, ""},
	{onProject, "roles/compute.networkAdmin", deployerMember, ""},
	{onProject, "roles/compute.securityAdmin", deployerMember, ""},
	{onProject, "roles/redis.admin", deployerMember, ""},
	{onProject, "roles/datastore.owner", deployerMember, ""},
	{onProject, "roles/artifactregistry.admin", deployerMember, ""},
	{onProject, "roles/run.admin", deployerMember, ""},
	{onProject, "roles/monitoring.editor", deployerMember, ""},
	{onProject, "roles/resourcemanager.projectIamAdmin", deployerMember, wantGrantRoles},
	{onProject, "roles/secretmanager.admin", deployerMember, wantDevSecrets},
	{onBucket, "roles/storage.objectUser", deployerMember, ""},
	{onAccount(wantDeployer), "roles/iam.workloadIdentityUser", wantDevEnv, ""},
	{onAccount(wantRuntimeDev), "roles/iam.serviceAccountUser", deployerMember, ""},
	// The previewer: read the state, nothing else; only pull-request runs may use it.
	{onBucket, "roles/storage.objectViewer", previewerMember, ""},
	{onAccount(wantPreviewer), "roles/iam.workloadIdentityUser", wantPullRequest, ""},
}

// matches compares a registered grant with a wanted one; in preview a value that comes from
// another resource may still be unknown.
func (g grant) matches(want grant, mode infratest.Mode) bool {
	eq := func(got, want string) bool {
		if mode == infratest.Preview && strings.HasSuffix(got, "<unknown>") {
			return strings.HasPrefix(want, strings.TrimSuffix(got, "<unknown>")) // "account <unknown>"
		}
		return got == want
	}
	return g.role == want.role && eq(g.on, want.on) && eq(g.member, want.member) && eq(g.condition, want.condition)
}

// expectGrants fails unless got and want pair up one to one. In preview several grants may
// match one wanted grant (unknown values), so this finds a complete pairing if one exists
// (augmenting paths) rather than taking the first match.
func expectGrants(t *testing.T, mode infratest.Mode, got, want []grant) {
	t.Helper()
	owner := make([]int, len(want)) // want index -> got index paired with it, or -1
	for i := range owner {
		owner[i] = -1
	}
	var pair func(g int, seen []bool) bool
	pair = func(g int, seen []bool) bool {
		for w := range want {
			if seen[w] || !got[g].matches(want[w], mode) {
				continue
			}
			seen[w] = true
			if owner[w] < 0 || pair(owner[w], seen) {
				owner[w] = g
				return true
			}
		}
		return false
	}
	for g := range got {
		if !pair(g, make([]bool, len(want))) {
			t.Errorf("unexpected grant %s", got[g])
		}
	}
	for w, g := range owner {
		if g < 0 {
			t.Errorf("missing grant %s", want[w])
		}
	}
}

func TestEveryGrantIsExactlyTheDesignedOne(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		expectGrants(t, mode, grants(t, run(t, mode, baseConfig())), wantGrants)
	})
}

// More stacks and environments: dev keeps the account its main stack created, prod gets one;
// the deployer may act as exactly those two, manage exactly their two secrets, and be used
// from exactly the two environments.
func TestEveryGrantWithTwoStacksOneOfThemExisting(t *testing.T) {
	const devOwn = "affinity-run-dev@" + project + ".iam.gserviceaccount.com"
	const prodRuntime = "affinity-rt-prod@" + project + ".iam.gserviceaccount.com"
	cfg := baseConfig().With(
		ns+":deployStacks", `["dev", "prod"]`,
		ns+":deployEnvironments", `["dev", "prod"]`,
		ns+":existingRuntimeServiceAccounts", `{"dev": "`+devOwn+`"}`,
	)
	secrets := "resource.type == 'cloudresourcemanager.googleapis.com/Project' || " +
		"resource.name == 'projects/123456789012/secrets/cloudrun-affinity-redis-auth-dev' || " +
		"resource.name.startsWith('projects/123456789012/secrets/cloudrun-affinity-redis-auth-dev/') || " +
		"resource.name.startsWith('projects/123456789012/secrets/cloudrun-affinity-redis-auth-dev_') || " +
		"resource.name == 'projects/123456789012/secrets/cloudrun-affinity-redis-auth-prod' || " +
		"resource.name.startsWith('projects/123456789012/secrets/cloudrun-affinity-redis-auth-prod/') || " +
		"resource.name.startsWith('projects/123456789012/secrets/cloudrun-affinity-redis-auth-prod_')"
	var want []grant
	for _, g := range wantGrants {
		switch {
		case g.role == "roles/secretmanager.admin":
			g.condition = secrets
		case g.on == onAccount(wantRuntimeDev):
			g.on = onAccount(devOwn)
		}
		want = append(want, g)
	}
	want = append(want,
		grant{onAccount(prodRuntime), "roles/iam.serviceAccountUser", deployerMember, ""},
		grant{onAccount(wantDeployer), "roles/iam.workloadIdentityUser", "principalSet://iam.googleapis.com/" + wantPoolName + "/attribute.environment/prod", ""},
	)
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res := run(t, mode, cfg)
		expectGrants(t, mode, grants(t, res), want)
		var ids []string
		for _, a := range res.OfType(tAccount) {
			ids = append(ids, str(t, a, "accountId"))
		}
		slices.Sort(ids)
		if want := []string{"affinity-rt-prod", "pulumi-deployer", "pulumi-previewer"}; !slices.Equal(ids, want) {
			t.Errorf("accounts created %v, want %v (dev's exists already)", ids, want)
		}
		if mode == infratest.Update {
			want := fmt.Sprint(map[string]string{"dev": devOwn, "prod": prodRuntime})
			if v := res.Export(t, "runtimeServiceAccounts"); fmt.Sprint(v.Value) != want {
				t.Errorf("runtimeServiceAccounts = %v, want %s", v.Value, want)
			}
		}
	})
}

// IAM Conditions cannot narrow project-level service account roles, so the deployer holds none:
// it may act only as the runtime accounts, through grants on those accounts.
func TestNoProjectWideServiceAccountRoles(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res := run(t, mode, baseConfig())
		for _, g := range grants(t, res) {
			if strings.HasPrefix(g.on, "project ") && (strings.HasPrefix(g.role, "roles/iam.") || g.role == "roles/owner" || g.role == "roles/editor") {
				t.Errorf("project-wide %s", g)
			}
			if g.role == ServiceAccountUserRole && g.on != onAccount(wantRuntimeDev) && g.on != "account <unknown>" {
				t.Errorf("%s: the deployer may act only as runtime accounts", g)
			}
		}
		for _, role := range DeployerProjectRoles {
			if strings.HasPrefix(role, "roles/iam.") {
				t.Errorf("DeployerProjectRoles lists %s", role)
			}
		}
	})
}

// The previewer reads the state and nothing else; only pull-request runs may impersonate it,
// and they may impersonate nothing else.
func TestPreviewerOnlyReadsTheStateAndOnlyPullRequestsUseIt(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res := run(t, mode, baseConfig())
		pre := res.One(t, tPreviewer)
		for _, g := range grants(t, res) {
			switch {
			case g.member == previewerMember && !(g.on == onBucket && g.role == PreviewStateRole):
				t.Errorf("the previewer holds more than read access to the state: %s", g)
			case g.member == wantPullRequest && g.on != onAccount(wantPreviewer) && g.on != "account <unknown>":
				t.Errorf("pull-request runs may impersonate more than the previewer: %s", g)
			}
		}
		for _, r := range res.Resources() {
			if r.Type == tAccountMember && r.Parent == pre.URN {
				expectString(t, mode, r, "member", wantPullRequest, true)
			}
		}
	})
}

// Only jobs in the deploy environments may impersonate the deployer: never by repository alone
// (every branch and pull request of it) and never by event.
func TestDeployerIsUsableOnlyFromTheDeployEnvironments(t *testing.T) {
	cfg := baseConfig().With(ns+":deployEnvironments", `["dev", "prod"]`)
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res := run(t, mode, cfg)
		dep := res.One(t, tDeployer)
		var members []string
		for _, r := range res.Resources() {
			if r.Type == tAccountMember && r.Parent == dep.URN {
				expectInput(t, r, "role", `"`+WorkloadIdentityUserRole+`"`)
				members = append(members, str(t, r, "member"))
			}
		}
		slices.Sort(members)
		want := []string{wantDevEnv, "principalSet://iam.googleapis.com/" + wantPoolName + "/attribute.environment/prod"}
		if mode == infratest.Preview {
			want = []string{"<unknown>", "<unknown>"} // the pool's name comes from the cloud
		}
		if !slices.Equal(members, want) {
			t.Errorf("who may impersonate the deployer: %v, want %v", members, want)
		}
	})
}

func TestSecretsConditionNamesTheSecretsByProjectNumber(t *testing.T) {
	got := SecretsCondition("42", []string{"a", "b"})
	want := "resource.type == 'cloudresourcemanager.googleapis.com/Project' || " +
		"resource.name == 'projects/42/secrets/a' || resource.name.startsWith('projects/42/secrets/a/') || " +
		"resource.name.startsWith('projects/42/secrets/a_') || " +
		"resource.name == 'projects/42/secrets/b' || resource.name.startsWith('projects/42/secrets/b/') || " +
		"resource.name.startsWith('projects/42/secrets/b_')"
	if got != want {
		t.Errorf("SecretsCondition = %q, want %q", got, want)
	}
	// A prefix must not match a longer secret id: cloudrun-affinity-redis-auth-dev is not
	// cloudrun-affinity-redis-auth-dev2.
	if strings.Contains(got, "startsWith('projects/42/secrets/a')") {
		t.Error("a secret's startsWith clause lacks the trailing slash and would match longer ids")
	}
	// The main program's own id: the name itself where it is a slug, else slug plus a hash.
	if got, want := MainStackSecretID("Feature.X"), infra.RedisSecretID(infra.StackID(infra.Project, "Feature.X")); got != want || MainStackSecretID("dev") != "cloudrun-affinity-redis-auth-dev" {
		t.Errorf("MainStackSecretID(Feature.X) = %q, want %q (and dev's unchanged)", got, want)
	}
}
