package infra_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

func TestIdentityHoldsExactlyDatastoreUserOnItsDatabaseAndTheTelemetryRoles(t *testing.T) {
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
		proj := res.Named(t, "gcp:projects/iAMMember:IAMMember", "identity-datastore-user")
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
		if mode == infratest.Update && infratest.AwaitString(t, id.Member) != "serviceAccount:affinity-run-dev@p-test.iam.gserviceaccount.com" {
			t.Errorf("Member %s", infratest.AwaitString(t, id.Member))
		}
		// The telemetry export: project-wide, no condition (nothing narrower exists to grant on).
		var roles []string
		grants := []infratest.Resource{proj}
		for _, m := range res.OfType("gcp:projects/iAMMember:IAMMember") {
			if m.Name == proj.Name {
				continue
			}
			roles = append(roles, str(m, "role"))
			if str(m, "project") != testProject || m.HasInput("condition") {
				t.Errorf("%s: project %s, condition %s", m.Name, m.InputString("project"), m.InputString("condition"))
			}
			grants = append(grants, m)
		}
		sort.Strings(roles)
		if want := []string{infra.RoleTraceAgent, infra.RoleMetricWriter}; strings.Join(roles, " ") != strings.Join(want, " ") {
			t.Errorf("telemetry roles %v, want exactly %v", roles, want)
		}
		for _, g := range grants {
			if !g.DependsOn(sa.URN) {
				t.Errorf("%s does not take its member from the account", g.Name)
			}
			if mode == infratest.Update && str(g, "member") != "serviceAccount:affinity-run-dev@p-test.iam.gserviceaccount.com" {
				t.Errorf("%s member = %s", g.Name, g.InputString("member"))
			}
		}
		if len(id.Grants) != 3 {
			t.Errorf("Grants has %d resources, want the 3 project bindings", len(id.Grants))
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
	grants := res.OfType("gcp:projects/iAMMember:IAMMember")
	if len(grants) != 3 {
		t.Errorf("%d grants, want 3", len(grants))
	}
	for _, g := range grants {
		if got := str(g, "member"); got != "serviceAccount:"+email {
			t.Errorf("%s member = %q, want the existing account", g.Name, got)
		}
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
