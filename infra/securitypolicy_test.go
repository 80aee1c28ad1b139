package infra_test

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

func TestSecurityPolicyThrottlesPerClientIPAndDeclaresTheDefaultRule(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res := runComponent(t, mode, func(ctx *pulumi.Context, deps []pulumi.Resource) error {
			_, err := infra.NewSecurityPolicy(ctx, "armor", infra.SecurityPolicyArgs{RequestsPerMinute: 120, DependsOn: deps})
			return err
		})
		checkParentedAndWaiting(t, res, "cloudrun-affinity:infra:SecurityPolicy")
		p := res.One(t, "gcp:compute/securityPolicy:SecurityPolicy")
		if str(p, "rules[0].action") != "throttle" || str(p, "rules[0].rateLimitOptions.enforceOnKey") != "IP" ||
			num(p, "rules[0].rateLimitOptions.rateLimitThreshold.count") != 120 ||
			num(p, "rules[0].rateLimitOptions.rateLimitThreshold.intervalSec") != 60 ||
			str(p, "rules[0].rateLimitOptions.exceedAction") != "deny(429)" {
			t.Errorf("rate limit rule = %s", p.InputString("rules[0]"))
		}
		if num(p, "rules[1].priority") != 2147483647 || str(p, "rules[1].action") != "allow" {
			t.Errorf("default rule = %s (undeclared, the API adds it and every preview shows a diff)", p.InputString("rules[1]"))
		}
	})
}

func TestSecurityPolicyArgsValidate(t *testing.T) {
	checkValidation(t, infra.SecurityPolicyArgs{RequestsPerMinute: 60}, []validationCase[infra.SecurityPolicyArgs]{
		{"zero", func(a *infra.SecurityPolicyArgs) { a.RequestsPerMinute = 0 }, []string{"RequestsPerMinute 0", "1..1000000"}},
	})
	checkRefusesBadArgs(t, `security policy "armor": RequestsPerMinute`, func(ctx *pulumi.Context) error {
		_, err := infra.NewSecurityPolicy(ctx, "armor", infra.SecurityPolicyArgs{})
		return err
	})
}
