package infra

import (
	"fmt"
	"regexp"

	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/artifactregistry"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Registry is a Docker repository in Artifact Registry whose cleanup policy keeps the most
// recent versions and deletes older ones.
type Registry struct {
	pulumi.ResourceState
	// Url is REGION-docker.pkg.dev/PROJECT/REPOSITORY, the prefix of every image in it.
	Url pulumi.StringOutput `pulumi:"url"`
}

// RegistryArgs configures the repository.
type RegistryArgs struct {
	Project      string
	Region       string
	RepositoryID string            // lowercase letters, digits, -
	KeepCount    int               // versions kept regardless of age
	DeleteAfter  string            // age after which other versions are deleted, seconds with "s", e.g. "2592000s"
	Labels       map[string]string // see StackLabels
	DependsOn    []pulumi.Resource
}

var (
	repoIDPattern   = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)
	durationPattern = regexp.MustCompile(`^[1-9][0-9]*s$`)
)

// Validate checks every field.
func (a RegistryArgs) Validate() error {
	var p problems
	if a.Project == "" {
		p.addf("Project is required (the Google Cloud project id)")
	}
	if a.Region == "" {
		p.addf("Region is required (e.g. europe-west1)")
	}
	if !repoIDPattern.MatchString(a.RepositoryID) {
		p.addf("RepositoryID %q is not allowed; use 1-63 lowercase letters, digits or -, starting with a letter", a.RepositoryID)
	}
	if a.KeepCount < 1 {
		p.addf("KeepCount %d is not allowed; keep at least 1 version", a.KeepCount)
	}
	if !durationPattern.MatchString(a.DeleteAfter) {
		p.addf("DeleteAfter %q is not a duration; use seconds like 2592000s", a.DeleteAfter)
	}
	labelsProblems(&p, a.Labels)
	return p.err()
}

// NewRegistry creates the repository.
func NewRegistry(ctx *pulumi.Context, name string, args RegistryArgs, opts ...pulumi.ResourceOption) (*Registry, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("registry %q: %w", name, err)
	}
	c := &Registry{}
	if err := ctx.RegisterComponentResource(typePrefix+"Registry", name, c, opts...); err != nil {
		return nil, err
	}
	repo, err := artifactregistry.NewRepository(ctx, name, &artifactregistry.RepositoryArgs{
		Project:      pulumi.String(args.Project),
		Location:     pulumi.String(args.Region),
		RepositoryId: pulumi.String(args.RepositoryID),
		Format:       pulumi.String("DOCKER"),
		Description:  pulumi.String("cloudrun-affinity app images"),
		Labels:       labelsInput(args.Labels),
		CleanupPolicies: artifactregistry.RepositoryCleanupPolicyArray{
			&artifactregistry.RepositoryCleanupPolicyArgs{
				Id:     pulumi.String("keep-recent"),
				Action: pulumi.String("KEEP"),
				MostRecentVersions: &artifactregistry.RepositoryCleanupPolicyMostRecentVersionsArgs{
					KeepCount: pulumi.Int(args.KeepCount),
				},
			},
			&artifactregistry.RepositoryCleanupPolicyArgs{
				Id:     pulumi.String("delete-old"),
				Action: pulumi.String("DELETE"),
				Condition: &artifactregistry.RepositoryCleanupPolicyConditionArgs{
					TagState:  pulumi.String("ANY"),
					OlderThan: pulumi.String(args.DeleteAfter),
				},
			},
		},
		CleanupPolicyDryRun: pulumi.Bool(false),
	}, ChildOptions(c, args.DependsOn)...)
	if err != nil {
		return nil, err
	}
	// Built from the repository's outputs so that users of Url wait for the repository.
	c.Url = pulumi.Sprintf("%s-docker.pkg.dev/%s/%s", repo.Location, repo.Project, repo.RepositoryId)
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"url": c.Url})
}
