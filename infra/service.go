package infra

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/cloudrunv2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Fixed choices for the service.
const (
	// IngressLoadBalancerOnly makes the load balancer the only way in.
	IngressLoadBalancerOnly = "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"
	// RequestTimeout is Cloud Run's maximum: it bounds every WebSocket connection.
	RequestTimeout = "3600s"
	// HealthPath (the liveness probe) answers without touching Redis or Firestore, so a
	// data-store blip does not make Cloud Run restart instances.
	HealthPath = "/healthz"
	// StartupPath answers 200 only once Redis answers through the app's own client: Direct VPC
	// egress can take a minute or more to connect at instance start, and Google recommends a
	// startup probe that exercises an egress destination
	// (cloud.google.com/run/docs/configuring/vpc-direct-vpc#limitations).
	StartupPath   = "/startupz"
	ContainerPort = 8080
)

// The startup probe's budget: Cloud Run allows failureThreshold × periodSeconds up to 240 s
// for services (v2 API reference, Probe), and stops the instance when it is spent. 60 × 4 s
// tolerates Direct VPC egress taking minutes to connect; each try times out after 3 s (the
// app's own Redis check gives up after 2 s).
const (
	startupPeriodSeconds    = 4
	startupTimeoutSeconds   = 3
	startupFailureThreshold = 60
)

// Allowed CPU limits (Cloud Run's values for one container).
var ServiceCPUs = []string{"1", "2", "4", "6", "8"}

// Service is the Cloud Run v2 service running the app: session affinity on, reachable only
// through the load balancer, Direct VPC egress to Redis, the AUTH string from Secret Manager.
type Service struct {
	pulumi.ResourceState
	Name pulumi.StringOutput `pulumi:"name"`
	// Uri is the run.app URL. The stack disables it (defaultUriDisabled), so it does not
	// answer: the load balancer is the only way in.
	Uri pulumi.StringOutput `pulumi:"uri"`
}

// ServiceArgs configures the service and the app's environment.
type ServiceArgs struct {
	Project        string
	Region         string
	Image          pulumi.StringInput
	ServiceAccount pulumi.StringInput // email of the runtime identity
	// Network and Subnet are the VPC network and subnet names (not ids) for Direct VPC egress:
	// see NewService for why the name.
	Network pulumi.StringInput
	Subnet  pulumi.StringInput

	RedisAddr          pulumi.StringInput // host:port
	RedisCACerts       pulumi.StringInput // PEM bundle
	RedisSecretID      pulumi.StringInput // secret holding the AUTH string
	RedisSecretVersion pulumi.StringInput
	FirestoreDatabase  pulumi.StringInput

	MinInstances       int
	MaxInstances       int
	Concurrency        int    // max concurrent requests per instance, 1..1000
	CPU                string // one of ServiceCPUs
	Memory             string // e.g. 512Mi, 1Gi
	DeletionProtection bool
	// CPUAlwaysAllocated keeps CPU allocated outside requests (instance-based billing); false
	// allocates it only while requests (WebSockets included) are served.
	CPUAlwaysAllocated bool
	// SessionsInFirestore tells the app to write every session through to Firestore
	// (SESSIONS_FIRESTORE=true), so a client that moves to another region, or outlives its
	// region, keeps it: multi-region stacks.
	SessionsInFirestore bool
	Labels              map[string]string // see StackLabels

	// DependsOn: the Cloud Run API and the identity's grants, which the data flow does not show.
	DependsOn []pulumi.Resource
}

var memoryPattern = regexp.MustCompile(`^[1-9][0-9]*(Mi|Gi)$`)

// ValidMemory reports whether s is a memory limit Cloud Run accepts in form (NMi or NGi).
func ValidMemory(s string) bool { return memoryPattern.MatchString(s) }

// cpuMemoryMiB is the memory range Cloud Run accepts with each CPU limit, in MiB
// (cloud.google.com/run/docs/configuring/services/cpu: 1 CPU 128 MiB-4 GiB, 2 CPU up to 8 GiB,
// 4 CPU 2-16 GiB, 6 CPU 4-24 GiB, 8 CPU 4-32 GiB). Outside it the API rejects the revision.
var cpuMemoryMiB = map[string][2]int{
	"1": {128, 4 << 10}, "2": {128, 8 << 10}, "4": {2 << 10, 16 << 10}, "6": {4 << 10, 24 << 10}, "8": {4 << 10, 32 << 10},
}

