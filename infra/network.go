package infra

import (
	"fmt"
	"net/netip"

	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/compute"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Network is a custom-mode VPC with one regional subnet (Private Google Access on). Cloud Run
// sends its Direct VPC egress through the subnet, and Memorystore accepts clients from the VPC.
//
// After the Cloud Run service is deleted, its Direct VPC egress addresses stay reserved in the
// subnet for one to two hours, so `pulumi destroy` cannot delete the subnet (and the VPC) in the
// same run; run destroy again later (README: "Destroy").
type Network struct {
	pulumi.ResourceState
	NetworkID   pulumi.StringOutput `pulumi:"networkId"` // projects/P/global/networks/N
	SubnetID    pulumi.StringOutput `pulumi:"subnetId"`
	NetworkName pulumi.StringOutput `pulumi:"networkName"` // N, what Cloud Run's Direct VPC egress takes
	SubnetName  pulumi.StringOutput `pulumi:"subnetName"`
}

// NetworkArgs configures the VPC.
type NetworkArgs struct {
	Region     string
	SubnetCIDR string // IPv4 range of the subnet; Direct VPC egress wants /26 or larger
	// MaxInstances is the most Cloud Run instances that take addresses from the subnet.
	MaxInstances int
	DependsOn    []pulumi.Resource
}

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

// Validate checks the region and the CIDR.
func (a NetworkArgs) Validate() error {
	var p problems
	if a.Region == "" {
		p.addf("Region is required (e.g. europe-west1)")
	}
	if a.MaxInstances < 1 {
		p.addf("MaxInstances %d is not allowed; use the service's maxInstances (1 or more)", a.MaxInstances)
	}
	if err := SubnetFits(a.SubnetCIDR, max(a.MaxInstances, 1)); err != nil {
		p.addf("SubnetCIDR %v", err)
	}
	return p.err()
}

// NewNetwork creates the VPC and subnet.
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
	subnet, err := compute.NewSubnetwork(ctx, name, &compute.SubnetworkArgs{
		Network:               vpc.ID(),
		Region:                pulumi.String(args.Region),
		IpCidrRange:           pulumi.String(args.SubnetCIDR),
		PrivateIpGoogleAccess: pulumi.Bool(true),
	}, ChildOptions(c, args.DependsOn)...)
	if err != nil {
		return nil, err
	}
	c.NetworkID = vpc.ID().ToStringOutput()
	c.SubnetID = subnet.ID().ToStringOutput()
	c.NetworkName = vpc.Name
	c.SubnetName = subnet.Name
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"networkId": c.NetworkID, "subnetId": c.SubnetID, "networkName": c.NetworkName, "subnetName": c.SubnetName,
	})
}
