package infra_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

func validRedisArgs() infra.RedisArgs {
	return infra.RedisArgs{
		Region: testRegion, Network: pulumi.String("projects/p/global/networks/n"), Tier: "BASIC", SizeGB: 1,
		Version: "REDIS_7_2", MaintenanceDay: "SUNDAY", MaintenanceHour: 3, SecretID: "redis-auth",
		SnapshotPeriod: "1h", Labels: testLabels,
	}
}

func TestRedisHasAuthTLSAndItsAuthStringOnlyInSecretManager(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		var r *infra.Redis
		res := runComponent(t, mode, func(ctx *pulumi.Context, deps []pulumi.Resource) error {
			args := validRedisArgs()
			args.Tier, args.SizeGB, args.DependsOn = "STANDARD_HA", 5, deps
			var err error
			r, err = infra.NewRedis(ctx, "cache", args)
			return err
		})
		checkParentedAndWaiting(t, res, "cloudrun-affinity:infra:Redis")

		inst := res.One(t, "gcp:redis/instance:Instance")
		for path, want := range map[string]string{
			"tier": "STANDARD_HA", "redisVersion": "REDIS_7_2", "transitEncryptionMode": "SERVER_AUTHENTICATION",
			"authorizedNetwork": "projects/p/global/networks/n", "region": testRegion, "connectMode": "DIRECT_PEERING",
			"maintenancePolicy.weeklyMaintenanceWindows[0].day": "SUNDAY",
			"persistenceConfig.persistenceMode":                 "RDB", "persistenceConfig.rdbSnapshotPeriod": "ONE_HOUR",
		} {
			if got := str(inst, path); got != want {
				t.Errorf("instance %s = %q, want %q", path, got, want)
			}
		}
		if v, ok := boolean(inst, "authEnabled"); !ok || !v {
			t.Errorf("authEnabled = %s, want true", inst.InputString("authEnabled"))
		}
		if num(inst, "memorySizeGb") != 5 || num(inst, "maintenancePolicy.weeklyMaintenanceWindows[0].startTime.hours") != 3 {
			t.Errorf("size/maintenance hour = %s/%s", inst.InputString("memorySizeGb"),
				inst.InputString("maintenancePolicy.weeklyMaintenanceWindows[0].startTime.hours"))
		}

		secret := res.One(t, "gcp:secretmanager/secret:Secret")
		checkLabels(t, inst)
		checkLabels(t, secret)
		if str(secret, "secretId") != "redis-auth" || !secret.HasInput("replication.auto") {
			t.Errorf("secret id/replication = %s/%s", secret.InputString("secretId"), secret.InputString("replication"))
		}
		version := res.One(t, "gcp:secretmanager/secretVersion:SecretVersion")
		data := version.Inputs["secretData"]
		if !data.IsSecret() {
			t.Errorf("secretData = %s, want a secret", infratest.Format(data))
		}
		if mode == infratest.Update && str(version, "secretData") != infratest.RedisAuthString {
			t.Errorf("secret version does not hold the AUTH string")
		}
		for _, x := range res.Resources() {
			for k, v := range x.Inputs {
				if infratest.ContainsPlain(v, infratest.RedisAuthString) {
					t.Errorf("%s %q input %s holds the AUTH string in plain text", x.Type, x.Name, k)
				}
			}
		}

		if mode == infratest.Update {
			ca := infratest.AwaitString(t, r.CACerts)
			for _, c := range infratest.RedisCACerts {
				if !strings.Contains(ca, strings.TrimSpace(c)) {
					t.Errorf("CACerts lacks a server CA:\n%s", ca)
				}
			}
			if got := infratest.AwaitString(t, r.Addr); got != "10.20.0.3:6378" {
				t.Errorf("Addr = %q", got)
			}
			if got := infratest.AwaitString(t, r.AuthSecretID); got != "redis-auth" {
				t.Errorf("AuthSecretID = %q (must be the id, not the value)", got)
			}
			// Monitoring's redis_instance resource names the instance by its full name.
			name, _ := res.One(t, "gcp:redis/instance:Instance").Output("name")
			if got, want := infratest.AwaitString(t, r.InstanceID), "projects/"+testProject+"/locations/"+testRegion+"/instances/"+name.StringValue(); got != want {
				t.Errorf("InstanceID = %q, want %q", got, want)
			}
		}
	})
}

func TestRedisSnapshotsOffAreSentAsDisabled(t *testing.T) {
	res := runComponent(t, infratest.Update, func(ctx *pulumi.Context, deps []pulumi.Resource) error {
		args := validRedisArgs()
		args.SnapshotPeriod = "off"
		_, err := infra.NewRedis(ctx, "cache", args)
		return err
	})
	// Left out, the API would keep an instance's RDB mode: off must say DISABLED.
	inst := res.One(t, "gcp:redis/instance:Instance")
	if str(inst, "persistenceConfig.persistenceMode") != "DISABLED" || inst.HasInput("persistenceConfig.rdbSnapshotPeriod") {
		t.Errorf("persistenceConfig = %s, want {persistenceMode: DISABLED}", inst.InputString("persistenceConfig"))
	}
}

func TestRedisArgsValidate(t *testing.T) {
	checkValidation(t, validRedisArgs(), []validationCase[infra.RedisArgs]{
		{"unknown tier", func(a *infra.RedisArgs) { a.Tier = "PREMIUM" }, []string{`Tier "PREMIUM"`, "BASIC, STANDARD_HA"}},
		{"zero size", func(a *infra.RedisArgs) { a.SizeGB = 0 }, []string{"SizeGB 0", "1..300"}},
		{"old version", func(a *infra.RedisArgs) { a.Version = "REDIS_6_X" }, []string{`Version "REDIS_6_X"`, "REDIS_7_0, REDIS_7_2"}},
		{"bad day", func(a *infra.RedisArgs) { a.MaintenanceDay = "SUN" }, []string{`MaintenanceDay "SUN"`, "MONDAY"}},
		{"bad hour", func(a *infra.RedisArgs) { a.MaintenanceHour = 24 }, []string{"MaintenanceHour 24", "0..23"}},
		{"no network", func(a *infra.RedisArgs) { a.Network = nil }, []string{"Network is required"}},
		{"bad secret id", func(a *infra.RedisArgs) { a.SecretID = "a b" }, []string{`SecretID "a b"`}},
		{"all at once", func(a *infra.RedisArgs) { a.Tier, a.SizeGB = "X", 301 }, []string{`Tier "X"`, "SizeGB 301"}},
	})
	checkRefusesBadArgs(t, `redis "cache": Tier "PREMIUM"`, func(ctx *pulumi.Context) error {
		a := validRedisArgs()
		a.Tier = "PREMIUM"
		_, err := infra.NewRedis(ctx, "cache", a)
		return err
	})
}