// MemoryFitsCPU reports whether Cloud Run accepts the memory limit with the CPU limit; if not,
// the error names the memory range allowed with that CPU. Both must already be well formed.
func MemoryFitsCPU(cpu, memory string) error {
	limits, ok := cpuMemoryMiB[cpu]
	if !ok || !ValidMemory(memory) {
		return nil // reported by the format checks
	}
	n, err := strconv.Atoi(memory[:len(memory)-2])
	if err != nil {
		return fmt.Errorf("%q is too large; use at most %s with %s CPU", memory, mib(limits[1]), cpu)
	}
	if strings.HasSuffix(memory, "Gi") {
		n <<= 10
	}
	if n < limits[0] || n > limits[1] || n < 0 {
		return fmt.Errorf("%q does not fit %s CPU; use %s to %s with %s CPU", memory, cpu, mib(limits[0]), mib(limits[1]), cpu)
	}
	return nil
}

func mib(n int) string {
	if n%1024 == 0 {
		return strconv.Itoa(n>>10) + "Gi"
	}
	return strconv.Itoa(n) + "Mi"
}

// Validate checks every field and lists every problem.
func (a ServiceArgs) Validate() error {
	var p problems
	if a.Project == "" {
		p.addf("Project is required (the Google Cloud project id)")
	}
	if a.Region == "" {
		p.addf("Region is required (e.g. europe-west1)")
	}
	p.required(map[string]pulumi.Input{
		"Image": a.Image, "ServiceAccount": a.ServiceAccount, "Network": a.Network, "Subnet": a.Subnet,
		"RedisAddr": a.RedisAddr, "RedisCACerts": a.RedisCACerts, "RedisSecretID": a.RedisSecretID,
		"RedisSecretVersion": a.RedisSecretVersion, "FirestoreDatabase": a.FirestoreDatabase,
	})
	if a.MinInstances < 0 {
		p.addf("MinInstances %d is negative; use 0 or more", a.MinInstances)
	}
	if a.MaxInstances < 1 || a.MaxInstances < a.MinInstances {
		p.addf("MaxInstances %d is not allowed; use at least 1 and at least MinInstances (%d)", a.MaxInstances, a.MinInstances)
	}
	if a.Concurrency < 1 || a.Concurrency > 1000 {
		p.addf("Concurrency %d is out of range; use 1..1000", a.Concurrency)
	}
	if !oneOf(a.CPU, ServiceCPUs...) {
		p.addf("CPU %q is not allowed; use one of %s", a.CPU, strings.Join(ServiceCPUs, ", "))
	}
	if !ValidMemory(a.Memory) {
		p.addf("Memory %q is not a size; use e.g. 512Mi or 1Gi", a.Memory)
	} else if err := MemoryFitsCPU(a.CPU, a.Memory); err != nil {
		p.addf("Memory %v", err)
	}
	labelsProblems(&p, a.Labels)
	return p.err()
}

