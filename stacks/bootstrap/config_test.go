package main

import (
	"strings"
	"testing"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func TestBadConfigFailsNamingTheKeyAndCreatesNothing(t *testing.T) {
	devAccount := "affinity-run-dev@" + project + ".iam.gserviceaccount.com"
	cases := []struct {
		name string
		cfg  infratest.Config
		key  string
	}{
		{"no repository", withoutKey(baseConfig(), ns+":githubRepository"), ns + ":githubRepository"},
		{"repository without owner", baseConfig().With(ns+":githubRepository", "cloudrun-affinity"), ns + ":githubRepository"},
		{"repository with a path", baseConfig().With(ns+":githubRepository", "acme/app/extra"), ns + ":githubRepository"},
		{"repository with a quote", baseConfig().With(ns+":githubRepository", "acme/x' || true || '"), ns + ":githubRepository"},
		{"repository is a dot", baseConfig().With(ns+":githubRepository", "acme/.."), ns + ":githubRepository"},
		{"no repository id", withoutKey(baseConfig(), ns+":githubRepositoryId"), ns + ":githubRepositoryId"},
		{"repository id is a name", baseConfig().With(ns+":githubRepositoryId", "cloudrun-affinity"), ns + ":githubRepositoryId"},
		{"repository id with a quote", baseConfig().With(ns+":githubRepositoryId", "1' || true || '"), ns + ":githubRepositoryId"},
		{"no owner id", withoutKey(baseConfig(), ns+":githubRepositoryOwnerId"), ns + ":githubRepositoryOwnerId"},
		{"owner id negative", baseConfig().With(ns+":githubRepositoryOwnerId", "-5"), ns + ":githubRepositoryOwnerId"},
		{"no project", withoutKey(baseConfig(), "gcp:project"), "gcp:project"},
		{"bucket name", baseConfig().With(ns+":stateBucket", "Bad_Bucket"), ns + ":stateBucket"},
		{"bucket location", baseConfig().With(ns+":stateBucketLocation", "us central"), ns + ":stateBucketLocation"},
		{"no bucket location, no region", withoutKey(baseConfig(), "gcp:region"), ns + ":stateBucketLocation"},
		{"reserved pool id", baseConfig().With(ns+":workloadIdentityPoolId", "gcp-pool"), ns + ":workloadIdentityPoolId"},
		{"provider id", baseConfig().With(ns+":workloadIdentityProviderId", "GH"), ns + ":workloadIdentityProviderId"},
		{"account id", baseConfig().With(ns+":deployerAccountId", "1deployer"), ns + ":deployerAccountId"},
		{"previewer id", baseConfig().With(ns+":previewerAccountId", "x"), ns + ":previewerAccountId"},
		{"previewer is the deployer", baseConfig().With(ns+":previewerAccountId", "pulumi-deployer"), ns + ":previewerAccountId"},
		{"deployer id like a runtime account", baseConfig().With(ns+":deployerAccountId", "affinity-run-dev"), ns + ":deployerAccountId"},
		{"roles not JSON", baseConfig().With(ns+":deployerGrantableRoles", "roles/datastore.user"), ns + ":deployerGrantableRoles"},
		{"escalating role", baseConfig().With(ns+":deployerGrantableRoles", `["roles/owner"]`), ns + ":deployerGrantableRoles"},
		{"service account role", baseConfig().With(ns+":deployerGrantableRoles", `["roles/iam.serviceAccountUser"]`), ns + ":deployerGrantableRoles"},
		{"empty roles", baseConfig().With(ns+":deployerGrantableRoles", `[]`), ns + ":deployerGrantableRoles"},
		{"environments not JSON", baseConfig().With(ns+":deployEnvironments", "dev"), ns + ":deployEnvironments"},
		{"no environments", baseConfig().With(ns+":deployEnvironments", `[]`), ns + ":deployEnvironments"},
		{"environment with a slash", baseConfig().With(ns+":deployEnvironments", `["dev/x"]`), ns + ":deployEnvironments"},
		{"stacks not JSON", baseConfig().With(ns+":deployStacks", "dev"), ns + ":deployStacks"},
		{"no stacks", baseConfig().With(ns+":deployStacks", `[]`), ns + ":deployStacks"},
		{"stack name upper case", baseConfig().With(ns+":deployStacks", `["Dev"]`), ns + ":deployStacks"},
		{"a stack listed twice", baseConfig().With(ns+":deployStacks", `["a-b", "a-b"]`), ns + ":deployStacks"},
		{"existing not JSON", baseConfig().With(ns+":existingRuntimeServiceAccounts", devAccount), ns + ":existingRuntimeServiceAccounts"},
		{"existing for another stack", baseConfig().With(ns+":existingRuntimeServiceAccounts", `{"prod": "`+devAccount+`"}`), ns + ":existingRuntimeServiceAccounts"},
		{"existing in another project", baseConfig().With(ns+":existingRuntimeServiceAccounts", `{"dev": "affinity-run-dev@other-project.iam.gserviceaccount.com"}`), ns + ":existingRuntimeServiceAccounts"},
		{"existing is the deployer", baseConfig().With(ns+":existingRuntimeServiceAccounts", `{"dev": "`+wantDeployer+`"}`), ns + ":existingRuntimeServiceAccounts"},
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

func withoutKey(c infratest.Config, key string) infratest.Config {
	c = c.Clone()
	delete(c, key)
	return c
}

// Every bad key is reported in one go, so a user fixes the config in one round.
func TestBadConfigReportsEveryKeyAtOnce(t *testing.T) {
	_, err := infratest.Run(infratest.Preview, program, infratest.WithConfig(infratest.Config{
		ns + ":stateBucketLocation": "?", ns + ":deployerAccountId": "x", ns + ":deployStacks": `["X"]`,
	}), infratest.WithMocksSetup(mockFederation))
	if err == nil {
		t.Fatal("program accepted an empty config")
	}
	for _, key := range []string{"gcp:project", ns + ":githubRepository", ns + ":githubRepositoryId", ns + ":githubRepositoryOwnerId",
		ns + ":stateBucketLocation", ns + ":deployerAccountId", ns + ":deployStacks"} {
		if !strings.Contains(err.Error(), key+":") {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
}

func TestComponentArgsValidateNameTheField(t *testing.T) {
	principal := map[string]pulumi.StringInput{"dev": pulumi.String(wantDevEnv)}
	cases := []struct {
		err   error
		field string
	}{
		{StateBucketArgs{Project: project, Name: "ok-bucket", Location: "nowhere land"}.Validate(), "Location"},
		{StateBucketArgs{Project: project, Name: "A", Location: "US"}.Validate(), "Name"},
		{GitHubFederationArgs{Project: project, PoolID: "gcp-x", ProviderID: "github-actions", Repository: repository, RepositoryID: repositoryID, RepositoryOwnerID: ownerID}.Validate(), "PoolID"},
		{GitHubFederationArgs{Project: project, PoolID: "github", ProviderID: "github-actions", Repository: "no-owner", RepositoryID: repositoryID, RepositoryOwnerID: ownerID}.Validate(), "Repository"},
		{GitHubFederationArgs{Project: project, PoolID: "github", ProviderID: "github-actions", Repository: repository, RepositoryID: "x", RepositoryOwnerID: ownerID}.Validate(), "RepositoryID"},
		{GitHubFederationArgs{Project: project, PoolID: "github", ProviderID: "github-actions", Repository: repository, RepositoryID: repositoryID}.Validate(), "RepositoryOwnerID"},
		{DeployerArgs{Project: project, ProjectNumber: pulumi.String(mockProjectNum), AccountID: "pulumi-deployer", StateBucket: pulumi.String(wantBucket), GrantableRoles: []string{"roles/datastore.user"}, SecretIDs: []string{"s"}}.Validate(), "Principals"},
		{DeployerArgs{Project: project, ProjectNumber: pulumi.String(mockProjectNum), AccountID: "pulumi-deployer", Principals: principal, StateBucket: pulumi.String(wantBucket), GrantableRoles: []string{"roles/datastore.user"}}.Validate(), "SecretIDs"},
		{DeployerArgs{Project: project, AccountID: "pulumi-deployer", Principals: principal, StateBucket: pulumi.String(wantBucket), GrantableRoles: []string{"roles/datastore.user"}, SecretIDs: []string{"s"}}.Validate(), "ProjectNumber"},
		{DeployerArgs{Project: project, AccountID: "x"}.Validate(), "AccountID"},
		{PreviewerArgs{Project: project, AccountID: "pulumi-previewer", StateBucket: pulumi.String(wantBucket)}.Validate(), "Principal"},
		{PreviewerArgs{Project: project, AccountID: "pulumi-previewer", Principal: pulumi.String(wantPullRequest)}.Validate(), "StateBucket"},
		{RuntimeAccountsArgs{Project: project, Deployer: pulumi.String("serviceAccount:" + wantDeployer)}.Validate(), "Stacks"},
		{RuntimeAccountsArgs{Project: project, Stacks: []string{"dev"}, Existing: map[string]string{"prod": wantRuntimeDev}, Deployer: pulumi.String("serviceAccount:" + wantDeployer)}.Validate(), "Existing"},
		{RuntimeAccountsArgs{Project: project, Stacks: []string{"dev"}}.Validate(), "Deployer"},
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

func TestConfigTypoInAKeyIsReported(t *testing.T) {
	// The CLI passes the whole stack config in PULUMI_CONFIG; an unknown key of ours is a typo.
	t.Setenv("PULUMI_CONFIG", `{"`+ns+`:existingRuntimeServiceAccount":"{}","gcp:project":"acme-ci-123","aws:region":"x"}`)
	res, err := infratest.Run(infratest.Preview, program,
		infratest.WithConfig(baseConfig().With(ns+":existingRuntimeServiceAccount", "{}")), infratest.WithStack("bootstrap"),
		infratest.WithMocksSetup(mockFederation))
	if err == nil || !strings.Contains(err.Error(), ns+":existingRuntimeServiceAccount: is not a setting") ||
		!strings.Contains(err.Error(), "existingRuntimeServiceAccounts") {
		t.Fatalf("err = %v, want the typo named with the known keys", err)
	}
	if strings.Contains(err.Error(), "aws:region") {
		t.Errorf("keys of other namespaces are not ours to judge: %v", err)
	}
	if n := len(res.Resources()); n != 0 {
		t.Errorf("%d resources registered before the config error", n)
	}
}
