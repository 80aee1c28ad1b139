// Command bootstrap is a Pulumi program (project cloudrun-affinity-bootstrap) that creates, once
// per Google Cloud project, what CI needs before it can deploy the main stack: the APIs this
// set-up calls, a GCS bucket for Pulumi state, workload identity federation for one GitHub
// repository, and a least-privilege deployer service account. Its exports are the repository
// variables the workflows read (README, "CI").
package main

import (
	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// BootstrapAPIs are the services this program's resources call (and that token exchange needs
// at run time): IAM, IAM credentials and STS for federation and impersonation, Cloud Storage,
// Resource Manager for project IAM, Service Usage to enable the main stack's APIs.
var BootstrapAPIs = []string{
	"iam.googleapis.com",
	"iamcredentials.googleapis.com",
	"sts.googleapis.com",
	"storage.googleapis.com",
	"cloudresourcemanager.googleapis.com",
	"serviceusage.googleapis.com",
}

func main() { pulumi.Run(program) }

func program(ctx *pulumi.Context) error {
	cfg, err := loadConfig(ctx)
	if err != nil {
		return err
	}
	apis, err := infra.NewAPIs(ctx, "bootstrap", infra.APIsArgs{Project: cfg.Project, Services: BootstrapAPIs})
	if err != nil {
		return err
	}
	bucket, err := NewStateBucket(ctx, "state", StateBucketArgs{
		Project:   cfg.Project,
		Name:      cfg.StateBucket,
		Location:  cfg.StateBucketLocation,
		DependsOn: apis.Services,
	})
	if err != nil {
		return err
	}
	github, err := NewGitHubFederation(ctx, "github", GitHubFederationArgs{
		Project:    cfg.Project,
		PoolID:     cfg.PoolID,
		ProviderID: cfg.ProviderID,
		Repository: cfg.Repository,
		DependsOn:  apis.Services,
	})
	if err != nil {
		return err
	}
	deployer, err := NewDeployer(ctx, "deployer", DeployerArgs{
		Project:        cfg.Project,
		AccountID:      cfg.DeployerAccountID,
		Principal:      github.RepositoryPrincipal,
		StateBucket:    bucket.Name,
		GrantableRoles: cfg.GrantableRoles,
		DependsOn:      apis.Services,
	})
	if err != nil {
		return err
	}
	// Repository variables: GCP_WORKLOAD_IDENTITY_PROVIDER, GCP_SERVICE_ACCOUNT, PULUMI_BACKEND_URL.
	ctx.Export("workloadIdentityProvider", github.ProviderName)
	ctx.Export("serviceAccount", deployer.Email)
	ctx.Export("stateBucket", bucket.URL)
	return nil
}
