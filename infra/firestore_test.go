package infra_test

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

func TestFirestoreNamedDatabaseWithCartsTTL(t *testing.T) {
	for _, tc := range []struct {
		name                                string
		protect, pitr                       bool
		wantProtect, wantPITR, wantDeletion string
	}{
		{"dev", false, false, "DELETE_PROTECTION_DISABLED", "POINT_IN_TIME_RECOVERY_DISABLED", "DELETE"},
		{"prod", true, true, "DELETE_PROTECTION_ENABLED", "POINT_IN_TIME_RECOVERY_ENABLED", "ABANDON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
				var fs *infra.Firestore
				res := runComponent(t, mode, func(ctx *pulumi.Context, deps []pulumi.Resource) error {
					var err error
					fs, err = infra.NewFirestore(ctx, "fs", infra.FirestoreArgs{
						Location: "eur3", NamePrefix: "affinity-dev", PointInTimeRecovery: tc.pitr,
						DeleteProtection: tc.protect, DependsOn: deps,
					})
					return err
				})
				comp := res.One(t, "cloudrun-affinity:infra:Firestore")
				for _, r := range children(res) {
					if r.Parent != comp.URN {
						t.Errorf("%s: parent %s", r.Name, r.Parent)
					}
				}
				db := res.One(t, "gcp:firestore/database:Database")
				for path, want := range map[string]string{
					"type": "FIRESTORE_NATIVE", "locationId": "eur3", "deleteProtectionState": tc.wantProtect,
					"concurrencyMode":               "OPTIMISTIC", // no locks left by a vanished instance
					"pointInTimeRecoveryEnablement": tc.wantPITR, "deletionPolicy": tc.wantDeletion,
				} {
					if got := str(db, path); got != want {
						t.Errorf("database %s = %q, want %q", path, got, want)
					}
				}
				api := res.Named(t, apiStandIn, "stand-in-api")
				if !db.DependsOn(api.URN) {
					t.Errorf("database does not wait for the API")
				}
				random := res.One(t, "random:index/randomId:RandomId")
				if !db.DependsOn(random.URN) {
					t.Errorf("database name does not come from the random suffix")
				}
				ttl := res.One(t, "gcp:firestore/field:Field")
				if str(ttl, "collection") != infra.CartsCollection || str(ttl, "field") != infra.CartsTTLField || !ttl.HasInput("ttlConfig") {
					t.Errorf("TTL field = %s/%s ttl %s", ttl.InputString("collection"), ttl.InputString("field"), ttl.InputString("ttlConfig"))
				}
				if !ttl.HasInput("indexConfig") || ttl.HasInput("indexConfig.indexes") {
					t.Errorf("TTL field indexConfig = %s, want {} (exempt from indexing)", ttl.InputString("indexConfig"))
				}
				if !ttl.DependsOn(db.URN) {
					t.Errorf("TTL policy does not wait for the database")
				}
				// Deleting the field resets its TTL: a database that destroy keeps keeps its TTL policy too.
				if ttl.RetainOnDelete != tc.protect {
					t.Errorf("TTL field retainOnDelete = %v, want %v (delete protection)", ttl.RetainOnDelete, tc.protect)
				}
				if mode == infratest.Update {
					name := infratest.AwaitString(t, fs.DatabaseName)
					if !regexp.MustCompile(`^affinity-dev-[0-9a-f]{6}$`).MatchString(name) || name == "(default)" {
						t.Errorf("database name %q, want affinity-dev-<6 hex>", name)
					}
					if str(ttl, "database") != name {
						t.Errorf("TTL on database %q, want %q", str(ttl, "database"), name)
					}
				}
			})
		})
	}
}

func TestFirestoreExpiresSessionsOnlyWhenTheyAreKeptThere(t *testing.T) {
	for _, sessions := range []bool{false, true} {
		res := runComponent(t, infratest.Update, func(ctx *pulumi.Context, deps []pulumi.Resource) error {
			_, err := infra.NewFirestore(ctx, "fs", infra.FirestoreArgs{Location: "eur3", NamePrefix: "affinity-dev", SessionsTTL: sessions})
			return err
		})
		var got []string
		for _, f := range res.OfType("gcp:firestore/field:Field") {
			got = append(got, str(f, "collection")+"."+str(f, "field"))
		}
		sort.Strings(got)
		want := "carts.expireAt"
		if sessions {
			want = "carts.expireAt sessions.expireAt"
		}
		if strings.Join(got, " ") != want {
			t.Errorf("SessionsTTL %v: TTL fields %v, want %s", sessions, got, want)
		}
	}
}

func TestFirestoreArgsValidate(t *testing.T) {
	checkValidation(t, infra.FirestoreArgs{Location: "europe-west1", NamePrefix: "affinity"}, []validationCase[infra.FirestoreArgs]{
		{"empty location", func(a *infra.FirestoreArgs) { a.Location = "" }, []string{`Location ""`, "nam5"}},
		{"bad location", func(a *infra.FirestoreArgs) { a.Location = "Europe West" }, []string{`Location "Europe West"`}},
		{"bad prefix", func(a *infra.FirestoreArgs) { a.NamePrefix = "(default)" }, []string{`NamePrefix "(default)"`, "lowercase"}},
	})
	checkRefusesBadArgs(t, `firestore "fs": Location`, func(ctx *pulumi.Context) error {
		_, err := infra.NewFirestore(ctx, "fs", infra.FirestoreArgs{NamePrefix: "affinity"})
		return err
	})
}
