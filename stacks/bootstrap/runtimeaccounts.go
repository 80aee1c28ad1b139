package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
)

// ServiceAccountUserRole lets the deployer deploy Cloud Run revisions that run as an account
// (iam.serviceAccounts.actAs). It is granted on each runtime account, never on the project:
// IAM Conditions cannot narrow a project-level grant of it to some accounts (iam.googleapis.com
// is not among the services whose resources conditions can name,
// https://cloud.google.com/iam/docs/conditions-resource-attributes).
const ServiceAccountUserRole = "roles/iam.serviceAccountUser"

// Account id prefixes: the main program names the runtime account it creates itself
// affinity-run-<stack> (infra.RuntimeAccountPrefix); the accounts created here are
// affinity-rt-<stack>, which no main-stack id can equal (they differ in the 11th character), so
// pointing a stack at one never collides with an account a main stack made.
const (
	mainStackAccountPrefix = infra.RuntimeAccountPrefix
	runtimeAccountPrefix   = "affinity-rt-"
)

// RuntimeAccounts are the Cloud Run runtime service accounts of the main stacks the deployer
// deploys, and the deployer's right to act as each of them and as no other account. For a
// stack listed in Existing the main stack created its account itself (before it could be
// pointed at one) and keeps it; for every other stack this creates one, to be set as the main
// stack's runtimeServiceAccount.
type RuntimeAccounts struct {
	pulumi.ResourceState
	// Emails maps each stack to its runtime account's email.
	Emails pulumi.StringMapOutput `pulumi:"emails"`
}

// RuntimeAccountsArgs lists the stacks and who deploys them.
type RuntimeAccountsArgs struct {
	Project string
	// Stacks are the main program's stack names.
	Stacks []string
	// Existing maps a stack to the email of the account its main stack already has.
	Existing map[string]string
	// Deployer is the IAM member (serviceAccount:EMAIL) that may act as the accounts.
	Deployer  pulumi.StringInput
	DependsOn []pulumi.Resource
}

// Validate checks the fields.
func (a RuntimeAccountsArgs) Validate() error {
	var p infra.Problems
	if a.Project == "" {
		p.Addf("Project is required")
	}
	if len(a.Stacks) == 0 {
		p.Addf("Stacks must list at least one main stack")
	}
	for _, s := range a.Stacks {
		if !stackRE.MatchString(s) {
			p.Addf("Stacks: %q is not a main stack name (1-40 lowercase letters, digits, '-', '_', '.')", s)
		}
	}
	for _, s := range slices.Sorted(maps.Keys(a.Existing)) {
		if !slices.Contains(a.Stacks, s) {
			p.Addf("Existing: stack %q is not in Stacks %v", s, a.Stacks)
		}
		if !strings.HasSuffix(a.Existing[s], "@"+a.Project+".iam.gserviceaccount.com") {
			p.Addf("Existing: %s: %q is not a service account of project %s", s, a.Existing[s], a.Project)
		}
	}
	if a.Deployer == nil {
		p.Addf("Deployer is required (serviceAccount:EMAIL of the deployer)")
	}
	return p.Err()
}

// RuntimeAccountID is the id of the account created for a stack: affinity-rt-<stack id> (the
// main program's infra.StackID), cut to 30 characters with a hash of the whole name when longer.
func RuntimeAccountID(stack string) string {
	return infra.AccountID(runtimeAccountPrefix, infra.StackID(infra.Project, stack), stack)
}

// NewRuntimeAccounts creates the accounts that do not exist yet and the deployer's grants.
func NewRuntimeAccounts(ctx *pulumi.Context, name string, args RuntimeAccountsArgs, opts ...pulumi.ResourceOption) (*RuntimeAccounts, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("runtime accounts %q: %w", name, err)
	}
	c := &RuntimeAccounts{}
	if err := ctx.RegisterComponentResource(typePrefix+"RuntimeAccounts", name, c, opts...); err != nil {
		return nil, err
	}
	emails := pulumi.StringMap{}
	for _, stack := range args.Stacks {
		logical := name + "-" + infra.StackID(infra.Project, stack)
		var email, account pulumi.StringInput // account: projects/PROJECT/serviceAccounts/EMAIL
		if existing, ok := args.Existing[stack]; ok {
			// The grant below needs the account to exist: the main stack made it long ago.
			email = pulumi.String(existing)
			account = pulumi.String(fmt.Sprintf("projects/%s/serviceAccounts/%s", args.Project, existing))
		} else {
			sa, err := serviceaccount.NewAccount(ctx, logical, &serviceaccount.AccountArgs{
				Project:     pulumi.String(args.Project),
				AccountId:   pulumi.String(RuntimeAccountID(stack)),
				DisplayName: pulumi.String("cloudrun-affinity runtime (" + stack + ")"),
				Description: pulumi.String("Cloud Run runtime identity of main stack " + stack + " (its runtimeServiceAccount); created by the CI bootstrap"),
			}, infra.ChildOptions(c, args.DependsOn)...)
			if err != nil {
				return nil, err
			}
			email, account = sa.Email, sa.Name
		}
		if _, err := serviceaccount.NewIAMMember(ctx, logical+"-deployer", &serviceaccount.IAMMemberArgs{
			ServiceAccountId: account,
			Role:             pulumi.String(ServiceAccountUserRole),
			Member:           args.Deployer,
		}, infra.ChildOptions(c, args.DependsOn)...); err != nil {
			return nil, err
		}
		emails[stack] = email
	}
	c.Emails = emails.ToStringMapOutput()
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"emails": c.Emails})
}
