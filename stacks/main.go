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
	stack := infra.StackID(ctx.Project(), ctx.Stack())
	labels := infra.StackLabels(labelValue(ctx.Project()), stack, cfg.Labels)

	apis, err := infra.NewAPIs(ctx, "apis", infra.APIsArgs{Project: cfg.Project})
	if err != nil {
		return err
	}
	// Every component passes these to its children (see infra.ChildOptions for why).
	needAPIs := apis.Services

	network, err := infra.NewNetwork(ctx, "network", infra.NetworkArgs{DependsOn: needAPIs})
	if err != nil {
		return err
	}
	multiRegion := len(cfg.Regions) > 1
	db, err := infra.NewFirestore(ctx, "firestore", infra.FirestoreArgs{
		Location:            cfg.FirestoreLocation,
		NamePrefix:          "affinity-" + stack,
		PointInTimeRecovery: cfg.FirestorePITR,
		DeleteProtection:    cfg.FirestoreDeleteProtection,
		SessionsTTL:         multiRegion,
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
		FirestoreDatabase: db.DatabaseName,
		DependsOn:         needAPIs,
	})
	if err != nil {
		return err
	}
	subnets, err := infra.RegionSubnets(cfg.SubnetCIDR, len(cfg.Regions))
	if err != nil {
		return err // validated in LoadConfig
	}
	var regions []*infra.RegionalService
	for i, region := range cfg.Regions {
		rs, err := infra.NewRegionalService(ctx, region, infra.RegionalServiceArgs{
			Region:     region,
			Home:       i == 0,
			Network:    network,
			SubnetCIDR: subnets[i],
			Redis: infra.RedisArgs{
				Tier:            cfg.RedisTier,
				SizeGB:          cfg.RedisSizeGB,
				Version:         cfg.RedisVersion,
				MaintenanceDay:  cfg.RedisMaintenanceDay,
				MaintenanceHour: cfg.RedisMaintenanceHour,
				SnapshotPeriod:  cfg.RedisSnapshotPeriod,
			},
			Service: infra.ServiceArgs{
				Project:             cfg.Project,
				Image:               image,
				ServiceAccount:      identity.Email,
				FirestoreDatabase:   db.DatabaseName,
				SessionsInFirestore: multiRegion,
				MinInstances:        cfg.MinInstances,
				MaxInstances:        cfg.MaxInstances,
				Concurrency:         cfg.Concurrency,
				CPU:                 cfg.CPU,
				Memory:              cfg.Memory,
				DeletionProtection:  cfg.DeletionProtection,
				CPUAlwaysAllocated:  cfg.CPUAlwaysAllocated,
				// The project grants are not in the data flow, yet the first revision needs
				// them to use Firestore.
				DependsOn: identity.Grants,
			},
			IdentityMember: identity.Member,
			SecretIDPrefix: infra.RedisSecretID(stack),
			Labels:         labels,
			DependsOn:      needAPIs,
		})
		if err != nil {
			return err
		}
		regions = append(regions, rs)
	}
	home := regions[0]
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
	var backends []infra.RegionBackend
	for _, rs := range regions {
		backends = append(backends, infra.RegionBackend{Region: rs.Region, Service: rs.ServiceName})
	}
	lb, err := infra.NewLoadBalancer(ctx, "lb", infra.LoadBalancerArgs{
		Backends:       backends,
		Domain:         cfg.Domain,
		Affinity:       cfg.LBAffinity,
		SecurityPolicy: policy,
		Labels:         labels,
		DependsOn:      needAPIs,
	})
	if err != nil {
		return err
	}

	// Last: it watches what the others created, in every region.
	var serviceNames, redisIDs []pulumi.StringInput
	for _, rs := range regions {
		serviceNames = append(serviceNames, rs.ServiceName)
		redisIDs = append(redisIDs, rs.Redis.InstanceID)
	}
	mon, err := infra.NewMonitoring(ctx, "monitoring", infra.MonitoringArgs{
		Project:            cfg.Project,
		Title:              ctx.Project() + " " + stack,
		ServiceNames:       serviceNames,
		URLMapName:         lb.URLMapName,
		ForwardingRuleName: lb.HTTPSForwardingRuleName,
		Host:               lb.Domain,
		RedisInstanceIDs:   redisIDs,
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
	ctx.Export("serviceName", home.ServiceName)
	ctx.Export("serviceUri", home.ServiceUri)
	ctx.Export("runtimeServiceAccount", identity.Email)
	ctx.Export("backendService", lb.BackendServiceName)
	ctx.Export("certificate", lb.CertificateName)
	ctx.Export("network", network.NetworkName)
	ctx.Export("redisHost", home.Redis.Host)
	ctx.Export("redisPort", home.Redis.Port)
	services, redisHosts := pulumi.StringMap{}, pulumi.StringMap{}
	for _, rs := range regions {
		services[rs.Region] = rs.ServiceName
		redisHosts[rs.Region] = rs.Redis.Host
	}
	ctx.Export("regions", pulumi.ToStringArray(cfg.Regions))
	ctx.Export("services", services)
	ctx.Export("redisHosts", redisHosts)
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
