package infra_test

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

func TestNetworkIsCustomModeWithPrivateGoogleAccessSubnet(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res := runComponent(t, mode, func(ctx *pulumi.Context, deps []pulumi.Resource) error {
			_, err := infra.NewNetwork(ctx, "net", infra.NetworkArgs{Region: testRegion, SubnetCIDR: "10.9.0.0/24", DependsOn: deps})
			return err
		})
		checkParentedAndWaiting(t, res, "cloudrun-affinity:infra:Network")
		vpc := res.One(t, "gcp:compute/network:Network")
		if v, ok := boolean(vpc, "autoCreateSubnetworks"); !ok || v {
			t.Errorf("autoCreateSubnetworks = %s, want false (custom mode)", vpc.InputString("autoCreateSubnetworks"))
		}
		sub := res.One(t, "gcp:compute/subnetwork:Subnetwork")
		if v, ok := boolean(sub, "privateIpGoogleAccess"); !ok || !v {
			t.Errorf("privateIpGoogleAccess = %s, want true", sub.InputString("privateIpGoogleAccess"))
		}
		if str(sub, "ipCidrRange") != "10.9.0.0/24" || str(sub, "region") != testRegion {
			t.Errorf("subnet range/region = %s/%s", sub.InputString("ipCidrRange"), sub.InputString("region"))
		}
		if !sub.DependsOn(vpc.URN) {
			t.Errorf("subnet does not depend on the VPC")
		}
	})
}

func TestNetworkArgsValidate(t *testing.T) {
	valid := infra.NetworkArgs{Region: "r", SubnetCIDR: "10.8.0.0/24"}
	checkValidation(t, valid, []validationCase[infra.NetworkArgs]{
		{"no region", func(a *infra.NetworkArgs) { a.Region = "" }, []string{"Region is required"}},
		{"not a cidr", func(a *infra.NetworkArgs) { a.SubnetCIDR = "10.8.0.0" }, []string{`SubnetCIDR "10.8.0.0"`, "IPv4 CIDR"}},
		{"too small", func(a *infra.NetworkArgs) { a.SubnetCIDR = "10.8.0.0/28" }, []string{"/26 or larger"}},
		{"host bits", func(a *infra.NetworkArgs) { a.SubnetCIDR = "10.8.0.5/24" }, []string{"host bits", "10.8.0.0/24"}},
		{"ipv6", func(a *infra.NetworkArgs) { a.SubnetCIDR = "fd00::/64" }, []string{"IPv4"}},
	})
	checkRefusesBadArgs(t, `network "net": SubnetCIDR`, func(ctx *pulumi.Context) error {
		_, err := infra.NewNetwork(ctx, "net", infra.NetworkArgs{Region: "r", SubnetCIDR: "x"})
		return err
	})
}
