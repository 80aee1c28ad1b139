package infra

import (
	"fmt"

	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/compute"
	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/secretmanager"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// RegionalService is everything one region runs: its Direct VPC egress subnet in the stack's
// VPC, its own Memorystore for Redis (sessions are cached and fanned out per region), the grant
// that lets the runtime identity read that Redis's AUTH string, and the Cloud Run service. The
// load balancer puts a serverless NEG in front of each region's service.
//
// The home region keeps the logical names a single-region stack has always had (subnet
// "network", Redis "redis", service "app"); aliases carry over the URNs they had before they
// moved under this component, so an existing stack's resources are updated, not replaced.
type RegionalService struct {
	pulumi.ResourceState
	Region string `pulumi:"-"`
	// ServiceName is the Cloud Run service's name, for its NEG.
	ServiceName pulumi.StringOutput `pulumi:"serviceName"`
	ServiceUri  pulumi.StringOutput `pulumi:"serviceUri"`
	Redis       *Redis              `pulumi:"-"`
}

// RegionalServiceArgs configures one region.
type RegionalServiceArgs struct {
	Region string
	// Home marks the stack's home region (gcp:region): its resources keep the single-region names.
	Home       bool
	Network    *Network
	SubnetCIDR string
	// Redis is the region's Memorystore instance; Region, Network, SecretID and Labels are set
	// here from the region and the other fields.
	Redis RedisArgs
	// Service is the region's Cloud Run service; Region, Network, Subnet and the Redis fields
	// are set here.
	Service ServiceArgs
	// IdentityMember is the runtime identity ("serviceAccount:EMAIL") that reads the AUTH secret.
	IdentityMember pulumi.StringInput
	// SecretIDPrefix is the AUTH secret's id without the region part, e.g.
	// "cloudrun-affinity-redis-auth-dev"; the home region's secret has exactly this id.
	SecretIDPrefix string
	Labels         map[string]string
	DependsOn      []pulumi.Resource
}

// childName is a child's logical name (see regionalName).
func (a RegionalServiceArgs) childName(base string) string {
	return regionalName(base, a.Region, a.Home)
}

// regionalName is the logical name of a region's resource: the single-region name in the home
// region, suffixed with the region elsewhere (resources of two regions must not share a URN).
func regionalName(base, region string, home bool) string {
	if home {
		return base
	}
	return base + "-" + region
}

// Validate checks the region's own fields; the Redis and Service args are checked by their
// components with the region's values filled in.
func (a RegionalServiceArgs) Validate() error {
	var p problems
	if !oneOf(a.Region, CloudRunRegions...) {
		p.addf("Region %q is not a Cloud Run region", a.Region)
	}
	if a.Network == nil {
		p.addf("Network is required (the stack's VPC)")
	}
	if a.IdentityMember == nil {
		p.addf("IdentityMember is required (the runtime identity)")
	}
	if err := SubnetFits(a.SubnetCIDR, max(a.Service.MaxInstances, 1)); err != nil {
		p.addf("SubnetCIDR %v", err)
	}
	if !secretIDPattern.MatchString(a.SecretIDPrefix) {
		p.addf("SecretIDPrefix %q is not a valid secret id", a.SecretIDPrefix)
	}
	labelsProblems(&p, a.Labels)
	return p.err()
}

// NewRegionalService creates the region's subnet, Redis, secret grant and service.
func NewRegionalService(ctx *pulumi.Context, name string, args RegionalServiceArgs, opts ...pulumi.ResourceOption) (*RegionalService, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("regional service %q: %w", name, err)
	}
	c := &RegionalService{Region: args.Region}
	if err := ctx.RegisterComponentResource(typePrefix+"RegionalService", name, c, opts...); err != nil {
		return nil, err
	}
	// was returns the aliases that keep a home-region resource's URN from before it moved
	// here: its old parent (a component of the same name at the stack's top level, or none).
	was := func(parentType, parentName string) []pulumi.ResourceOption {
		if !args.Home {
			return nil
		}
		if parentType == "" {
			return []pulumi.ResourceOption{pulumi.Aliases([]pulumi.Alias{{NoParent: pulumi.Bool(true)}})}
		}
		return []pulumi.ResourceOption{pulumi.Aliases([]pulumi.Alias{{ParentURN: topLevelURN(ctx, parentType, parentName)}})}
	}

	subnet, err := compute.NewSubnetwork(ctx, args.childName("network"), &compute.SubnetworkArgs{
		Network:               args.Network.NetworkID,
		Region:                pulumi.String(args.Region),
		IpCidrRange:           pulumi.String(args.SubnetCIDR),
		PrivateIpGoogleAccess: pulumi.Bool(true),
	}, append(ChildOptions(c, args.DependsOn), was(typePrefix+"Network", "network")...)...)
	if err != nil {
		return nil, err
	}

	redisArgs := args.Redis
	redisArgs.Region, redisArgs.Network, redisArgs.Labels = args.Region, args.Network.NetworkID, args.Labels
	redisArgs.SecretID = args.SecretIDPrefix
	if !args.Home {
		// "_" cannot occur in a stack id, so no stack's secret shares this prefix (the CI
		// bootstrap grants ID_* to the deployer).
		redisArgs.SecretID = args.SecretIDPrefix + "_" + args.Region
	}
	redisArgs.DependsOn = args.DependsOn
	cache, err := NewRedis(ctx, args.childName("redis"), redisArgs, append([]pulumi.ResourceOption{pulumi.Parent(c)}, was("", "")...)...)
	if err != nil {
		return nil, err
	}
	// The identity reads this region's AUTH string and no other secret. (In a single-region
	// stack this grant was a child of the Identity component, named identity-secret-accessor.)
	grantOpts := ChildOptions(c, args.DependsOn)
	if args.Home {
		grantOpts = append(grantOpts, pulumi.Aliases([]pulumi.Alias{{
			Name: pulumi.String("identity-secret-accessor"), ParentURN: topLevelURN(ctx, typePrefix+"Identity", "identity"),
		}}))
	}
	grant, err := secretmanager.NewSecretIamMember(ctx, args.childName("redis-auth-accessor"), &secretmanager.SecretIamMemberArgs{
		Project:  pulumi.String(args.Service.Project),
		SecretId: cache.AuthSecretID,
		Role:     pulumi.String(RoleSecretAccessor),
		Member:   args.IdentityMember,
	}, grantOpts...)
	if err != nil {
		return nil, err
	}

	svcArgs := args.Service
	svcArgs.Region, svcArgs.Network, svcArgs.Subnet, svcArgs.Labels = args.Region, args.Network.NetworkName, subnet.Name, args.Labels
	svcArgs.RedisAddr, svcArgs.RedisCACerts = cache.Addr, cache.CACerts
	svcArgs.RedisSecretID, svcArgs.RedisSecretVersion = cache.AuthSecretID, cache.AuthSecretVersion
	// The first revision must be able to read the secret: wait for the grant, which the data
	// flow does not show.
	svcArgs.DependsOn = append(append(append([]pulumi.Resource{}, args.DependsOn...), svcArgs.DependsOn...), grant)
	svc, err := NewService(ctx, args.childName("app"), svcArgs, append([]pulumi.ResourceOption{pulumi.Parent(c)}, was("", "")...)...)
	if err != nil {
		return nil, err
	}

	c.ServiceName = svc.Name
	c.ServiceUri = svc.Uri
	c.Redis = cache
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"serviceName": c.ServiceName, "serviceUri": c.ServiceUri})
}

// topLevelURN is the URN a component of this type and name has at the stack's top level.
func topLevelURN(ctx *pulumi.Context, typ, name string) pulumi.URNInput {
	return pulumi.URN(fmt.Sprintf("urn:pulumi:%s::%s::%s::%s", ctx.Stack(), ctx.Project(), typ, name))
}
