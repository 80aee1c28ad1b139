package infra_test

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

func validRegistryArgs() infra.RegistryArgs {
	return infra.RegistryArgs{Project: testProject, Region: testRegion, RepositoryID: "apps", KeepCount: 10, DeleteAfter: "2592000s", Labels: testLabels}
}

func TestRegistryIsDockerWithKeepRecentCleanupAndUrl(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		var reg *infra.Registry
		res := runComponent(t, mode, func(ctx *pulumi.Context, deps []pulumi.Resource) error {
			args := validRegistryArgs()
			args.DependsOn = deps
			var err error
			reg, err = infra.NewRegistry(ctx, "registry", args)
			return err
		})
		checkParentedAndWaiting(t, res, "cloudrun-affinity:infra:Registry")
		repo := res.One(t, "gcp:artifactregistry/repository:Repository")
		if str(repo, "format") != "DOCKER" || str(repo, "location") != testRegion || str(repo, "repositoryId") != "apps" {
			t.Errorf("repository = %s %s %s", repo.InputString("format"), repo.InputString("location"), repo.InputString("repositoryId"))
		}
		if str(repo, "cleanupPolicies[0].action") != "KEEP" || num(repo, "cleanupPolicies[0].mostRecentVersions.keepCount") != 10 {
			t.Errorf("keep policy = %s", repo.InputString("cleanupPolicies[0]"))
		}
		if str(repo, "cleanupPolicies[1].action") != "DELETE" || str(repo, "cleanupPolicies[1].condition.olderThan") != "2592000s" {
			t.Errorf("delete policy = %s", repo.InputString("cleanupPolicies[1]"))
		}
		checkLabels(t, repo)
		if v, ok := boolean(repo, "cleanupPolicyDryRun"); !ok || v {
			t.Errorf("cleanupPolicyDryRun = %s, want false (policies enforced)", repo.InputString("cleanupPolicyDryRun"))
		}
		url := infratest.Await(t, reg.Url)
		if url.String() != "europe-west1-docker.pkg.dev/p-test/apps" {
			t.Errorf("Url = %+v", url)
		}
		if !containsDep(t, url.Deps, repo.URN) {
			t.Errorf("Url does not depend on the repository, so an image push could run before it exists")
		}
	})
}

func containsDep(t *testing.T, deps []pulumi.Resource, urn string) bool {
	t.Helper()
	for _, d := range deps {
		v := infratest.Await(t, d.URN().ToStringOutput())
		if v.String() == urn {
			return true
		}
	}
	return false
}

func TestRegistryArgsValidate(t *testing.T) {
	checkValidation(t, validRegistryArgs(), []validationCase[infra.RegistryArgs]{
		{"no project", func(a *infra.RegistryArgs) { a.Project = "" }, []string{"Project is required"}},
		{"bad id", func(a *infra.RegistryArgs) { a.RepositoryID = "Apps_1" }, []string{`RepositoryID "Apps_1"`, "lowercase"}},
		{"keep none", func(a *infra.RegistryArgs) { a.KeepCount = 0 }, []string{"KeepCount 0", "at least 1"}},
		{"bad age", func(a *infra.RegistryArgs) { a.DeleteAfter = "30d" }, []string{`DeleteAfter "30d"`, "2592000s"}},
	})
	checkRefusesBadArgs(t, `registry "registry": RepositoryID`, func(ctx *pulumi.Context) error {
		a := validRegistryArgs()
		a.RepositoryID = ""
		_, err := infra.NewRegistry(ctx, "registry", a)
		return err
	})
}
