package infra

import (
	"fmt"

	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/compute"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// defaultRulePriority is the lowest priority; Cloud Armor adds an allow-all rule there if the
// policy has none, which would show as a diff on every preview, so it is declared here.
const defaultRulePriority = 2147483647

// SecurityPolicy is a Cloud Armor policy that throttles each client IP to a request rate and
// answers 429 above it; everything else is allowed.
type SecurityPolicy struct {
	pulumi.ResourceState
	SelfLink pulumi.StringOutput `pulumi:"selfLink"`
}

// SecurityPolicyArgs sets the per-client limit.
type SecurityPolicyArgs struct {
	RequestsPerMinute int // per client IP, 1..1000000
	DependsOn         []pulumi.Resource
}

// Validate checks the rate.
func (a SecurityPolicyArgs) Validate() error {
	var p problems
	if a.RequestsPerMinute < 1 || a.RequestsPerMinute > 1000000 {
		p.addf("RequestsPerMinute %d is out of range; use 1..1000000", a.RequestsPerMinute)
	}
	return p.err()
}

// NewSecurityPolicy creates the policy.
func NewSecurityPolicy(ctx *pulumi.Context, name string, args SecurityPolicyArgs, opts ...pulumi.ResourceOption) (*SecurityPolicy, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("security policy %q: %w", name, err)
	}
	c := &SecurityPolicy{}
	if err := ctx.RegisterComponentResource(typePrefix+"SecurityPolicy", name, c, opts...); err != nil {
		return nil, err
	}
	allIPs := &compute.SecurityPolicyRuleMatchArgs{
		VersionedExpr: pulumi.String("SRC_IPS_V1"),
		Config:        &compute.SecurityPolicyRuleMatchConfigArgs{SrcIpRanges: pulumi.StringArray{pulumi.String("*")}},
	}
	policy, err := compute.NewSecurityPolicy(ctx, name, &compute.SecurityPolicyArgs{
		Description: pulumi.String("cloudrun-affinity: per-client rate limit"),
		Type:        pulumi.String("CLOUD_ARMOR"),
		Rules: compute.SecurityPolicyRuleTypeArray{
			&compute.SecurityPolicyRuleTypeArgs{
				Priority:    pulumi.Int(1000),
				Action:      pulumi.String("throttle"),
				Description: pulumi.String("per-client rate limit"),
				Match:       allIPs,
				RateLimitOptions: &compute.SecurityPolicyRuleRateLimitOptionsArgs{
					ConformAction: pulumi.String("allow"),
					ExceedAction:  pulumi.String("deny(429)"),
					EnforceOnKey:  pulumi.String("IP"),
					RateLimitThreshold: &compute.SecurityPolicyRuleRateLimitOptionsRateLimitThresholdArgs{
						Count:       pulumi.Int(args.RequestsPerMinute),
						IntervalSec: pulumi.Int(60),
					},
				},
			},
			&compute.SecurityPolicyRuleTypeArgs{
				Priority:    pulumi.Int(defaultRulePriority),
				Action:      pulumi.String("allow"),
				Description: pulumi.String("default rule"),
				Match:       allIPs,
			},
		},
	}, ChildOptions(c, args.DependsOn)...)
	if err != nil {
		return nil, err
	}
	c.SelfLink = policy.SelfLink
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"selfLink": c.SelfLink})
}
