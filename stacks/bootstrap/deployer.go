package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/projects"
	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/storage"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
)

// DeployerProjectRoles are the project-level roles `pulumi up` of the main stack needs, and no
// more: no owner/editor, nothing the stack does not create. Each line says what needs it.
var DeployerProjectRoles = []string{
	// Enable the APIs the stack uses (infra.APIs: projects.Service resources).
	"roles/serviceusage.serviceUsageAdmin",
	// VPC and subnet, global address, serverless NEG, backend service, URL map, target proxies and
	// forwarding rules of the load balancer (everything in networking except certificates).
	"roles/compute.networkAdmin",
	// Managed SSL certificate of the load balancer (compute.networkAdmin excludes certificates)
	// and the Cloud Armor security policy attached to the backend service.
	"roles/compute.securityAdmin",
	// Memorystore for Redis instance.
	"roles/redis.admin",
	// Firestore database and its TTL field configuration.
	"roles/datastore.owner",
	// Secret Manager secret and version for the Redis AUTH string, and the secret-level grant
	// that lets the runtime service account read it.
	"roles/secretmanager.admin",
	// Artifact Registry repository, and pushing the app image into it.
	"roles/artifactregistry.admin",
	// Cloud Run service and its invoker policy.
	"roles/run.admin",
	// The app's runtime service account.
	"roles/iam.serviceAccountAdmin",
	// Deploy Cloud Run revisions that run as the runtime service account (actAs). Project-wide
	// because that account is created by the main stack; serviceAccountAdmin could grant the
	// same on any account anyway.
	"roles/iam.serviceAccountUser",
}

// ProjectIAMAdminRole lets the deployer add the main stack's project-level grants; a condition
// limits it to the roles listed in DeployerArgs.GrantableRoles, so the deployer cannot grant
// itself (or anyone) owner or any other role.
const ProjectIAMAdminRole = "roles/resourcemanager.projectIamAdmin"

// StateBucketRole is the deployer's only access to the state bucket: read, write, delete and
// list objects (checkpoints, history, locks), no bucket settings, no IAM.
const StateBucketRole = "roles/storage.objectUser"

// WorkloadIdentityUserRole lets a federated principal impersonate the service account.
const WorkloadIdentityUserRole = "roles/iam.workloadIdentityUser"

// GrantableRolesCondition is the IAM condition expression that restricts project IAM changes to
// bindings of the given roles.
func GrantableRolesCondition(roles []string) string {
	quoted := make([]string, len(roles))
	for i, r := range roles {
		quoted[i] = "'" + r + "'"
	}
	return fmt.Sprintf("api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([%s])", strings.Join(quoted, ", "))
}

// Deployer is the service account GitHub Actions deploys as: the project roles above, object
// access on the state bucket only, and impersonation allowed to one repository's workflows.
type Deployer struct {
	pulumi.ResourceState
	Email pulumi.StringOutput `pulumi:"email"`
}

// DeployerArgs configures the account and who may use it.
type DeployerArgs struct {
	Project   string
	AccountID string
	// Principal is the principalSet allowed to impersonate the account (GitHubFederation's
	// RepositoryPrincipal).
	Principal pulumi.StringInput
	// StateBucket is the name of the state bucket.
	StateBucket pulumi.StringInput
	// GrantableRoles are the only roles the deployer may grant at project level.
	GrantableRoles []string
	DependsOn      []pulumi.Resource
}

// Validate checks the fields.
func (a DeployerArgs) Validate() error {
	var errs []error
	if a.Project == "" {
		errs = append(errs, errors.New("Project is required"))
	}
	if !accountRE.MatchString(a.AccountID) {
		errs = append(errs, fmt.Errorf("AccountID %q must be 6-30 lowercase letters, digits or hyphens, starting with a letter", a.AccountID))
	}
	if a.Principal == nil {
		errs = append(errs, errors.New("Principal is required (the repository's principalSet)"))
	}
	if a.StateBucket == nil {
		errs = append(errs, errors.New("StateBucket is required"))
	}
	if len(a.GrantableRoles) == 0 {
		errs = append(errs, errors.New("GrantableRoles must list at least one role"))
	}
	for _, r := range a.GrantableRoles {
		if !roleRE.MatchString(r) {
			errs = append(errs, fmt.Errorf("GrantableRoles: %q is not a role name (roles/...)", r))
		}
	}
	return errors.Join(errs...)
}

// NewDeployer creates the account and its grants.
func NewDeployer(ctx *pulumi.Context, name string, args DeployerArgs, opts ...pulumi.ResourceOption) (*Deployer, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("deployer %q: %w", name, err)
	}
	c := &Deployer{}
	if err := ctx.RegisterComponentResource(typePrefix+"Deployer", name, c, opts...); err != nil {
		return nil, err
	}
	sa, err := serviceaccount.NewAccount(ctx, name, &serviceaccount.AccountArgs{
		Project:     pulumi.String(args.Project),
		AccountId:   pulumi.String(args.AccountID),
		DisplayName: pulumi.String("Pulumi deployer (GitHub Actions)"),
		Description: pulumi.String("Runs pulumi preview/up of cloudrun-affinity from GitHub Actions"),
	}, infra.ChildOptions(c, args.DependsOn)...)
	if err != nil {
		return nil, err
	}
	member := pulumi.Sprintf("serviceAccount:%s", sa.Email)
	for _, role := range DeployerProjectRoles {
		if _, err := projects.NewIAMMember(ctx, name+"-"+shortRole(role), &projects.IAMMemberArgs{
			Project: pulumi.String(args.Project),
			Role:    pulumi.String(role),
			Member:  member,
		}, infra.ChildOptions(c, args.DependsOn)...); err != nil {
			return nil, err
		}
	}
	if _, err := projects.NewIAMMember(ctx, name+"-"+shortRole(ProjectIAMAdminRole), &projects.IAMMemberArgs{
		Project: pulumi.String(args.Project),
		Role:    pulumi.String(ProjectIAMAdminRole),
		Member:  member,
		Condition: &projects.IAMMemberConditionArgs{
			Title:       pulumi.String("only the main stack's runtime roles"),
			Description: pulumi.String("The deployer may add or remove bindings of these roles only"),
			Expression:  pulumi.String(GrantableRolesCondition(args.GrantableRoles)),
		},
	}, infra.ChildOptions(c, args.DependsOn)...); err != nil {
		return nil, err
	}
	if _, err := storage.NewBucketIAMMember(ctx, name+"-state", &storage.BucketIAMMemberArgs{
		Bucket: args.StateBucket,
		Role:   pulumi.String(StateBucketRole),
		Member: member,
	}, infra.ChildOptions(c, args.DependsOn)...); err != nil {
		return nil, err
	}
	if _, err := serviceaccount.NewIAMMember(ctx, name+"-github", &serviceaccount.IAMMemberArgs{
		ServiceAccountId: sa.Name,
		Role:             pulumi.String(WorkloadIdentityUserRole),
		Member:           args.Principal,
	}, infra.ChildOptions(c, args.DependsOn)...); err != nil {
		return nil, err
	}
	c.Email = sa.Email
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"email": c.Email})
}

// shortRole turns "roles/compute.networkAdmin" into "compute-networkAdmin" for logical names.
func shortRole(role string) string {
	return strings.ReplaceAll(strings.TrimPrefix(role, "roles/"), ".", "-")
}
