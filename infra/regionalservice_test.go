package infra_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

func regionalArgs(region string, home bool, net *infra.Network, deps []pulumi.Resource) infra.RegionalServiceArgs {
	svc := validServiceArgs()
	svc.DependsOn = nil
	return infra.RegionalServiceArgs{
		Region: region, Home: home, Network: net, SubnetCIDR: "10.8.0.0/24",
		Redis:          validRedisArgs(),
		Service:        svc,
		IdentityMember: pulumi.String("serviceAccount:run@p-test.iam.gserviceaccount.com"),
		SecretIDPrefix: "cloudrun-affinity-redis-auth-dev",
		Labels:         testLabels,
		DependsOn:      deps,
	}
}

// TestRegionalServiceHoldsTheRegionsSubnetRedisGrantAndService: the home region keeps the
// single-region names with aliases to where they were; another region's names carry it.
func TestRegionalServiceHoldsTheRegionsSubnetRedisGrantAndService(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res := runComponent(t, mode, func(ctx *pulumi.Context, deps []pulumi.Resource) error {
			net, err := infra.NewNetwork(ctx, "network", infra.NetworkArgs{DependsOn: deps})
			if err != nil {
				return err
			}
			if _, err := infra.NewRegionalService(ctx, "europe-west1", regionalArgs("europe-west1", true, net, deps)); err != nil {
				return err
			}
			other := regionalArgs("europe-west4", false, net, deps)
			other.SubnetCIDR = "10.8.1.0/24"
			_, err = infra.NewRegionalService(ctx, "europe-west4", other)
			return err
		})
		api := res.Named(t, apiStandIn, "stand-in-api")
		for _, tc := range []struct {
			region, subnet, redis, secret, grant, service, cidr string
			aliased                                             bool
		}{
			{"europe-west1", "network", "redis", "cloudrun-affinity-redis-auth-dev", "redis-auth-accessor", "app", "10.8.0.0/24", true},
			{"europe-west4", "network-europe-west4", "redis-europe-west4", "cloudrun-affinity-redis-auth-dev_europe-west4",
				"redis-auth-accessor-europe-west4", "app-europe-west4", "10.8.1.0/24", false},
		} {
			subnet := res.Named(t, "gcp:compute/subnetwork:Subnetwork", tc.subnet)
			inst := res.Named(t, "gcp:redis/instance:Instance", tc.redis)
			secret := res.Named(t, "gcp:secretmanager/secret:Secret", tc.redis+"-auth")
			grant := res.Named(t, "gcp:secretmanager/secretIamMember:SecretIamMember", tc.grant)
			svc := res.Named(t, "gcp:cloudrunv2/service:Service", tc.service)
			for _, r := range []infratest.Resource{subnet, inst, secret, grant, svc} {
				if !res.WaitsFor(r, api.URN) {
					t.Errorf("%s %s does not wait for the API", r.Type, r.Name)
				}
				if r.Type != "gcp:secretmanager/secretIamMember:SecretIamMember" && str(r, map[string]string{
					"gcp:compute/subnetwork:Subnetwork": "region", "gcp:redis/instance:Instance": "region",
					"gcp:secretmanager/secret:Secret": "secretId", "gcp:cloudrunv2/service:Service": "location",
				}[r.Type]) == "" {
					t.Errorf("%s %s: no region or id", r.Type, r.Name)
				}
			}
			if str(subnet, "region") != tc.region || str(inst, "region") != tc.region || str(svc, "location") != tc.region {
				t.Errorf("%s: subnet %s, redis %s, service %s", tc.region, str(subnet, "region"), str(inst, "region"), str(svc, "location"))
			}
			if str(subnet, "ipCidrRange") != tc.cidr || str(secret, "secretId") != tc.secret {
				t.Errorf("%s: subnet %s, secret %s", tc.region, str(subnet, "ipCidrRange"), str(secret, "secretId"))
			}
			if str(grant, "role") != infra.RoleSecretAccessor || !grant.DependsOn(secret.URN) {
				t.Errorf("%s: grant %s is not the accessor on the region's secret", tc.region, str(grant, "role"))
			}
			// The service waits for the grant and uses its region's subnet (by name) and Redis.
			if !svc.DependsOn(grant.URN) || !svc.DependsOn(subnet.URN) || !svc.DependsOn(inst.URN) {
				t.Errorf("%s: service deps %v", tc.region, svc.Dependencies)
			}
			if got := len(subnet.Aliases) > 0; got != tc.aliased {
				t.Errorf("%s: subnet aliases %v", tc.region, subnet.Aliases)
			}
			if tc.aliased {
				for _, w := range []struct {
					r   infratest.Resource
					was string
				}{
					{subnet, "cloudrun-affinity:infra:Network$gcp:compute/subnetwork:Subnetwork::network"},
					{inst, "cloudrun-affinity:infra:Redis$gcp:redis/instance:Instance::redis"},
					{svc, "cloudrun-affinity:infra:Service$gcp:cloudrunv2/service:Service::app"},
					{grant, "cloudrun-affinity:infra:Identity$gcp:secretmanager/secretIamMember:SecretIamMember::identity-secret-accessor"},
				} {
					r, was := w.r, w.was
					found := false
					for _, a := range r.Aliases {
						found = found || strings.HasSuffix(a, "::"+was)
					}
					if !found {
						t.Errorf("%s %s: aliases %v lack its single-region URN ...::%s", r.Type, r.Name, r.Aliases, was)
					}
				}
			}
		}
	})
}

func TestRegionalServiceArgsValidate(t *testing.T) {
	valid := regionalArgs("europe-west1", true, &infra.Network{}, nil)
	checkValidation(t, valid, []validationCase[infra.RegionalServiceArgs]{
		{"unknown region", func(a *infra.RegionalServiceArgs) { a.Region = "europe-west99" }, []string{`Region "europe-west99" is not a Cloud Run region`}},
		{"no network", func(a *infra.RegionalServiceArgs) { a.Network = nil }, []string{"Network is required"}},
		{"no identity", func(a *infra.RegionalServiceArgs) { a.IdentityMember = nil }, []string{"IdentityMember is required"}},
		{"small subnet", func(a *infra.RegionalServiceArgs) { a.SubnetCIDR = "10.8.0.0/26"; a.Service.MaxInstances = 20 }, []string{"SubnetCIDR", "enough for 12 instances"}},
	})
}
