package infra

import (
	"fmt"
	"regexp"

	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/projects"
	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/secretmanager"
	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The only two roles the runtime identity holds.
const (
	RoleDatastoreUser  = "roles/datastore.user"               // on the project: Firestore data access
	RoleSecretAccessor = "roles/secretmanager.secretAccessor" // on the Redis AUTH secret only
)

// Identity is the Cloud Run service's own service account, with data access to Firestore and
// read access to the one secret it needs. Nothing broader.
type Identity struct {
	pulumi.ResourceState
	Email pulumi.StringOutput `pulumi:"email"`
	// Grants are the IAM bindings; the service must wait for them, or its first revision can
	// fail to read the secret. Nothing in the data flow says so, hence an explicit list.
	Grants []pulumi.Resource `pulumi:"-"`
}

// IdentityArgs configures the account.
type IdentityArgs struct {
	Project   string
	AccountID string             // 6-30 chars: lowercase letters, digits, -
	SecretID  pulumi.StringInput // the secret the service may read
	DependsOn []pulumi.Resource
}

var accountIDPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{4,28}[a-z0-9]$`)

// Validate checks the project and the account id.
func (a IdentityArgs) Validate() error {
	var p problems
	if a.Project == "" {
		p.addf("Project is required (the Google Cloud project id)")
	}
	if !accountIDPattern.MatchString(a.AccountID) {
		p.addf("AccountID %q is not a service account id; use 6-30 lowercase letters, digits or -, starting with a letter", a.AccountID)
	}
	if a.SecretID == nil {
		p.addf("SecretID is required (the Redis AUTH secret)")
	}
	return p.err()
}

// NewIdentity creates the service account and its two grants.
func NewIdentity(ctx *pulumi.Context, name string, args IdentityArgs, opts ...pulumi.ResourceOption) (*Identity, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("identity %q: %w", name, err)
	}
	c := &Identity{}
	if err := ctx.RegisterComponentResource(typePrefix+"Identity", name, c, opts...); err != nil {
		return nil, err
	}
	sa, err := serviceaccount.NewAccount(ctx, name, &serviceaccount.AccountArgs{
		Project:     pulumi.String(args.Project),
		AccountId:   pulumi.String(args.AccountID),
		DisplayName: pulumi.String("cloudrun-affinity runtime"),
	}, ChildOptions(c, args.DependsOn)...)
	if err != nil {
		return nil, err
	}
	data, err := projects.NewIAMMember(ctx, name+"-datastore-user", &projects.IAMMemberArgs{
		Project: pulumi.String(args.Project),
		Role:    pulumi.String(RoleDatastoreUser),
		Member:  sa.Member,
	}, ChildOptions(c, args.DependsOn)...)
	if err != nil {
		return nil, err
	}
	secret, err := secretmanager.NewSecretIamMember(ctx, name+"-secret-accessor", &secretmanager.SecretIamMemberArgs{
		Project:  pulumi.String(args.Project),
		SecretId: args.SecretID,
		Role:     pulumi.String(RoleSecretAccessor),
		Member:   sa.Member,
	}, ChildOptions(c, args.DependsOn)...)
	if err != nil {
		return nil, err
	}
	c.Email = sa.Email
	c.Grants = []pulumi.Resource{data, secret}
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"email": c.Email})
}
