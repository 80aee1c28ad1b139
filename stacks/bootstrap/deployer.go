package main

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/projects"
	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/storage"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
)

// DeployerProjectRoles are the project-level roles `pulumi up` of the main stack needs, and no
// more: no owner/editor, nothing the stack does not create, nothing on service accounts (the
// deployer acts as the runtime accounts through grants on those accounts, RuntimeAccounts).
// Each line says what needs it. Roles narrowed by a condition are granted below, not here.
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
	// Artifact Registry repository, and pushing the app image into it.
	"roles/artifactregistry.admin",
	// Cloud Run service and its invoker policy.
	"roles/run.admin",
	// The Monitoring component: dashboard, alert policies, uptime check, notification channels,
	// the custom service and its SLO (all monitoring.* administration; it reads no data).
	"roles/monitoring.editor",
}

// ProjectIAMAdminRole lets the deployer add the main stack's project-level grants; a condition
// limits it to the roles listed in DeployerArgs.GrantableRoles, so the deployer cannot grant
// itself (or anyone) owner or any other role.
const ProjectIAMAdminRole = "roles/resourcemanager.projectIamAdmin"

// SecretManagerAdminRole manages the Redis AUTH secret, its versions and the secret-level grant
// that lets the runtime account read it; a condition limits it to the main stacks' secrets.
const SecretManagerAdminRole = "roles/secretmanager.admin"

// StateBucketRole is the deployer's only access to the state bucket: read, write, delete and
// list objects (checkpoints, history, locks), no bucket settings, no IAM.
const StateBucketRole = "roles/storage.objectUser"

// WorkloadIdentityUserRole lets a federated principal impersonate the service account.
const WorkloadIdentityUserRole = "roles/iam.workloadIdentityUser"

// ProjectResourceType is the resource type IAM Conditions see for a permission checked on the
// project (https://cloud.google.com/iam/docs/conditions-resource-attributes).
const ProjectResourceType = "cloudresourcemanager.googleapis.com/Project"

// MainStackSecretID is the Secret Manager secret the main stack keeps a stack's Redis AUTH
// string in (infra.RedisSecretID of the main program's stack id). A stack in several regions
// keeps one per region, named MainStackSecretID + "_" + region.
func MainStackSecretID(stack string) string {
	return infra.RedisSecretID(infra.StackID(infra.Project, stack))
}

// GrantableRolesCondition is the IAM condition expression that restricts project IAM changes to
// bindings of the given roles. modifiedGrantsByRole lists the roles of the bindings a
// setIamPolicy adds or removes, conditional bindings included, so the main stack's
// roles/datastore.user limited by a condition to its database passes too
// (https://cloud.google.com/iam/docs/setting-limits-on-granting-roles).
func GrantableRolesCondition(roles []string) string {
	quoted := make([]string, len(roles))
	for i, r := range roles {
		quoted[i] = "'" + r + "'"
	}
	return fmt.Sprintf("api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([%s])", strings.Join(quoted, ", "))
}

// SecretsCondition limits roles/secretmanager.admin to the given secrets and their versions.
// Secret Manager names resources by project number in conditions (projects/NUMBER/secrets/ID,
// .../versions/N; https://cloud.google.com/iam/docs/conditions-resource-attributes). Creating a
// secret is authorized "on the specified resource parent", the project
// (https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets/create), so a
// condition on the secret's name alone would refuse the create: the project clause lets the
// role's project-level permissions through (secrets.create and .list, locations), which create
// and list secrets but cannot read, change, grant on or delete any secret but these.
func SecretsCondition(projectNumber string, secretIDs []string) string {
	clauses := []string{fmt.Sprintf("resource.type == '%s'", ProjectResourceType)}
	for _, id := range secretIDs {
		name := fmt.Sprintf("projects/%s/secrets/%s", projectNumber, id)
		// The secret, its versions, and its regional twins (ID_REGION) with theirs.
		clauses = append(clauses, fmt.Sprintf("resource.name == '%s'", name), fmt.Sprintf("resource.name.startsWith('%s/')", name),
			fmt.Sprintf("resource.name.startsWith('%s_')", name))
	}
	return strings.Join(clauses, " || ")
}

// Deployer is the service account GitHub Actions deploys as: the project roles above, IAM and
// Secret Manager administration limited by conditions, object access on the state bucket only,
// and impersonation allowed only to jobs that run in the deploy environments.
type Deployer struct {
	pulumi.ResourceState
	Email pulumi.StringOutput `pulumi:"email"`
	// Member is serviceAccount:EMAIL, for grants to the deployer.
	Member pulumi.StringOutput `pulumi:"member"`
}

