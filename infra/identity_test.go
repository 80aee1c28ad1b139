package infra_test

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

func TestIdentityHoldsExactlyDatastoreUserAndOneSecretAccessor(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		var id *infra.Identity
		res := runComponent(t, mode, func(ctx *pulumi.Context, deps []pulumi.Resource) error {
			var err error
			id, err = infra.NewIdentity(ctx, "identity", infra.IdentityArgs{
				Project: testProject, AccountID: "affinity-run-dev", SecretID: pulumi.String("redis-auth"), DependsOn: deps,
			})
			return err
		})
		checkParentedAndWaiting(t, res, "cloudrun-affinity:infra:Identity")
		sa := res.One(t, "gcp:serviceaccount/account:Account")
		if str(sa, "accountId") != "affinity-run-dev" {
			t.Errorf("accountId = %s", sa.InputString("accountId"))
		}
		proj := res.One(t, "gcp:projects/iAMMember:IAMMember")
		if str(proj, "role") != infra.RoleDatastoreUser || str(proj, "project") != testProject {
			t.Errorf("project grant = %s on %s", proj.InputString("role"), proj.InputString("project"))
		}
		sec := res.One(t, "gcp:secretmanager/secretIamMember:SecretIamMember")
		if str(sec, "role") != infra.RoleSecretAccessor || str(sec, "secretId") != "redis-auth" {
			t.Errorf("secret grant = %s on %s", sec.InputString("role"), sec.InputString("secretId"))
		}
		for _, g := range []infratest.Resource{proj, sec} {
			if !g.DependsOn(sa.URN) {
				t.Errorf("%s does not take its member from the account", g.Name)
			}
			if mode == infratest.Update && str(g, "member") != "serviceAccount:affinity-run-dev@p-test.iam.gserviceaccount.com" {
				t.Errorf("%s member = %s", g.Name, g.InputString("member"))
			}
		}
		if len(id.Grants) != 2 {
			t.Errorf("Grants has %d resources, want the 2 bindings", len(id.Grants))
		}
	})
}

func TestIdentityArgsValidate(t *testing.T) {
	valid := infra.IdentityArgs{Project: "p", AccountID: "affinity-run", SecretID: pulumi.String("s")}
	checkValidation(t, valid, []validationCase[infra.IdentityArgs]{
		{"no project", func(a *infra.IdentityArgs) { a.Project = "" }, []string{"Project is required"}},
		{"short id", func(a *infra.IdentityArgs) { a.AccountID = "abc" }, []string{`AccountID "abc"`, "6-30"}},
		{"long id", func(a *infra.IdentityArgs) { a.AccountID = "a-very-long-service-account-name-x" }, []string{"6-30"}},
		{"no secret", func(a *infra.IdentityArgs) { a.SecretID = nil }, []string{"SecretID is required"}},
	})
	checkRefusesBadArgs(t, `identity "id": AccountID`, func(ctx *pulumi.Context) error {
		_, err := infra.NewIdentity(ctx, "id", infra.IdentityArgs{Project: "p", AccountID: "X", SecretID: pulumi.String("s")})
		return err
	})
}
