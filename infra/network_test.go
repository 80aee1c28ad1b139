package infra_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

func TestNetworkIsOneCustomModeVPC(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		var net *infra.Network
		res := runComponent(t, mode, func(ctx *pulumi.Context, deps []pulumi.Resource) error {
			var err error
			net, err = infra.NewNetwork(ctx, "net", infra.NetworkArgs{DependsOn: deps})
			return err
		})
		checkParentedAndWaiting(t, res, "cloudrun-affinity:infra:Network")
		vpc := res.One(t, "gcp:compute/network:Network")
		if v, ok := boolean(vpc, "autoCreateSubnetworks"); !ok || v {
			t.Errorf("autoCreateSubnetworks = %s, want false (custom mode)", vpc.InputString("autoCreateSubnetworks"))
		}
		if n := len(res.OfType("gcp:compute/subnetwork:Subnetwork")); n != 0 {
			t.Errorf("%d subnets; each region makes its own", n)
		}
		if mode == infratest.Update {
			// Cloud Run takes the name; Memorystore the id.
			vpcName, _ := vpc.Output("name")
			if got := infratest.AwaitString(t, net.NetworkName); got != vpcName.StringValue() {
				t.Errorf("NetworkName = %q, want %q", got, vpcName.StringValue())
			}
			if got := infratest.AwaitString(t, net.NetworkID); got != vpc.ID {
				t.Errorf("NetworkID = %q, want %q", got, vpc.ID)
			}
		}
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
