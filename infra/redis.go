package infra

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/redis"
	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/secretmanager"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Redis tiers and versions the stack accepts.
var (
	RedisTiers    = []string{"BASIC", "STANDARD_HA"}
	RedisVersions = []string{"REDIS_7_0", "REDIS_7_2"}
	weekDays      = []string{"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"}
)

// RedisSnapshotPeriods maps the stack's snapshot settings to Memorystore's RDB snapshot
// periods (persistenceConfig.rdbSnapshotPeriod); "off" disables persistence.
var RedisSnapshotPeriods = map[string]string{
	"off": "", "1h": "ONE_HOUR", "6h": "SIX_HOURS", "12h": "TWELVE_HOURS", "24h": "TWENTY_FOUR_HOURS",
}

// RedisSnapshotSettings lists the allowed settings in order, for messages.
var RedisSnapshotSettings = []string{"off", "1h", "6h", "12h", "24h"}

// Redis is a Memorystore for Redis instance reachable only from the given network, with AUTH and
// in-transit encryption on. Its AUTH string is kept in a Secret Manager secret (never in a plain
// output); the server CA certificates are public and exposed as one PEM bundle.
type Redis struct {
	pulumi.ResourceState
	Host pulumi.StringOutput `pulumi:"host"`
	Port pulumi.IntOutput    `pulumi:"port"`
	// Addr is host:port.
	Addr pulumi.StringOutput `pulumi:"addr"`
	// CACerts is the PEM of every server CA Memorystore reports: during a CA rotation the next CA
	// is listed before it signs the server certificate, so clients must trust all of them.
	CACerts pulumi.StringOutput `pulumi:"caCerts"`
	// AuthSecretID is the Secret Manager secret id holding the AUTH string (the id, not the value).
	AuthSecretID pulumi.StringOutput `pulumi:"authSecretId"`
	// AuthSecretVersion is the version number of the AUTH string in that secret.
	AuthSecretVersion pulumi.StringOutput `pulumi:"authSecretVersion"`
	// InstanceID is the instance's full name, projects/P/locations/REGION/instances/NAME: the
	// instance_id label of the redis_instance monitored resource.
	InstanceID pulumi.StringOutput `pulumi:"instanceId"`
	// AuthSecret is the secret resource, for IAM grants.
	AuthSecret *secretmanager.Secret `pulumi:"-"`
}

// RedisArgs configures the instance.
type RedisArgs struct {
	Region          string
	Network         pulumi.StringInput // VPC id allowed to connect
	Tier            string             // BASIC or STANDARD_HA
	SizeGB          int                // 1..300
	Version         string             // REDIS_7_0 or REDIS_7_2
	MaintenanceDay  string             // MONDAY..SUNDAY
	MaintenanceHour int                // 0..23, UTC
	SecretID        string             // Secret Manager secret id for the AUTH string
	// SnapshotPeriod turns on RDB persistence: one of RedisSnapshotSettings. Memorystore
	// restarts a BASIC instance empty after maintenance or a failure unless it has snapshots;
	// with them it reloads the latest one (cloud.google.com/memorystore/docs/redis/about-rdb-snapshots).
	// Both tiers and every Redis version offered here (7.x) support it.
	SnapshotPeriod string
	Labels         map[string]string // see StackLabels
	DependsOn      []pulumi.Resource
}

// Validate checks every field and lists every problem.
func (a RedisArgs) Validate() error {
	var p problems
	if a.Region == "" {
		p.addf("Region is required (e.g. europe-west1)")
	}
	if a.Network == nil {
		p.addf("Network is required (the VPC id)")
	}
	if !oneOf(a.Tier, RedisTiers...) {
		p.addf("Tier %q is not allowed; use one of %s", a.Tier, strings.Join(RedisTiers, ", "))
	}
	if a.SizeGB < 1 || a.SizeGB > 300 {
		p.addf("SizeGB %d is out of range; use 1..300", a.SizeGB)
	}
	if !oneOf(a.Version, RedisVersions...) {
		p.addf("Version %q is not allowed; use one of %s", a.Version, strings.Join(RedisVersions, ", "))
	}
	if !oneOf(a.MaintenanceDay, weekDays...) {
		p.addf("MaintenanceDay %q is not allowed; use one of %s", a.MaintenanceDay, strings.Join(weekDays, ", "))
	}
	if a.MaintenanceHour < 0 || a.MaintenanceHour > 23 {
		p.addf("MaintenanceHour %d is out of range; use 0..23 (UTC)", a.MaintenanceHour)
	}
	if !secretIDPattern.MatchString(a.SecretID) {
		p.addf("SecretID %q is not a valid secret id; use 1-255 letters, digits, - or _", a.SecretID)
	}
	if _, ok := RedisSnapshotPeriods[a.SnapshotPeriod]; !ok {
		p.addf("SnapshotPeriod %q is not allowed; use one of %s", a.SnapshotPeriod, strings.Join(RedisSnapshotSettings, ", "))
	}
	labelsProblems(&p, a.Labels)
	return p.err()
}

