package infra

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/projects"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// RequiredAPIs are the Google APIs the stack's resources call: Cloud Run, Compute (network and
// load balancer), Memorystore, Firestore, Artifact Registry, Secret Manager, IAM (service
// account), Resource Manager (project IAM bindings) and Cloud Monitoring (dashboard, alerts,
// uptime check, SLO); plus Cloud Trace, which no resource calls but the app exports its traces
// to (roles/cloudtrace.agent is of no use while the API is off).
var RequiredAPIs = []string{
	"run.googleapis.com",
	"compute.googleapis.com",
	"redis.googleapis.com",
	"firestore.googleapis.com",
	"artifactregistry.googleapis.com",
	"secretmanager.googleapis.com",
	"iam.googleapis.com",
	"cloudresourcemanager.googleapis.com",
	"monitoring.googleapis.com",
	"cloudtrace.googleapis.com",
}

// APIs enables the project services the stack needs and leaves them on at destroy time
// (other workloads in the project may use them).
type APIs struct {
	pulumi.ResourceState
	// Services are the enabled services; every resource that calls an API depends on them.
	Services []pulumi.Resource
}

// APIsArgs lists the services to enable.
type APIsArgs struct {
	Project  string
	Services []string // defaults to RequiredAPIs
}

// Validate checks the project and the service names.
func (a APIsArgs) Validate() error {
	var p problems
	if a.Project == "" {
		p.addf("Project is required (the Google Cloud project id)")
	}
	for _, s := range a.Services {
		if !strings.HasSuffix(s, ".googleapis.com") {
			p.addf("Services: %q is not a service name; want NAME.googleapis.com", s)
		}
	}
	return p.err()
}

// NewAPIs enables the services.
func NewAPIs(ctx *pulumi.Context, name string, args APIsArgs, opts ...pulumi.ResourceOption) (*APIs, error) {
	if len(args.Services) == 0 {
		args.Services = RequiredAPIs
	}
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("apis %q: %w", name, err)
	}
	c := &APIs{}
	if err := ctx.RegisterComponentResource(typePrefix+"APIs", name, c, opts...); err != nil {
		return nil, err
	}
	for _, svc := range args.Services {
		s, err := projects.NewService(ctx, name+"-"+strings.TrimSuffix(svc, ".googleapis.com"), &projects.ServiceArgs{
			Project:          pulumi.String(args.Project),
			Service:          pulumi.String(svc),
			DisableOnDestroy: pulumi.Bool(false),
		}, pulumi.Parent(c))
		if err != nil {
			return nil, err
		}
		c.Services = append(c.Services, s)
	}
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"services": pulumi.ToStringArray(args.Services)})
}
