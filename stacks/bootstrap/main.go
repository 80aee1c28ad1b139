// Command bootstrap is a Pulumi program (project cloudrun-affinity-bootstrap) that creates, once
// per Google Cloud project, what CI needs before it can deploy the main stack: the APIs this
// set-up calls, a GCS bucket for Pulumi state, workload identity federation for one GitHub
// repository, a least-privilege deployer service account usable only from the deploy
// environments, a read-only previewer for pull requests, and the main stacks' runtime service
// accounts (the only accounts the deployer may act as). Its exports are the repository variables
// the workflows read and each main stack's runtimeServiceAccount (README, "CI").
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
		Project:           cfg.Project,
		PoolID:            cfg.PoolID,
		ProviderID:        cfg.ProviderID,
		Repository:        cfg.Repository,
		RepositoryID:      cfg.RepositoryID,
		RepositoryOwnerID: cfg.RepositoryOwnerID,
		DependsOn:         apis.Services,
	})
	if err != nil {
		return err
	}
	environments := map[string]pulumi.StringInput{}
	for _, env := range cfg.DeployEnvironments {
		environments[env] = github.PrincipalSet(AttrEnvironment, env)
	}
	secrets := make([]string, len(cfg.DeployStacks))
	for i, stack := range cfg.DeployStacks {
		secrets[i] = MainStackSecretID(stack)
	}
	deployer, err := NewDeployer(ctx, "deployer", DeployerArgs{
		Project:        cfg.Project,
		ProjectNumber:  github.ProjectNumber,
		AccountID:      cfg.DeployerAccountID,
		Principals:     environments,
		StateBucket:    bucket.Name,
		GrantableRoles: cfg.GrantableRoles,
		SecretIDs:      secrets,
		DependsOn:      apis.Services,
	})
	if err != nil {
		return err
	}
	runtime, err := NewRuntimeAccounts(ctx, "runtime", RuntimeAccountsArgs{
		Project:   cfg.Project,
		Stacks:    cfg.DeployStacks,
		Existing:  cfg.ExistingRuntimeAccounts,
		Deployer:  deployer.Member,
		DependsOn: apis.Services,
	})
	if err != nil {
		return err
	}
	previewer, err := NewPreviewer(ctx, "previewer", PreviewerArgs{
		Project:     cfg.Project,
		AccountID:   cfg.PreviewerAccountID,
		Principal:   github.PrincipalSet(AttrEventName, PullRequestEvent),
		StateBucket: bucket.Name,
		DependsOn:   apis.Services,
	})
	if err != nil {
		return err
	}
	// Repository variables: GCP_WORKLOAD_IDENTITY_PROVIDER, GCP_SERVICE_ACCOUNT,
	// GCP_PREVIEW_SERVICE_ACCOUNT, PULUMI_BACKEND_URL. runtimeServiceAccounts: each main
	// stack's runtimeServiceAccount.
	ctx.Export("workloadIdentityProvider", github.ProviderName)
	ctx.Export("serviceAccount", deployer.Email)
	ctx.Export("previewServiceAccount", previewer.Email)
	ctx.Export("stateBucket", bucket.URL)
	ctx.Export("runtimeServiceAccounts", runtime.Emails)
	return nil
}