// DeployerArgs configures the account and who may use it.
type DeployerArgs struct {
	Project string
	// ProjectNumber names the secrets in the Secret Manager condition.
	ProjectNumber pulumi.StringInput
	AccountID     string
	// Principals are the principalSets allowed to impersonate the account, by a short label for
	// the logical name: the jobs of each deploy environment (environment name ->
	// GitHubFederation.PrincipalSet(AttrEnvironment, name)).
	Principals map[string]pulumi.StringInput
	// StateBucket is the name of the state bucket.
	StateBucket pulumi.StringInput
	// GrantableRoles are the only roles the deployer may grant at project level.
	GrantableRoles []string
	// SecretIDs are the Secret Manager secrets the deployer may manage.
	SecretIDs []string
	DependsOn []pulumi.Resource
}

// Validate checks the fields.
func (a DeployerArgs) Validate() error {
	var p infra.Problems
	if a.Project == "" {
		p.Addf("Project is required")
	}
	if a.ProjectNumber == nil {
		p.Addf("ProjectNumber is required (GitHubFederation.ProjectNumber)")
	}
	if !accountRE.MatchString(a.AccountID) {
		p.Addf("AccountID %q must be 6-30 lowercase letters, digits or hyphens, starting with a letter", a.AccountID)
	}
	if len(a.Principals) == 0 {
		p.Addf("Principals must list at least one principalSet (the deploy environments')")
	}
	for label, principal := range a.Principals {
		if principal == nil || !environmentRE.MatchString(label) {
			p.Addf("Principals: %q needs a principalSet and a label of letters, digits, '-', '_', '.'", label)
		}
	}
	if a.StateBucket == nil {
		p.Addf("StateBucket is required")
	}
	if len(a.GrantableRoles) == 0 {
		p.Addf("GrantableRoles must list at least one role")
	}
	for _, r := range a.GrantableRoles {
		if !roleRE.MatchString(r) {
			p.Addf("GrantableRoles: %q is not a role name (roles/...)", r)
		}
	}
	if len(a.SecretIDs) == 0 {
		p.Addf("SecretIDs must list at least one secret (the main stacks' Redis AUTH secrets)")
	}
	for _, id := range a.SecretIDs {
		if !secretIDRE.MatchString(id) {
			p.Addf("SecretIDs: %q is not a secret id (1-255 letters, digits, - or _)", id)
		}
	}
	return p.Err()
}

var secretIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

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
	conditional := []struct {
		role               string
		title, description string
		expression         pulumi.StringInput
	}{
		{ProjectIAMAdminRole, "only the main stack's runtime roles", "The deployer may add or remove bindings of these roles only",
			pulumi.String(GrantableRolesCondition(args.GrantableRoles))},
		{SecretManagerAdminRole, "only the main stacks' secrets", "Secret Manager administration of the Redis AUTH secrets of the deploy stacks",
			args.ProjectNumber.ToStringOutput().ApplyT(func(n string) string { return SecretsCondition(n, args.SecretIDs) }).(pulumi.StringOutput)},
	}
	for _, g := range conditional {
		if _, err := projects.NewIAMMember(ctx, name+"-"+shortRole(g.role), &projects.IAMMemberArgs{
			Project: pulumi.String(args.Project),
			Role:    pulumi.String(g.role),
			Member:  member,
			Condition: &projects.IAMMemberConditionArgs{
				Title:       pulumi.String(g.title),
				Description: pulumi.String(g.description),
				Expression:  g.expression,
			},
		}, infra.ChildOptions(c, args.DependsOn)...); err != nil {
			return nil, err
		}
	}
	if _, err := storage.NewBucketIAMMember(ctx, name+"-state", &storage.BucketIAMMemberArgs{
		Bucket: args.StateBucket,
		Role:   pulumi.String(StateBucketRole),
		Member: member,
	}, infra.ChildOptions(c, args.DependsOn)...); err != nil {
		return nil, err
	}
	// One binding per environment: only jobs that declare one of them get a token with that
	// environment claim, and GitHub runs such a job only on the branches the environment's
	// deployment branch policy allows (README, "CI").
	for _, label := range slices.Sorted(maps.Keys(args.Principals)) {
		if _, err := serviceaccount.NewIAMMember(ctx, name+"-github-"+label, &serviceaccount.IAMMemberArgs{
			ServiceAccountId: sa.Name,
			Role:             pulumi.String(WorkloadIdentityUserRole),
			Member:           args.Principals[label],
		}, infra.ChildOptions(c, args.DependsOn)...); err != nil {
			return nil, err
		}
	}
	c.Email = sa.Email
	c.Member = member
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"email": c.Email, "member": c.Member})
}

// shortRole turns "roles/compute.networkAdmin" into "compute-networkAdmin" for logical names.
func shortRole(role string) string {
	return strings.ReplaceAll(strings.TrimPrefix(role, "roles/"), ".", "-")
}
