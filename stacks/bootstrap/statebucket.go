package main

import (
	"fmt"

	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/storage"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
)

// StateBucket is the GCS bucket that holds Pulumi state for the main stack (backend gs://NAME):
// uniform bucket-level access (IAM only, no object ACLs), public access prevention enforced, and
// object versioning so an overwritten or deleted checkpoint can be restored. It is protected:
// deleting it would lose the state of everything the main stack deployed.
//
// Its location is fixed when it is created: the provider replaces a bucket whose location
// changes (location is ForceNew), and replacing this one would lose the state. So later changes
// to Location are ignored: a bucket created in US (this program's old default) stays there when
// the default becomes gcp:region. To move the state, create a bucket and copy the objects.
type StateBucket struct {
	pulumi.ResourceState
	Name pulumi.StringOutput `pulumi:"name"`
	URL  pulumi.StringOutput `pulumi:"url"` // gs://NAME, the PULUMI_BACKEND_URL
}

// StateBucketArgs names and places the bucket.
type StateBucketArgs struct {
	Project  string
	Name     string
	Location string
	// NoncurrentDays is how long replaced checkpoint versions are kept (default 30).
	NoncurrentDays int
	DependsOn      []pulumi.Resource
}

// Validate checks the fields.
func (a StateBucketArgs) Validate() error {
	var p infra.Problems
	if a.Project == "" {
		p.Addf("Project is required")
	}
	if !bucketRE.MatchString(a.Name) {
		p.Addf("Name %q is not a bucket name (3-63 lowercase letters, digits, '-', '_', '.')", a.Name)
	}
	if !locationRE.MatchString(a.Location) {
		p.Addf("Location %q is not a bucket location (e.g. US, EU, europe-west1)", a.Location)
	}
	if a.NoncurrentDays < 0 {
		p.Addf("NoncurrentDays %d must be 0 (default 30) or more", a.NoncurrentDays)
	}
	return p.Err()
}

// NewStateBucket creates the bucket.
func NewStateBucket(ctx *pulumi.Context, name string, args StateBucketArgs, opts ...pulumi.ResourceOption) (*StateBucket, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("state bucket %q: %w", name, err)
	}
	if args.NoncurrentDays == 0 {
		args.NoncurrentDays = 30
	}
	c := &StateBucket{}
	if err := ctx.RegisterComponentResource(typePrefix+"StateBucket", name, c, opts...); err != nil {
		return nil, err
	}
	b, err := storage.NewBucket(ctx, name, &storage.BucketArgs{
		Project:                  pulumi.String(args.Project),
		Name:                     pulumi.String(args.Name), // users type it into PULUMI_BACKEND_URL
		Location:                 pulumi.String(args.Location),
		UniformBucketLevelAccess: pulumi.Bool(true),
		PublicAccessPrevention:   pulumi.String("enforced"),
		Versioning:               &storage.BucketVersioningArgs{Enabled: pulumi.Bool(true)},
		ForceDestroy:             pulumi.Bool(false),
		// Every `pulumi up` rewrites the checkpoint; keep old versions long enough to recover,
		// not forever.
		LifecycleRules: storage.BucketLifecycleRuleArray{&storage.BucketLifecycleRuleArgs{
			Action:    &storage.BucketLifecycleRuleActionArgs{Type: pulumi.String("Delete")},
			Condition: &storage.BucketLifecycleRuleConditionArgs{DaysSinceNoncurrentTime: pulumi.Int(args.NoncurrentDays)},
		}},
	}, infra.ChildOptions(c, args.DependsOn, pulumi.Protect(true), pulumi.IgnoreChanges([]string{"location"}))...)
	if err != nil {
		return nil, err
	}
	c.Name = b.Name
	c.URL = pulumi.Sprintf("gs://%s", b.Name)
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"name": c.Name, "url": c.URL})
}