// NewRedis creates the instance, the secret and its first version.
func NewRedis(ctx *pulumi.Context, name string, args RedisArgs, opts ...pulumi.ResourceOption) (*Redis, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("redis %q: %w", name, err)
	}
	c := &Redis{}
	if err := ctx.RegisterComponentResource(typePrefix+"Redis", name, c, opts...); err != nil {
		return nil, err
	}
	// Always sent, also when off: left out, the API keeps whatever mode the instance has.
	persistence := &redis.InstancePersistenceConfigArgs{PersistenceMode: pulumi.String("DISABLED")}
	if period := RedisSnapshotPeriods[args.SnapshotPeriod]; period != "" {
		persistence = &redis.InstancePersistenceConfigArgs{
			PersistenceMode:   pulumi.String("RDB"),
			RdbSnapshotPeriod: pulumi.String(period),
		}
	}
	inst, err := redis.NewInstance(ctx, name, &redis.InstanceArgs{
		Region:                pulumi.String(args.Region),
		Tier:                  pulumi.String(args.Tier),
		MemorySizeGb:          pulumi.Int(args.SizeGB),
		RedisVersion:          pulumi.String(args.Version),
		AuthorizedNetwork:     args.Network,
		ConnectMode:           pulumi.String("DIRECT_PEERING"),
		AuthEnabled:           pulumi.Bool(true),
		TransitEncryptionMode: pulumi.String("SERVER_AUTHENTICATION"),
		PersistenceConfig:     persistence,
		Labels:                labelsInput(args.Labels),
		MaintenancePolicy: &redis.InstanceMaintenancePolicyArgs{
			WeeklyMaintenanceWindows: redis.InstanceMaintenancePolicyWeeklyMaintenanceWindowArray{
				&redis.InstanceMaintenancePolicyWeeklyMaintenanceWindowArgs{
					Day: pulumi.String(args.MaintenanceDay),
					StartTime: &redis.InstanceMaintenancePolicyWeeklyMaintenanceWindowStartTimeArgs{
						Hours: pulumi.Int(args.MaintenanceHour),
					},
				},
			},
		},
	}, ChildOptions(c, args.DependsOn)...)
	if err != nil {
		return nil, err
	}
	secret, err := secretmanager.NewSecret(ctx, name+"-auth", &secretmanager.SecretArgs{
		SecretId:    pulumi.String(args.SecretID),
		Replication: &secretmanager.SecretReplicationArgs{Auto: &secretmanager.SecretReplicationAutoArgs{}},
		Labels:      labelsInput(args.Labels),
	}, ChildOptions(c, args.DependsOn)...)
	if err != nil {
		return nil, err
	}
	// AuthString is a secret output of the instance, so the version's data stays secret too.
	version, err := secretmanager.NewSecretVersion(ctx, name+"-auth", &secretmanager.SecretVersionArgs{
		Secret:     secret.ID(),
		SecretData: pulumi.ToSecret(inst.AuthString).(pulumi.StringOutput),
	}, pulumi.Parent(c))
	if err != nil {
		return nil, err
	}

	c.Host = inst.Host
	c.Port = inst.Port
	c.Addr = pulumi.Sprintf("%s:%d", inst.Host, inst.Port)
	c.CACerts = inst.ServerCaCerts.ApplyT(joinCACerts).(pulumi.StringOutput)
	c.AuthSecretID = secret.SecretId
	c.AuthSecretVersion = version.Version
	c.AuthSecret = secret
	c.InstanceID = pulumi.Sprintf("projects/%s/locations/%s/instances/%s", inst.Project, inst.Region, inst.Name)
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"instanceId":        c.InstanceID,
		"host":              c.Host,
		"port":              c.Port,
		"addr":              c.Addr,
		"caCerts":           c.CACerts,
		"authSecretId":      c.AuthSecretID,
		"authSecretVersion": c.AuthSecretVersion,
	})
}

// joinCACerts concatenates every server CA into one PEM bundle.
func joinCACerts(certs []redis.InstanceServerCaCert) string {
	var b strings.Builder
	for _, c := range certs {
		if c.Cert == nil || *c.Cert == "" {
			continue
		}
		b.WriteString(strings.TrimRight(*c.Cert, "\n"))
		b.WriteString("\n")
	}
	return b.String()
}

var secretIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
