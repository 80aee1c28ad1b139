package main

import (
	"fmt"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"strings"
	"testing"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

// physicalNames are the names a stack gives resources it names itself (the rest are
// auto-named by Pulumi with a random suffix), keyed by what they name.
func physicalNames(t *testing.T, project, stack string) map[string]string {
	t.Helper()
	res := infratest.MustRun(t, infratest.Update, program,
		// A prebuilt image: names do not depend on building app/, which would cost a second a run.
		infratest.WithConfig(infratest.Config{"gcp:project": "p-123456", "gcp:region": "europe-west1",
			ns + "image": "europe-west1-docker.pkg.dev/p-123456/r/app@sha256:" + strings.Repeat("0", 64)}),
		infratest.WithStack(stack),
		infratest.WithMocksSetup(func(m *infratest.Mocks) { m.PulumiProject = project }))
	db := res.One(t, "gcp:firestore/database:Database").Str("name")
	names := map[string]string{
		"secret":          res.One(t, "gcp:secretmanager/secret:Secret").Str("secretId"),
		"registry":        res.One(t, "gcp:artifactregistry/repository:Repository").Str("repositoryId"),
		"service account": res.One(t, "gcp:serviceaccount/account:Account").Str("accountId"),
		// The database id ends in a random suffix; the prefix is what the stack chooses.
		"database prefix": db[:strings.LastIndex(db, "-")],
		"stack label":     res.One(t, "gcp:redis/instance:Instance").Str("labels.stack"),
	}
	for what, n := range names {
		if n == "" {
			t.Fatalf("%s/%s: no %s name recorded", project, stack, what)
		}
	}
	return names
}

func TestExistingStacksKeepTheirPhysicalNames(t *testing.T) {
	t.Parallel()
	for stack, want := range map[string]string{"dev": "dev", "prod": "prod", "feature-42": "feature-42"} {
		if got := infra.StackID(infra.Project, stack); got != want {
			t.Errorf("infra.StackID(%q) = %q; a stack deployed before hashing would get new names", stack, got)
		}
	}
	got := physicalNames(t, infra.Project, "dev")
	want := map[string]string{
		"secret": "cloudrun-affinity-redis-auth-dev", "registry": "cloudrun-affinity-dev",
		"service account": "affinity-run-dev", "database prefix": "affinity-dev", "stack label": "dev",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("dev %s = %q, want %q (the name a deployed dev stack has)", k, got[k], v)
		}
	}
}

func TestStacksSharingAGoogleProjectNeverShareAName(t *testing.T) {
	t.Parallel()
	// Stack names that slug alike, and one stack name in two Pulumi projects.
	stacks := [][2]string{
		{infra.Project, "dev-1"}, {infra.Project, "dev_1"}, {infra.Project, "Dev-1"}, {infra.Project, "dev.1"},
		{infra.Project, "dev"}, {"shop", "dev"}, {"shop", "dev_1"},
	}
	seen := map[string]string{} // kind + name -> who has it
	for _, ps := range stacks {
		for what, n := range physicalNames(t, ps[0], ps[1]) {
			who := fmt.Sprintf("%s/%s", ps[0], ps[1])
			if other, dup := seen[what+" "+n]; dup {
				t.Errorf("%s and %s share the %s %q", other, who, what, n)
			}
			seen[what+" "+n] = who
		}
	}
}

func TestLongStackNamesFitEveryName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("production-europe-west1-", 4) // 96 characters
	a, b := physicalNames(t, infra.Project, long+"a"), physicalNames(t, infra.Project, long+"b")
	limits := map[string]int{"secret": 255, "registry": 63, "service account": 30, "database prefix": 63 - 7, "stack label": 63}
	for what, max := range limits {
		if len(a[what]) > max || len(b[what]) > max {
			t.Errorf("%s %q / %q longer than %d", what, a[what], b[what], max)
		}
		if a[what] == b[what] {
			t.Errorf("stacks that differ only at the end share the %s %q", what, a[what])
		}
	}
}

func TestAccountIDAndSlugFitGoogleLimits(t *testing.T) {
	for stack, want := range map[string]string{
		"dev":                           "affinity-run-dev",
		"Feature_Branch.42":             "affinity-run-feature-branch-42",
		"a-very-long-stack-name-indeed": "affinity-run-a-very-lon-7b6e52",
	} {
		if got := accountID(infra.Slug(stack)); got != want || len(got) > 30 {
			t.Errorf("accountID(infra.Slug(%q)) = %q, want %q", stack, got, want)
		}
	}
	// Long stack names that share a prefix must not share a service account.
	a, b := accountID("production-europe-west1"), accountID("production-europe-west4")
	if a == b || len(a) > 30 || len(b) > 30 {
		t.Errorf("accountID collides or is too long: %q and %q", a, b)
	}
}
