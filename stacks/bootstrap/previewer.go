package main

import (
	"fmt"

	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/storage"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
)

// PreviewStateRole is all a pull-request preview needs: read the checkpoint (objects get and
// list in the state bucket). Pulumi's DIY backend takes no lock for a preview: Preview goes
// straight to apply with DryRun, while Update, Refresh, Destroy, Import and stack create, rename
// and remove call Lock first, and a dry run writes no snapshot, history or backup
// (pkg/backend/diy/backend.go, Preview and apply; pulumi/pulumi at 1b59498, after v3.259.0).
// pulumi/actions v7.0.0 runs selectStack (upsert off), preview and stack outputs: reads only.
const PreviewStateRole = "roles/storage.objectViewer"

// Previewer is the service account pull-request previews run as: it can read the Pulumi state
// and nothing else; no project role at all. `pulumi preview` of the main program calls no
// Google API that needs a role: refresh is off, so the provider diffs against the checkpoint
// without reading resources; the program makes no invokes; the app image is built locally and
// pushed only in an update (infra/image.go); the provider's own configure only fetches a token
// and the token's user info (terraform-provider-google transport/config.go, LoadAndValidate).
// Anyone who can open a pull request from a branch of the repository can run code as this
// account, which is why it holds no more than this.
type Previewer struct {
	pulumi.ResourceState
	Email pulumi.StringOutput `pulumi:"email"`
}

// PreviewerArgs configures the account and who may use it.
type PreviewerArgs struct {
	Project   string
	AccountID string
	// Principal is the principalSet allowed to impersonate the account: the pull-request runs
	// (GitHubFederation.PrincipalSet(AttrEventName, PullRequestEvent)).
	Principal pulumi.StringInput
	// StateBucket is the name of the state bucket.
	StateBucket pulumi.StringInput
	DependsOn   []pulumi.Resource
}

// Validate checks the fields.
func (a PreviewerArgs) Validate() error {
	var p infra.Problems
	if a.Project == "" {
		p.Addf("Project is required")
	}
	if !accountRE.MatchString(a.AccountID) {
		p.Addf("AccountID %q must be 6-30 lowercase letters, digits or hyphens, starting with a letter", a.AccountID)
	}
	if a.Principal == nil {
		p.Addf("Principal is required (the pull-request runs' principalSet)")
	}
	if a.StateBucket == nil {
		p.Addf("StateBucket is required")
	}
	return p.Err()
}

// NewPreviewer creates the account, its read access to the state and the federation binding.
func NewPreviewer(ctx *pulumi.Context, name string, args PreviewerArgs, opts ...pulumi.ResourceOption) (*Previewer, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("previewer %q: %w", name, err)
	}
	c := &Previewer{}
	if err := ctx.RegisterComponentResource(typePrefix+"Previewer", name, c, opts...); err != nil {
		return nil, err
	}
	sa, err := serviceaccount.NewAccount(ctx, name, &serviceaccount.AccountArgs{
		Project:     pulumi.String(args.Project),
		AccountId:   pulumi.String(args.AccountID),
		DisplayName: pulumi.String("Pulumi previewer (GitHub pull requests)"),
		Description: pulumi.String("Runs pulumi preview of cloudrun-affinity for pull requests; reads the state, changes nothing"),
	}, infra.ChildOptions(c, args.DependsOn)...)
	if err != nil {
		return nil, err
	}
	if _, err := storage.NewBucketIAMMember(ctx, name+"-state", &storage.BucketIAMMemberArgs{
		Bucket: args.StateBucket,
		Role:   pulumi.String(PreviewStateRole),
		Member: pulumi.Sprintf("serviceAccount:%s", sa.Email),
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
