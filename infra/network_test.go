package infra_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

func TestNetworkIsCustomModeWithPrivateGoogleAccessSubnet(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		var net *infra.Network
		res := runComponent(t, mode, func(ctx *pulumi.Context, deps []pulumi.Resource) error {
			var err error
			net, err = infra.NewNetwork(ctx, "net", infra.NetworkArgs{Region: testRegion, SubnetCIDR: "10.9.0.0/24", MaxInstances: 10, DependsOn: deps})
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
		if mode == infratest.Update {
			// Cloud Run takes names; Memorystore the id.
			vpcName, _ := vpc.Output("name")
			subName, _ := sub.Output("name")
			if got := infratest.AwaitString(t, net.NetworkName); got != vpcName.StringValue() {
				t.Errorf("NetworkName = %q, want %q", got, vpcName.StringValue())
			}
			if got := infratest.AwaitString(t, net.SubnetName); got != subName.StringValue() {
				t.Errorf("SubnetName = %q, want %q", got, subName.StringValue())
			}
			if got := infratest.AwaitString(t, net.NetworkID); got != vpc.ID {
				t.Errorf("NetworkID = %q, want %q", got, vpc.ID)
			}
		}
	})
}

func TestNetworkArgsValidate(t *testing.T) {
	valid := infra.NetworkArgs{Region: "r", SubnetCIDR: "10.8.0.0/24", MaxInstances: 3}
	checkValidation(t, valid, []validationCase[infra.NetworkArgs]{
		{"no region", func(a *infra.NetworkArgs) { a.Region = "" }, []string{"Region is required"}},
		{"not a cidr", func(a *infra.NetworkArgs) { a.SubnetCIDR = "10.8.0.0" }, []string{`SubnetCIDR "10.8.0.0"`, "IPv4 CIDR"}},
		{"too small", func(a *infra.NetworkArgs) { a.SubnetCIDR = "10.8.0.0/28" }, []string{"/26 or larger"}},
		{"host bits", func(a *infra.NetworkArgs) { a.SubnetCIDR = "10.8.0.5/24" }, []string{"host bits", "10.8.0.0/24"}},
		{"ipv6", func(a *infra.NetworkArgs) { a.SubnetCIDR = "fd00::/64" }, []string{"IPv4"}},
		{"no instances", func(a *infra.NetworkArgs) { a.MaxInstances = 0 }, []string{"MaxInstances 0"}},
		{"too many instances", func(a *infra.NetworkArgs) { a.MaxInstances = 61 }, []string{"15 blocks of 16", "enough for 60 instances", "maxInstances 61", "use a /23"}},
	})
	checkRefusesBadArgs(t, `network "net": SubnetCIDR`, func(ctx *pulumi.Context) error {
		_, err := infra.NewNetwork(ctx, "net", infra.NetworkArgs{Region: "r", SubnetCIDR: "x", MaxInstances: 3})
		return err
	})
}

// TestSubnetSizingFollowsDirectVPCEgressRule: 4 addresses per instance (2 at steady state,
// twice that while a rollout runs two revisions), taken in blocks of 16, from what is left
// after Google's 4 reserved addresses.
func TestSubnetSizingFollowsDirectVPCEgressRule(t *testing.T) {
	for _, tc := range []struct {
		cidr string
		fits int // most instances that fit
	}{
		{"10.0.0.0/26", 12}, // 60 usable -> 3 blocks -> 48 addresses
		{"10.0.0.0/25", 28}, // 124 -> 7 blocks -> 112
		{"10.0.0.0/24", 60}, // 252 -> 15 blocks -> 240
		{"10.0.0.0/20", 1020},
	} {
		if err := infra.SubnetFits(tc.cidr, tc.fits); err != nil {
			t.Errorf("%s refused for %d instances: %v", tc.cidr, tc.fits, err)
		}
		err := infra.SubnetFits(tc.cidr, tc.fits+1)
		if err == nil || !strings.Contains(err.Error(), "blocks of 16") || !strings.Contains(err.Error(), "vpc-direct-vpc") {
			t.Errorf("%s for %d instances: %v, want a refusal citing the rule", tc.cidr, tc.fits+1, err)
		}
	}
}
