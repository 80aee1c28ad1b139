package infra

import (
	"fmt"
	"regexp"

	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/projects"
	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The only roles the runtime identity holds.
const (
	// Firestore data access, granted on the project with an IAM condition that limits it to
	// the stack's database (Firestore supports resource.name conditions on databases:
	// cloud.google.com/firestore/docs/manage-databases, "Configure per-database access").
	RoleDatastoreUser  = "roles/datastore.user"
	RoleSecretAccessor = "roles/secretmanager.secretAccessor" // on the Redis AUTH secret only
	// The app's OpenTelemetry export: metrics to Cloud Monitoring (timeSeries.create, the
	// metric descriptors the exporter creates) and spans to Cloud Trace. Both are project-wide
	// by nature (there is nothing narrower to grant them on), so they carry no condition.
	RoleMetricWriter = "roles/monitoring.metricWriter"
	RoleTraceAgent   = "roles/cloudtrace.agent"
)

// TelemetryRoles are the project roles the app's telemetry export needs.
var TelemetryRoles = []string{RoleMetricWriter, RoleTraceAgent}

// DatabaseCondition is the IAM condition expression that limits a grant to one Firestore
// database.
func DatabaseCondition(project, database string) string {
	return fmt.Sprintf(`resource.name == "projects/%s/databases/%s"`, project, database)
}

// Identity is the Cloud Run service's service account, with data access to the stack's
// Firestore database, read access to the one secret it needs, and the right to write the app's
// metrics and traces. Nothing broader.
type Identity struct {
	pulumi.ResourceState
	Email pulumi.StringOutput `pulumi:"email"`
	// Member is "serviceAccount:EMAIL", for the grants each region adds (its AUTH secret).
	Member pulumi.StringOutput `pulumi:"member"`
	// Grants are the project-level IAM bindings; a service must wait for them, or its first
	// revision can fail to use Firestore. Nothing in the data flow says so, hence a list.
	Grants []pulumi.Resource `pulumi:"-"`
}

// IdentityArgs configures the account.
type IdentityArgs struct {
	Project   string
	AccountID string // 6-30 chars: lowercase letters, digits, -; the account the stack creates
	// ExistingAccount is the email of an account to use instead of creating AccountID (one
	// the CI bootstrap created, so the deployer may act as it without project-wide rights).
	ExistingAccount   string
	FirestoreDatabase pulumi.StringInput // the database the service may use
	DependsOn         []pulumi.Resource
}

var (
	accountIDPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)
	// User-managed accounts end in .iam.gserviceaccount.com; the project part is the project id.
	accountEmailPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$`)
)

// ValidServiceAccountEmail reports whether s is the email of a user-managed service account.
func ValidServiceAccountEmail(s string) bool { return accountEmailPattern.MatchString(s) }

// Validate checks the project and the account id.
func (a IdentityArgs) Validate() error {
	var p problems
	if a.Project == "" {
		p.addf("Project is required (the Google Cloud project id)")
	}
	switch {
	case a.ExistingAccount != "":
		if !ValidServiceAccountEmail(a.ExistingAccount) {
			p.addf("ExistingAccount %q is not a service account email (NAME@PROJECT.iam.gserviceaccount.com)", a.ExistingAccount)
		}
	case !accountIDPattern.MatchString(a.AccountID):
		p.addf("AccountID %q is not a service account id; use 6-30 lowercase letters, digits or -, starting with a letter", a.AccountID)
	}
	if a.FirestoreDatabase == nil {
		p.addf("FirestoreDatabase is required (the database id the grant is limited to)")
	}
	return p.err()
}

// NewIdentity creates the service account and its four grants.
func NewIdentity(ctx *pulumi.Context, name string, args IdentityArgs, opts ...pulumi.ResourceOption) (*Identity, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("identity %q: %w", name, err)
	}
	c := &Identity{}
	if err := ctx.RegisterComponentResource(typePrefix+"Identity", name, c, opts...); err != nil {
		return nil, err
	}
	email, member := pulumi.String(args.ExistingAccount).ToStringOutput(), pulumi.Sprintf("serviceAccount:%s", args.ExistingAccount)
	if args.ExistingAccount == "" {
		sa, err := serviceaccount.NewAccount(ctx, name, &serviceaccount.AccountArgs{
			Project:     pulumi.String(args.Project),
			AccountId:   pulumi.String(args.AccountID),
			DisplayName: pulumi.String("cloudrun-affinity runtime"),
		}, ChildOptions(c, args.DependsOn)...)
		if err != nil {
			return nil, err
		}
		email, member = sa.Email, sa.Member
	}
	// The condition is part of the binding's identity: a stack that had the unconditional grant
	// gets the conditional one created before the old one is deleted.
	data, err := projects.NewIAMMember(ctx, name+"-datastore-user", &projects.IAMMemberArgs{
		Project: pulumi.String(args.Project),
		Role:    pulumi.String(RoleDatastoreUser),
		Member:  member,
		Condition: &projects.IAMMemberConditionArgs{
			Title:       pulumi.String("only the app's Firestore database"),
			Description: pulumi.String("cloudrun-affinity: data access to this stack's database and no other"),
			Expression:  args.FirestoreDatabase.ToStringOutput().ApplyT(func(db string) string { return DatabaseCondition(args.Project, db) }).(pulumi.StringOutput),
		},
	}, ChildOptions(c, args.DependsOn)...)
	if err != nil {
		return nil, err
	}
	c.Grants = []pulumi.Resource{data}
	for _, g := range []struct{ suffix, role string }{
		{"-metric-writer", RoleMetricWriter},
		{"-trace-agent", RoleTraceAgent},
	} {
		grant, err := projects.NewIAMMember(ctx, name+g.suffix, &projects.IAMMemberArgs{
			Project: pulumi.String(args.Project),
			Role:    pulumi.String(g.role),
			Member:  member,
		}, ChildOptions(c, args.DependsOn)...)
		if err != nil {
			return nil, err
		}
		c.Grants = append(c.Grants, grant)
	}
	c.Email = email
	c.Member = member
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"email": c.Email, "member": c.Member})
}
