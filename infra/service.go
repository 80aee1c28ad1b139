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
	// HealthPath answers without touching Redis or Firestore, so a data-store blip does not
	// make Cloud Run restart instances.
	HealthPath    = "/healthz"
	ContainerPort = 8080
)

// Allowed CPU limits (Cloud Run's values for one container).
var ServiceCPUs = []string{"1", "2", "4", "6", "8"}

// Service is the Cloud Run v2 service running the app: session affinity on, reachable only
// through the load balancer, Direct VPC egress to Redis, the AUTH string from Secret Manager.
type Service struct {
	pulumi.ResourceState
	Name pulumi.StringOutput `pulumi:"name"`
	Uri  pulumi.StringOutput `pulumi:"uri"`
}

// ServiceArgs configures the service and the app's environment.
type ServiceArgs struct {
	Project        string
	Region         string
	Image          pulumi.StringInput
	ServiceAccount pulumi.StringInput // email of the runtime identity
	Network        pulumi.StringInput // VPC id for Direct VPC egress
	Subnet         pulumi.StringInput

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
	for field, in := range map[string]pulumi.Input{
		"Image": a.Image, "ServiceAccount": a.ServiceAccount, "Network": a.Network, "Subnet": a.Subnet,
		"RedisAddr": a.RedisAddr, "RedisCACerts": a.RedisCACerts, "RedisSecretID": a.RedisSecretID,
		"RedisSecretVersion": a.RedisSecretVersion, "FirestoreDatabase": a.FirestoreDatabase,
	} {
		if in == nil {
			p.addf("%s is required", field)
		}
	}
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
	// Deliberately not set, so a second preview after `up` shows no diff: LaunchStage (the API
	// rewrites it), Labels/Annotations (the API and gcloud add their own), Client/ClientVersion,
	// the port name, probe ports and CpuIdle/StartupCpuBoost (the API fills in defaults).
	svc, err := cloudrunv2.NewService(ctx, name, &cloudrunv2.ServiceArgs{
		Location:           pulumi.String(args.Region),
		Ingress:            pulumi.String(IngressLoadBalancerOnly),
		InvokerIamDisabled: pulumi.Bool(true), // public behind the LB; ingress keeps everyone else out
		DeletionProtection: pulumi.Bool(args.DeletionProtection),
		Template: &cloudrunv2.ServiceTemplateArgs{
			ServiceAccount:                args.ServiceAccount,
			SessionAffinity:               pulumi.Bool(true),
			Timeout:                       pulumi.String(RequestTimeout),
			MaxInstanceRequestConcurrency: pulumi.Int(args.Concurrency),
			Scaling: &cloudrunv2.ServiceTemplateScalingArgs{
				MinInstanceCount: pulumi.Int(args.MinInstances),
				MaxInstanceCount: pulumi.Int(args.MaxInstances),
			},
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
					},
					Envs: env,
					StartupProbe: &cloudrunv2.ServiceTemplateContainerStartupProbeArgs{
						HttpGet:          &cloudrunv2.ServiceTemplateContainerStartupProbeHttpGetArgs{Path: pulumi.String(HealthPath)},
						PeriodSeconds:    pulumi.Int(2),
						TimeoutSeconds:   pulumi.Int(1),
						FailureThreshold: pulumi.Int(30),
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
