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
	NetworkID pulumi.StringOutput `pulumi:"networkId"` // projects/P/global/networks/N
	SubnetID  pulumi.StringOutput `pulumi:"subnetId"`
}

// NetworkArgs configures the VPC.
type NetworkArgs struct {
	Region     string
	SubnetCIDR string // IPv4 range of the subnet; Direct VPC egress wants /26 or larger
	DependsOn  []pulumi.Resource
}

// Validate checks the region and the CIDR.
func (a NetworkArgs) Validate() error {
	var p problems
	if a.Region == "" {
		p.addf("Region is required (e.g. europe-west1)")
	}
	pre, err := netip.ParsePrefix(a.SubnetCIDR)
	switch {
	case err != nil || !pre.Addr().Is4():
		p.addf("SubnetCIDR %q is not an IPv4 CIDR range (e.g. 10.8.0.0/24)", a.SubnetCIDR)
	case pre.Bits() > 26:
		p.addf("SubnetCIDR %q is too small: Direct VPC egress needs a /26 or larger (prefix length 8..26)", a.SubnetCIDR)
	case pre.Masked() != pre:
		p.addf("SubnetCIDR %q has host bits set; use %s", a.SubnetCIDR, pre.Masked())
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
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"networkId": c.NetworkID, "subnetId": c.SubnetID})
}