// NewService creates the Cloud Run service.
func NewService(ctx *pulumi.Context, name string, args ServiceArgs, opts ...pulumi.ResourceOption) (*Service, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("service %q: %w", name, err)
	}
	c := &Service{}
	if err := ctx.RegisterComponentResource(typePrefix+"Service", name, c, opts...); err != nil {
		return nil, err
	}
	env := cloudrunv2.ServiceTemplateContainerEnvArray{
		envVar("REDIS_ADDR", args.RedisAddr),
		envVar("REDIS_TLS_CA", args.RedisCACerts),
		&cloudrunv2.ServiceTemplateContainerEnvArgs{
			Name: pulumi.String("REDIS_PASSWORD"),
			ValueSource: &cloudrunv2.ServiceTemplateContainerEnvValueSourceArgs{
				SecretKeyRef: &cloudrunv2.ServiceTemplateContainerEnvValueSourceSecretKeyRefArgs{
					Secret:  args.RedisSecretID,
					Version: args.RedisSecretVersion,
				},
			},
		},
		envVar("GOOGLE_CLOUD_PROJECT", pulumi.String(args.Project)),
		envVar("FIRESTORE_DATABASE", args.FirestoreDatabase),
		envVar("COOKIE_SECURE", pulumi.String("true")),
	}
	if args.SessionsInFirestore {
		env = append(env, envVar("SESSIONS_FIRESTORE", pulumi.String("true")))
	}
	// Deliberately not set, so a second preview after `up` shows no diff: LaunchStage (the API
	// rewrites it), Annotations (gcloud adds its own), Client/ClientVersion, the port name and
	// probe ports (the API fills in defaults). Labels are set: in pulumi-gcp v8 they are
	// non-authoritative, so labels the API adds do not diff.
	svc, err := cloudrunv2.NewService(ctx, name, &cloudrunv2.ServiceArgs{
		Location:           pulumi.String(args.Region),
		Ingress:            pulumi.String(IngressLoadBalancerOnly),
		InvokerIamDisabled: pulumi.Bool(true), // public behind the LB; ingress keeps everyone else out
		// No run.app URL: traffic comes only through Cloud Load Balancing
		// (cloud.google.com/run/docs/triggering/https-request, "disable the default URL"), so
		// nothing bypasses the certificate, redirect and Cloud Armor. GA since 2025-09, no
		// launchStage needed (terraform-provider-google-beta a73b8c81, "Remove the beta label
		// from url disabled", which also dropped launch_stage from its acceptance test).
		DefaultUriDisabled: pulumi.Bool(true),
		DeletionProtection: pulumi.Bool(args.DeletionProtection),
		Labels:             labelsInput(args.Labels),
		Template: &cloudrunv2.ServiceTemplateArgs{
			ServiceAccount:                args.ServiceAccount,
			SessionAffinity:               pulumi.Bool(true),
			Timeout:                       pulumi.String(RequestTimeout),
			MaxInstanceRequestConcurrency: pulumi.Int(args.Concurrency),
			Scaling: &cloudrunv2.ServiceTemplateScalingArgs{
				MinInstanceCount: pulumi.Int(args.MinInstances),
				MaxInstanceCount: pulumi.Int(args.MaxInstances),
			},
			// Names, not ids: the provider keeps what the API returns and has no diff suppression
			// on these fields, and the API echoes the form it was given. The provider's own
			// acceptance tests pass names (network = "default", subnetwork = "default" in
			// TestAccCloudRunV2Service_cloudrunv2ServiceDirectvpcExample) and require an empty
			// plan after apply; no test there passes full ids. Both are in this project and region.
			VpcAccess: &cloudrunv2.ServiceTemplateVpcAccessArgs{
				Egress: pulumi.String("PRIVATE_RANGES_ONLY"),
				NetworkInterfaces: cloudrunv2.ServiceTemplateVpcAccessNetworkInterfaceArray{
					&cloudrunv2.ServiceTemplateVpcAccessNetworkInterfaceArgs{
						Network:    args.Network,
						Subnetwork: args.Subnet,
					},
				},
			},
			Containers: cloudrunv2.ServiceTemplateContainerArray{
				&cloudrunv2.ServiceTemplateContainerArgs{
					Image: args.Image,
					Ports: &cloudrunv2.ServiceTemplateContainerPortsArgs{ContainerPort: pulumi.Int(ContainerPort)},
					Resources: &cloudrunv2.ServiceTemplateContainerResourcesArgs{
						Limits: pulumi.StringMap{"cpu": pulumi.String(args.CPU), "memory": pulumi.String(args.Memory)},
						// With limits set, cpuIdle left unset means CPU always allocated
						// (instance-based billing): the schema says it "must be explicitly set
						// to true to preserve the default behavior" when resources is set.
						CpuIdle: pulumi.Bool(!args.CPUAlwaysAllocated),
						// More CPU while an instance starts: shorter cold starts.
						StartupCpuBoost: pulumi.Bool(true),
					},
					Envs: env,
					StartupProbe: &cloudrunv2.ServiceTemplateContainerStartupProbeArgs{
						HttpGet:          &cloudrunv2.ServiceTemplateContainerStartupProbeHttpGetArgs{Path: pulumi.String(StartupPath)},
						PeriodSeconds:    pulumi.Int(startupPeriodSeconds),
						TimeoutSeconds:   pulumi.Int(startupTimeoutSeconds),
						FailureThreshold: pulumi.Int(startupFailureThreshold),
					},
					LivenessProbe: &cloudrunv2.ServiceTemplateContainerLivenessProbeArgs{
						HttpGet:          &cloudrunv2.ServiceTemplateContainerLivenessProbeHttpGetArgs{Path: pulumi.String(HealthPath)},
						PeriodSeconds:    pulumi.Int(30),
						TimeoutSeconds:   pulumi.Int(5),
						FailureThreshold: pulumi.Int(3),
					},
				},
			},
		},
	}, ChildOptions(c, args.DependsOn)...)
	if err != nil {
		return nil, err
	}
	c.Name = svc.Name
	c.Uri = svc.Uri
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"name": c.Name, "uri": c.Uri})
}

func envVar(name string, value pulumi.StringInput) *cloudrunv2.ServiceTemplateContainerEnvArgs {
	return &cloudrunv2.ServiceTemplateContainerEnvArgs{Name: pulumi.String(name), Value: value}
}
