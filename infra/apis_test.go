package infra_test

import (
	"sort"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

func TestAPIsEnablesEachServiceAndKeepsItOnDestroy(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		var apis *infra.APIs
		res := infratest.MustRun(t, mode, func(ctx *pulumi.Context) error {
			var err error
			apis, err = infra.NewAPIs(ctx, "apis", infra.APIsArgs{Project: testProject})
			return err
		})
		comp := res.One(t, "cloudrun-affinity:infra:APIs")
		var got []string
		for _, s := range res.OfType("gcp:projects/service:Service") {
			got = append(got, str(s, "service"))
			if s.Parent != comp.URN {
				t.Errorf("%s: parent %s", s.Name, s.Parent)
			}
			if v, ok := boolean(s, "disableOnDestroy"); !ok || v {
				t.Errorf("%s: disableOnDestroy = %s, want false", s.Name, s.InputString("disableOnDestroy"))
			}
			if str(s, "project") != testProject {
				t.Errorf("%s: project = %s", s.Name, s.InputString("project"))
			}
		}
		sort.Strings(got)
		want := append([]string(nil), infra.RequiredAPIs...)
		sort.Strings(want)
		if len(got) != len(want) {
			t.Fatalf("services %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("services %v, want %v", got, want)
				break
			}
		}
		if len(apis.Services) != len(want) {
			t.Errorf("APIs.Services has %d resources, want %d", len(apis.Services), len(want))
		}
	})
}

func TestAPIsArgsValidate(t *testing.T) {
	checkValidation(t, infra.APIsArgs{Project: "p"}, []validationCase[infra.APIsArgs]{
		{"no project", func(a *infra.APIsArgs) { a.Project = "" }, []string{"Project is required"}},
		{"bad service", func(a *infra.APIsArgs) { a.Services = []string{"run"} }, []string{`Services: "run"`, "NAME.googleapis.com"}},
	})
	checkRefusesBadArgs(t, `apis "apis": Project is required`, func(ctx *pulumi.Context) error {
		_, err := infra.NewAPIs(ctx, "apis", infra.APIsArgs{})
		return err
	})
}
