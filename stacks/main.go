// Command stacks is the cloudrun-affinity Pulumi program (Pulumi.yaml: main: stacks/).
package main

import (
	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func main() { pulumi.Run(program) }

// program composes the components in the order data flows: APIs, network, data stores,
// registry and image, identity, service, load balancer, monitoring; then exports.
func program(ctx *pulumi.Context) error {
	cfg, err := LoadConfig(ctx)
	if err != nil {
		return err // nothing registered yet: bad config leaves nothing half done
	}
	stack := stackID(ctx.Project(), ctx.Stack())
	labels := infra.StackLabels(labelValue(ctx.Project()), stack, cfg.Labels)

	apis, err := infra.NewAPIs(ctx, "apis", infra.APIsArgs{Project: cfg.Project})
	if err != nil {
		return err
	}
	// Every component passes these to its children (see infra.ChildOptions for why).
	needAPIs := apis.Services

	network, err := infra.NewNetwork(ctx, "network", infra.NetworkArgs{
		Region:       cfg.Region,
		SubnetCIDR:   cfg.SubnetCIDR,
		MaxInstances: cfg.MaxInstances,
		DependsOn:    needAPIs,
	})
	if err != nil {
		return err
	}
	cache, err := infra.NewRedis(ctx, "redis", infra.RedisArgs{
		Region:          cfg.Region,
		Network:         network.NetworkID,
		Tier:            cfg.RedisTier,
		SizeGB:          cfg.RedisSizeGB,
		Version:         cfg.RedisVersion,
		MaintenanceDay:  cfg.RedisMaintenanceDay,
		MaintenanceHour: cfg.RedisMaintenanceHour,
		SecretID:        "cloudrun-affinity-redis-auth-" + stack,
		SnapshotPeriod:  cfg.RedisSnapshotPeriod,
		Labels:          labels,
		DependsOn:       needAPIs,
	})
	if err != nil {
		return err
	}
	db, err := infra.NewFirestore(ctx, "firestore", infra.FirestoreArgs{
		Location:            cfg.FirestoreLocation,
		NamePrefix:          "affinity-" + stack,
		PointInTimeRecovery: cfg.FirestorePITR,
		DeleteProtection:    cfg.FirestoreDeleteProtection,
		DependsOn:           needAPIs,
	})
	if err != nil {
		return err
	}
	registry, err := infra.NewRegistry(ctx, "registry", infra.RegistryArgs{
		Project:      cfg.Project,
		Region:       cfg.Region,
		RepositoryID: "cloudrun-affinity-" + stack,
		KeepCount:    cfg.RegistryKeepCount,
		DeleteAfter:  "2592000s", // 30 days
		Labels:       labels,
		DependsOn:    needAPIs,
	})
	if err != nil {
		return err
	}
	image, err := containerImage(ctx, cfg, registry)
	if err != nil {
		return err
	}
	identity, err := infra.NewIdentity(ctx, "identity", infra.IdentityArgs{
		Project:           cfg.Project,
		AccountID:         accountID(stack),
		ExistingAccount:   cfg.RuntimeServiceAccount,
		SecretID:          cache.AuthSecretID,
		FirestoreDatabase: db.DatabaseName,
		DependsOn:         needAPIs,
	})
	if err != nil {
		return err
	}
	service, err := infra.NewService(ctx, "app", infra.ServiceArgs{
		Project:            cfg.Project,
		Region:             cfg.Region,
		Image:              image,
		ServiceAccount:     identity.Email,
		Network:            network.NetworkName,
		Subnet:             network.SubnetName,
		RedisAddr:          cache.Addr,
		RedisCACerts:       cache.CACerts,
		RedisSecretID:      cache.AuthSecretID,
		RedisSecretVersion: cache.AuthSecretVersion,
		FirestoreDatabase:  db.DatabaseName,
		MinInstances:       cfg.MinInstances,
		MaxInstances:       cfg.MaxInstances,
		Concurrency:        cfg.Concurrency,
		CPU:                cfg.CPU,
		Memory:             cfg.Memory,
		DeletionProtection: cfg.DeletionProtection,
		CPUAlwaysAllocated: cfg.CPUAlwaysAllocated,
		Labels:             labels,
		// The grants are not in the data flow, yet the first revision needs them to read the
		// AUTH secret and Firestore.
		DependsOn: append(append([]pulumi.Resource{}, needAPIs...), identity.Grants...),
	})
	if err != nil {
		return err
	}
	var policy pulumi.StringInput
	if cfg.CloudArmor {
		armor, err := infra.NewSecurityPolicy(ctx, "armor", infra.SecurityPolicyArgs{
			RequestsPerMinute: cfg.RateLimitPerMinute,
			DependsOn:         needAPIs,
		})
		if err != nil {
			return err
		}
		policy = armor.SelfLink
	}
	lb, err := infra.NewLoadBalancer(ctx, "lb", infra.LoadBalancerArgs{
		Region:         cfg.Region,
		Service:        service.Name,
		Domain:         cfg.Domain,
		Affinity:       cfg.LBAffinity,
		SecurityPolicy: policy,
		Labels:         labels,
		DependsOn:      needAPIs,
	})
	if err != nil {
		return err
	}

	// Last: it watches what the others created.
	mon, err := infra.NewMonitoring(ctx, "monitoring", infra.MonitoringArgs{
		Project:            cfg.Project,
		Title:              ctx.Project() + " " + stack,
		ServiceName:        service.Name,
		URLMapName:         lb.URLMapName,
		ForwardingRuleName: lb.HTTPSForwardingRuleName,
		Host:               lb.Domain,
		RedisInstanceID:    cache.InstanceID,
		FirestoreDatabase:  db.DatabaseName,
		AlertEmails:        cfg.AlertEmails,
		SLOGoal:            cfg.SLOAvailability,
		Labels:             labels,
		DependsOn:          needAPIs,
	})
	if err != nil {
		return err
	}

	ctx.Export("url", lb.URL)
	ctx.Export("ipAddress", lb.IPAddress)
	ctx.Export("serviceName", service.Name)
	ctx.Export("serviceUri", service.Uri)
	ctx.Export("runtimeServiceAccount", identity.Email)
	ctx.Export("backendService", lb.BackendServiceName)
	ctx.Export("certificate", lb.CertificateName)
	ctx.Export("network", network.NetworkName)
	ctx.Export("redisHost", cache.Host)
	ctx.Export("redisPort", cache.Port)
	ctx.Export("firestoreDatabase", db.DatabaseName)
	ctx.Export("imageRepository", registry.Url)
	ctx.Export("lbAffinity", pulumi.String(cfg.LBAffinity))
	ctx.Export("dashboardUrl", mon.DashboardURL)
	return nil
}

// containerImage is the image the service runs: config `image` when set (a prebuilt image),
// else app/ built by this program (also in preview, so the digest shows whether the app
// changed) and pushed to the registry by digest during an update.
func containerImage(ctx *pulumi.Context, cfg Config, reg *infra.Registry) (pulumi.StringInput, error) {
	if cfg.Image != "" {
		return pulumi.String(cfg.Image), nil
	}
	img, err := infra.NewAppImage(ctx, "app", infra.AppImageArgs{SourceDir: "app", Repository: reg.Url, Name: "app"})
	if err != nil {
		return nil, err
	}
	ctx.Export("imageDigest", img.Digest)
	return img.Ref, nil
}
