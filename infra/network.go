package infra

import (
	"fmt"
	"net/netip"

	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/compute"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Network is the stack's custom-mode VPC. Each region's Direct VPC egress subnet is part of
// that region's RegionalService; Memorystore instances accept clients from the whole VPC.
//
// After a Cloud Run service is deleted, its Direct VPC egress addresses stay reserved in its
// subnet for one to two hours, so `pulumi destroy` cannot delete the subnets (and the VPC) in
// the same run; run destroy again later (README: "Destroy").
type Network struct {
	pulumi.ResourceState
	NetworkID   pulumi.StringOutput `pulumi:"networkId"`   // projects/P/global/networks/N, what Memorystore takes
	NetworkName pulumi.StringOutput `pulumi:"networkName"` // N, what Cloud Run's Direct VPC egress takes
}

// NetworkArgs configures the VPC.
type NetworkArgs struct {
	DependsOn []pulumi.Resource
}

// Validate has nothing to check: the VPC takes no settings.
func (a NetworkArgs) Validate() error { return nil }

// Direct VPC egress address use (cloud.google.com/run/docs/configuring/vpc-direct-vpc, "IP
// address allocation"): Cloud Run reserves addresses in blocks of 16 (/28) to scale fast and
// uses 2 per instance at steady state; a revision that scales in keeps its addresses for up to
// 20 minutes. During a rollout both revisions hold theirs, so the stack plans 4 per instance.
// Google keeps 4 addresses of every subnet.
const (
	directVPCBlock         = 16
	addressesPerInstance   = 4
	subnetReservedByGoogle = 4
)

// DirectVPCRule is the sizing rule, for error messages.
const DirectVPCRule = "Direct VPC egress reserves addresses in blocks of 16 and uses 2 per instance, twice that while a rollout runs two revisions " +
	"(cloud.google.com/run/docs/configuring/vpc-direct-vpc#direct-vpc-ip-allocation)"

// SubnetFits checks that an IPv4 range is one Direct VPC egress accepts (/26 or larger, no
// host bits) and holds maxInstances through a rollout; the error says what to use instead.
func SubnetFits(cidr string, maxInstances int) error {
	pre, err := netip.ParsePrefix(cidr)
	switch {
	case err != nil || !pre.Addr().Is4():
		return fmt.Errorf("%q is not an IPv4 CIDR range (e.g. 10.8.0.0/24)", cidr)
	case pre.Bits() > 26:
		return fmt.Errorf("%q is too small: Direct VPC egress needs a /26 or larger (prefix length 8..26)", cidr)
	case pre.Masked() != pre:
		return fmt.Errorf("%q has host bits set; use %s", cidr, pre.Masked())
	}
	blocks := (1<<(32-pre.Bits()) - subnetReservedByGoogle) / directVPCBlock
	need := (addressesPerInstance*maxInstances + directVPCBlock - 1) / directVPCBlock
	if need > blocks {
		most := blocks * directVPCBlock / addressesPerInstance
		bits := 32
		for (1<<(32-bits)-subnetReservedByGoogle)/directVPCBlock < need {
			bits--
		}
		return fmt.Errorf("%q holds %d blocks of 16 addresses, enough for %d instances, not maxInstances %d: %s; use a /%d or larger, or at most %d instances",
			cidr, blocks, most, maxInstances, DirectVPCRule, bits, most)
	}
	return nil
}

// NewNetwork creates the VPC.
func NewNetwork(ctx *pulumi.Context, name string, args NetworkArgs, opts ...pulumi.ResourceOption) (*Network, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("network %q: %w", name, err)
	}
	c := &Network{}
	if err := ctx.RegisterComponentResource(typePrefix+"Network", name, c, opts...); err != nil {
		return nil, err
	}
	vpc, err := compute.NewNetwork(ctx, name, &compute.NetworkArgs{
		AutoCreateSubnetworks: pulumi.Bool(false),
		RoutingMode:           pulumi.String("REGIONAL"),
	}, ChildOptions(c, args.DependsOn)...)
	if err != nil {
		return nil, err
	}
	c.NetworkID = vpc.ID().ToStringOutput()
	c.NetworkName = vpc.Name
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"networkId": c.NetworkID, "networkName": c.NetworkName})
}
