package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/iam"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
)

// GitHubOIDCIssuer is the issuer of the tokens GitHub Actions mints for `id-token: write` jobs.
const GitHubOIDCIssuer = "https://token.actions.githubusercontent.com"

// GitHubFederation lets GitHub Actions workflows of one repository exchange their OIDC token for
// Google credentials: a workload identity pool with a GitHub OIDC provider whose attribute
// condition rejects tokens from every other repository.
type GitHubFederation struct {
	pulumi.ResourceState
	// PoolName is projects/NUMBER/locations/global/workloadIdentityPools/POOL.
	PoolName pulumi.StringOutput `pulumi:"poolName"`
	// ProviderName is the full provider resource name, the auth action's workload_identity_provider.
	ProviderName pulumi.StringOutput `pulumi:"providerName"`
	// RepositoryPrincipal is the principalSet of every workflow run of the repository.
	RepositoryPrincipal pulumi.StringOutput `pulumi:"repositoryPrincipal"`
}

// GitHubFederationArgs names the pool and provider and the one trusted repository.
type GitHubFederationArgs struct {
	Project    string
	PoolID     string
	ProviderID string
	Repository string // OWNER/NAME
	DependsOn  []pulumi.Resource
}

// Validate checks the fields.
func (a GitHubFederationArgs) Validate() error {
	var errs []error
	if a.Project == "" {
		errs = append(errs, errors.New("Project is required"))
	}
	for _, f := range [][2]string{{"PoolID", a.PoolID}, {"ProviderID", a.ProviderID}} {
		if !wifIDRE.MatchString(f[1]) || strings.HasPrefix(f[1], "gcp-") {
			errs = append(errs, fmt.Errorf("%s %q must be 4-32 lowercase letters, digits or hyphens, not starting with gcp-", f[0], f[1]))
		}
	}
	if !repositoryRE.MatchString(a.Repository) || strings.ContainsAny(a.Repository, `'"\`) {
		errs = append(errs, fmt.Errorf("Repository %q is not OWNER/NAME", a.Repository))
	}
	return errors.Join(errs...)
}

// RepositoryCondition is the provider's attribute condition: only tokens whose repository claim
// is exactly this repository are accepted (GitHub's claim keeps the repository's own casing).
func RepositoryCondition(repository string) string {
	return fmt.Sprintf("assertion.repository == '%s'", repository)
}

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
	provider, err := iam.NewWorkloadIdentityPoolProvider(ctx, name, &iam.WorkloadIdentityPoolProviderArgs{
		Project:                        pulumi.String(args.Project),
		WorkloadIdentityPoolId:         pool.WorkloadIdentityPoolId,
		WorkloadIdentityPoolProviderId: pulumi.String(args.ProviderID),
		DisplayName:                    pulumi.String("GitHub OIDC"),
		// google.subject must be set; the other attributes let IAM bindings name a repository
		// (principalSet .../attribute.repository/OWNER/NAME) or narrow further by ref.
		AttributeMapping: pulumi.StringMap{
			"google.subject":             pulumi.String("assertion.sub"),
			"attribute.repository":       pulumi.String("assertion.repository"),
			"attribute.repository_owner": pulumi.String("assertion.repository_owner"),
			"attribute.ref":              pulumi.String("assertion.ref"),
		},
		AttributeCondition: pulumi.String(RepositoryCondition(args.Repository)),
		Oidc:               &iam.WorkloadIdentityPoolProviderOidcArgs{IssuerUri: pulumi.String(GitHubOIDCIssuer)},
	}, infra.ChildOptions(c, args.DependsOn)...)
	if err != nil {
		return nil, err
	}
	c.PoolName = pool.Name
	c.ProviderName = provider.Name
	c.RepositoryPrincipal = pulumi.Sprintf("principalSet://iam.googleapis.com/%s/attribute.repository/%s", pool.Name, args.Repository)
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"poolName":            c.PoolName,
		"providerName":        c.ProviderName,
		"repositoryPrincipal": c.RepositoryPrincipal,
	})
}
