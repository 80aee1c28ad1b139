package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
)

// GitHubOIDCIssuer is the issuer of the tokens GitHub Actions mints for `id-token: write` jobs.
const GitHubOIDCIssuer = "https://token.actions.githubusercontent.com"

// GitHubFederation lets GitHub Actions workflows of one repository exchange their OIDC token for
// Google credentials: a workload identity pool with a GitHub OIDC provider whose attribute
// condition rejects tokens from every other repository. The pool serves this one repository:
// bindings name its principals by attribute alone (PrincipalSet), so add no other provider to it.
type GitHubFederation struct {
	pulumi.ResourceState
	// PoolName is projects/NUMBER/locations/global/workloadIdentityPools/POOL.
	PoolName pulumi.StringOutput `pulumi:"poolName"`
	// ProviderName is the full provider resource name, the auth action's workload_identity_provider.
	ProviderName pulumi.StringOutput `pulumi:"providerName"`
	// ProjectNumber is the project's number, read from PoolName (IAM names pools by number), for
	// the IAM conditions that name resources by number (Secret Manager).
	ProjectNumber pulumi.StringOutput `pulumi:"projectNumber"`
}

// GitHubFederationArgs names the pool and provider and the one trusted repository.
type GitHubFederationArgs struct {
	Project    string
	PoolID     string
	ProviderID string
	Repository string // OWNER/NAME
	// RepositoryID and RepositoryOwnerID are GitHub's numeric ids of the repository and its
	// owner: unlike names they are never reused, so a deleted repository's name re-registered by
	// someone else does not pass the condition.
	RepositoryID      string
	RepositoryOwnerID string
	DependsOn         []pulumi.Resource
}

// Validate checks the fields.
func (a GitHubFederationArgs) Validate() error {
	var p infra.Problems
	if a.Project == "" {
		p.Addf("Project is required")
	}
	for _, f := range [][2]string{{"PoolID", a.PoolID}, {"ProviderID", a.ProviderID}} {
		if !wifIDRE.MatchString(f[1]) || strings.HasPrefix(f[1], "gcp-") {
			p.Addf("%s %q must be 4-32 lowercase letters, digits or hyphens, not starting with gcp-", f[0], f[1])
		}
	}
	if !repositoryRE.MatchString(a.Repository) || strings.ContainsAny(a.Repository, `'"\`) {
		p.Addf("Repository %q is not OWNER/NAME", a.Repository)
	}
	for _, f := range [][2]string{{"RepositoryID", a.RepositoryID}, {"RepositoryOwnerID", a.RepositoryOwnerID}} {
		if !numericIDRE.MatchString(f[1]) {
			p.Addf("%s %q is not a numeric GitHub id (digits)", f[0], f[1])
		}
	}
	return p.Err()
}

// Token claims the bindings narrow by (GitHub's OIDC token reference): a job that names an
// environment gets its name in the environment claim, and event_name is the event that started
// the run.
const (
	AttrEnvironment  = "environment"
	AttrEventName    = "event_name"
	PullRequestEvent = "pull_request"
)

// AttributeMapping maps the token's claims to attributes. google.subject is required for OIDC
// providers; repository_id and repository_owner_id carry what the condition checks;
// environment and event_name are what the deployer's and the previewer's bindings name. A job
// without an environment has no environment claim and gets no environment attribute.
var AttributeMapping = map[string]string{
	"google.subject":                "assertion.sub",
	"attribute.repository":          "assertion.repository",
	"attribute.repository_id":       "assertion.repository_id",
	"attribute.repository_owner":    "assertion.repository_owner",
	"attribute.repository_owner_id": "assertion.repository_owner_id",
	"attribute.ref":                 "assertion.ref",
	"attribute." + AttrEnvironment:  "assertion." + AttrEnvironment,
	"attribute." + AttrEventName:    "assertion." + AttrEventName,
}

// RepositoryCondition is the provider's attribute condition: only tokens of this repository,
// by its and its owner's numeric ids (google-github-actions/auth, docs/SECURITY_CONSIDERATIONS.md:
// "use the numeric *_id fields ... which GitHub guarantees to be unique and never re-used"), and
// still by name, so a renamed or transferred repository stops until this config says so. GitHub
// sends the ids as strings.
func RepositoryCondition(repository, repositoryID, ownerID string) string {
	return fmt.Sprintf("assertion.repository_id == '%s' && assertion.repository_owner_id == '%s' && assertion.repository == '%s'",
		repositoryID, ownerID, repository)
}

// PrincipalSet is every identity of the pool whose mapped attribute has this value:
// principalSet://iam.googleapis.com/POOL/attribute.NAME/VALUE.
func (c *GitHubFederation) PrincipalSet(attribute, value string) pulumi.StringOutput {
	return pulumi.Sprintf("principalSet://iam.googleapis.com/%s/attribute.%s/%s", c.PoolName, attribute, value)
}

var poolNameRE = regexp.MustCompile(`^projects/([0-9]+)/locations/global/workloadIdentityPools/[^/]+$`)

// NewGitHubFederation creates the pool and the provider.
func NewGitHubFederation(ctx *pulumi.Context, name string, args GitHubFederationArgs, opts ...pulumi.ResourceOption) (*GitHubFederation, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("github federation %q: %w", name, err)
	}
	c := &GitHubFederation{}
	if err := ctx.RegisterComponentResource(typePrefix+"GitHubFederation", name, c, opts...); err != nil {
		return nil, err
	}
	pool, err := iam.NewWorkloadIdentityPool(ctx, name, &iam.WorkloadIdentityPoolArgs{
		Project:                pulumi.String(args.Project),
		WorkloadIdentityPoolId: pulumi.String(args.PoolID),
		DisplayName:            pulumi.String("GitHub Actions"),
		Description:            pulumi.String("GitHub Actions workflows of " + args.Repository),
	}, infra.ChildOptions(c, args.DependsOn)...)
	if err != nil {
		return nil, err
	}
	// attributeMapping and attributeCondition are updated in place (the provider sends them in
	// an updateMask); only the project and the two ids replace the provider.
	provider, err := iam.NewWorkloadIdentityPoolProvider(ctx, name, &iam.WorkloadIdentityPoolProviderArgs{
		Project:                        pulumi.String(args.Project),
		WorkloadIdentityPoolId:         pool.WorkloadIdentityPoolId,
		WorkloadIdentityPoolProviderId: pulumi.String(args.ProviderID),
		DisplayName:                    pulumi.String("GitHub OIDC"),
		AttributeMapping:               pulumi.ToStringMap(AttributeMapping),
		AttributeCondition:             pulumi.String(RepositoryCondition(args.Repository, args.RepositoryID, args.RepositoryOwnerID)),
		Oidc:                           &iam.WorkloadIdentityPoolProviderOidcArgs{IssuerUri: pulumi.String(GitHubOIDCIssuer)},
	}, infra.ChildOptions(c, args.DependsOn)...)
	if err != nil {
		return nil, err
	}
	c.PoolName = pool.Name
	c.ProviderName = provider.Name
	c.ProjectNumber = pool.Name.ApplyT(func(n string) (string, error) {
		m := poolNameRE.FindStringSubmatch(n)
		if m == nil {
			return "", fmt.Errorf("github federation %q: pool name %q is not projects/NUMBER/locations/global/workloadIdentityPools/ID", name, n)
		}
		return m[1], nil
	}).(pulumi.StringOutput)
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"poolName":      c.PoolName,
		"providerName":  c.ProviderName,
		"projectNumber": c.ProjectNumber,
	})
}
