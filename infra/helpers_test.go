package infra_test

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi-gcp/sdk/v8/go/gcp/projects"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

// testLabels are what every component that takes labels gets in these tests.
var testLabels = infra.StackLabels("cloudrun-affinity", "test", map[string]string{"team": "shop"})

// checkLabels asserts a resource carries exactly testLabels.
func checkLabels(t *testing.T, r infratest.Resource) {
	t.Helper()
	got := map[string]string{}
	if v, ok := r.Input("labels"); ok && v.IsObject() {
		for k, e := range v.ObjectValue() {
			got[string(k)] = e.StringValue()
		}
	}
	if len(got) != len(testLabels) {
		t.Errorf("%s %q labels %v, want %v", r.Type, r.Name, got, testLabels)
	}
	for k, v := range testLabels {
		if got[k] != v {
			t.Errorf("%s %q label %s = %q, want %q", r.Type, r.Name, k, got[k], v)
		}
	}
}

const (
	testProject = "p-test"
	testRegion  = "europe-west1"
	apiStandIn  = "gcp:projects/service:Service"
)

// runComponent runs build in a program that first enables a stand-in API, whose resource
// build passes on as the component's DependsOn, so tests can check children wait for it.
func runComponent(t *testing.T, mode infratest.Mode, build func(ctx *pulumi.Context, deps []pulumi.Resource) error) *infratest.Result {
	t.Helper()
	return infratest.MustRun(t, mode, func(ctx *pulumi.Context) error {
		api, err := projects.NewService(ctx, "stand-in-api", &projects.ServiceArgs{Service: pulumi.String("x.googleapis.com")})
		if err != nil {
			return err
		}
		return build(ctx, []pulumi.Resource{api})
	}, infratest.WithConfig(infratest.Config{"gcp:project": testProject, "gcp:region": testRegion}))
}

// children are the custom resources other than the stand-in API.
func children(res *infratest.Result) []infratest.Resource {
	var out []infratest.Resource
	for _, r := range res.Resources() {
		if r.Custom && r.Name != "stand-in-api" {
			out = append(out, r)
		}
	}
	return out
}

// checkParentedAndWaiting asserts every child has the component as parent and waits, directly
// or through a sibling it takes data from, for the stand-in API.
func checkParentedAndWaiting(t *testing.T, res *infratest.Result, componentType string) {
	t.Helper()
	comp := res.One(t, componentType)
	api := res.Named(t, apiStandIn, "stand-in-api")
	kids := children(res)
	if len(kids) == 0 {
		t.Fatalf("%s registered no children", componentType)
	}
	for _, r := range kids {
		if r.Parent != comp.URN {
			t.Errorf("%s %q: parent %q, want the component %q", r.Type, r.Name, r.Parent, comp.URN)
		}
		if !res.WaitsFor(r, api.URN) {
			t.Errorf("%s %q does not wait for the API (deps %v)", r.Type, r.Name, r.Dependencies)
		}
	}
}

// validationCase changes valid args into invalid ones; the error must contain every want.
type validationCase[A any] struct {
	name   string
	change func(*A)
	want   []string
}

func checkValidation[A interface{ Validate() error }](t *testing.T, valid A, cases []validationCase[A]) {
	t.Helper()
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid args rejected: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := valid
			c.change(&args)
			err := args.Validate()
			if err == nil {
				t.Fatalf("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// checkRefusesBadArgs runs a program whose component gets bad args: the run fails with the
// component's name in the message and nothing of the component is registered.
func checkRefusesBadArgs(t *testing.T, want string, build func(ctx *pulumi.Context) error) {
	t.Helper()
	res, err := infratest.Run(infratest.Update, build)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to mention %q", err, want)
	}
	if n := len(res.Resources()); n != 0 {
		t.Errorf("%d resources registered despite bad args (want none): %v", n, res.CountByType())
	}
}

// str returns the input at path as a plain Go string ("" when missing or not a string).
func str(r infratest.Resource, path string) string {
	v, ok := r.Input(path)
	if !ok {
		return ""
	}
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !v.IsString() {
		return ""
	}
	return v.StringValue()
}

func num(r infratest.Resource, path string) float64 {
	v, ok := r.Input(path)
	if !ok || !v.IsNumber() {
		return -1
	}
	return v.NumberValue()
}

func boolean(r infratest.Resource, path string) (bool, bool) {
	v, ok := r.Input(path)
	if !ok || !v.IsBool() {
		return false, false
	}
	return v.BoolValue(), true
}
