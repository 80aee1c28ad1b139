package infra_test

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

func TestIdentityHoldsExactlyDatastoreUserOnItsDatabase(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		var id *infra.Identity
		res := runComponent(t, mode, func(ctx *pulumi.Context, deps []pulumi.Resource) error {
			var err error
			id, err = infra.NewIdentity(ctx, "identity", infra.IdentityArgs{
				Project: testProject, AccountID: "affinity-run-dev",
				FirestoreDatabase: pulumi.String("affinity-dev-abcdef"), DependsOn: deps,
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
		want := `resource.name == "projects/p-test/databases/affinity-dev-abcdef"`
		if mode == infratest.Update && str(proj, "condition.expression") != want {
			t.Errorf("datastore.user condition %s, want %s", proj.InputString("condition.expression"), want)
		}
		if str(proj, "condition.title") == "" {
			t.Errorf("datastore.user condition has no title (the API requires one)")
		}
		// Each region grants the AUTH secret of its own Redis (RegionalService).
		if n := len(res.OfType("gcp:secretmanager/secretIamMember:SecretIamMember")); n != 0 {
			t.Errorf("%d secret grants; the regions make those", n)
		}
		if !proj.DependsOn(sa.URN) {
			t.Errorf("%s does not take its member from the account", proj.Name)
		}
		if mode == infratest.Update {
			const member = "serviceAccount:affinity-run-dev@p-test.iam.gserviceaccount.com"
			if str(proj, "member") != member || infratest.AwaitString(t, id.Member) != member {
				t.Errorf("member = %s, Member %s", proj.InputString("member"), infratest.AwaitString(t, id.Member))
			}
		}
		if len(id.Grants) != 1 {
			t.Errorf("Grants has %d resources, want the datastore.user binding", len(id.Grants))
		}
	})
}

func TestIdentityWithAnExistingAccountCreatesNone(t *testing.T) {
	const email = "cra-run-dev@p-test.iam.gserviceaccount.com"
	var id *infra.Identity
	res := runComponent(t, infratest.Update, func(ctx *pulumi.Context, deps []pulumi.Resource) error {
		var err error
		id, err = infra.NewIdentity(ctx, "identity", infra.IdentityArgs{
			Project: testProject, ExistingAccount: email,
			FirestoreDatabase: pulumi.String("db"), DependsOn: deps,
		})
		return err
	})
	if n := len(res.OfType("gcp:serviceaccount/account:Account")); n != 0 {
		t.Errorf("%d accounts created; want none with an existing account", n)
	}
	if got := str(res.One(t, "gcp:projects/iAMMember:IAMMember"), "member"); got != "serviceAccount:"+email {
		t.Errorf("datastore.user member = %q, want the existing account", got)
	}
	if got := infratest.AwaitString(t, id.Email); got != email {
		t.Errorf("Email = %q, want %q", got, email)
	}
}

func TestIdentityArgsValidate(t *testing.T) {
	valid := infra.IdentityArgs{Project: "p", AccountID: "affinity-run", FirestoreDatabase: pulumi.String("db")}
	checkValidation(t, valid, []validationCase[infra.IdentityArgs]{
		{"no project", func(a *infra.IdentityArgs) { a.Project = "" }, []string{"Project is required"}},
		{"short id", func(a *infra.IdentityArgs) { a.AccountID = "abc" }, []string{`AccountID "abc"`, "6-30"}},
		{"long id", func(a *infra.IdentityArgs) { a.AccountID = "a-very-long-service-account-name-x" }, []string{"6-30"}},
		{"no database", func(a *infra.IdentityArgs) { a.FirestoreDatabase = nil }, []string{"FirestoreDatabase is required"}},
		{"existing not an email", func(a *infra.IdentityArgs) { a.ExistingAccount = "run@example.com" }, []string{`ExistingAccount "run@example.com"`}},
	})
	checkRefusesBadArgs(t, `identity "id": AccountID`, func(ctx *pulumi.Context) error {
		_, err := infra.NewIdentity(ctx, "id", infra.IdentityArgs{Project: "p", AccountID: "X", FirestoreDatabase: pulumi.String("db")})
		return err
	})
}
