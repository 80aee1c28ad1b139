package infratest

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type address struct {
	pulumi.CustomResourceState
	Address pulumi.StringOutput `pulumi:"address"`
	Name    pulumi.StringOutput `pulumi:"name"`
}

type redisInstance struct {
	pulumi.CustomResourceState
	Host       pulumi.StringOutput `pulumi:"host"`
	AuthString pulumi.StringOutput `pulumi:"authString"`
}

type component struct{ pulumi.ResourceState }

// program registers a component with two children, one depending on the other.
func program(got *struct {
	addr  *address
	redis *redisInstance
}) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		comp := &component{}
		if err := ctx.RegisterComponentResource("test:index:Comp", "comp", comp); err != nil {
			return err
		}
		addr := &address{}
		if err := ctx.RegisterResource("gcp:compute/globalAddress:GlobalAddress", "ip",
			pulumi.Map{"addressType": pulumi.String("EXTERNAL")}, addr, pulumi.Parent(comp)); err != nil {
			return err
		}
		r := &redisInstance{}
		if err := ctx.RegisterResource("gcp:redis/instance:Instance", "cache",
			pulumi.Map{"displayName": addr.Address, "region": pulumi.String(mustConfig(ctx, "gcp:region"))}, r,
			pulumi.Parent(comp), pulumi.AdditionalSecretOutputs([]string{"authString"})); err != nil {
			return err
		}
		got.addr, got.redis = addr, r
		ctx.Export("ip", addr.Address)
		ctx.Export("auth", r.AuthString)
		return ctx.RegisterResourceOutputs(comp, pulumi.Map{})
	}
}

func TestRecordsParentsDependenciesAndComputedOutputs(t *testing.T) {
	EachMode(t, func(t *testing.T, mode Mode) {
		var got struct {
			addr  *address
			redis *redisInstance
		}
		res := MustRun(t, mode, program(&got), WithConfig(Config{"gcp:project": "p1", "gcp:region": "europe-west1"}))

		comp := res.One(t, "test:index:Comp")
		ip := res.Named(t, "gcp:compute/globalAddress:GlobalAddress", "ip")
		cache := res.One(t, "gcp:redis/instance:Instance")
		if ip.Parent != comp.URN || cache.Parent != comp.URN {
			t.Errorf("parents = %q, %q; want %q", ip.Parent, cache.Parent, comp.URN)
		}
		if !strings.HasSuffix(cache.URN, "test:index:Comp$gcp:redis/instance:Instance::cache") {
			t.Errorf("URN %q not built like the engine's", cache.URN)
		}
		if !cache.DependsOn(ip.URN) {
			t.Errorf("cache dependencies %v lack %s", cache.Dependencies, ip.URN)
		}
		if deps := cache.PropertyDependencies["displayName"]; len(deps) != 1 || deps[0] != ip.URN {
			t.Errorf("displayName deps = %v", deps)
		}
		if cache.InputString("region") != `"europe-west1"` {
			t.Errorf("config did not reach the program: region = %s", cache.InputString("region"))
		}

		addr := Await(t, got.addr.Address)
		auth := res.Export(t, "auth")
		switch mode {
		case Preview:
			if addr.Known {
				t.Errorf("address known in preview: %v", addr.Value)
			}
			if ip.ID != "" {
				t.Errorf("id %q in preview, want unknown", ip.ID)
			}
			if v, _ := cache.Input("displayName"); !v.IsComputed() {
				t.Errorf("displayName input = %v, want unknown in preview", v)
			}
		case Update:
			if addr.Value != AddressIP {
				t.Errorf("address = %v, want %s", addr.Value, AddressIP)
			}
			if name := AwaitString(t, got.addr.Name); name != "ip-"+Suffix("ip") {
				t.Errorf("auto-name = %q", name)
			}
			if !auth.Secret || auth.Value != RedisAuthString {
				t.Errorf("auth export = %+v, want the secret mock string", auth)
			}
			if res.Export(t, "ip").Value != AddressIP {
				t.Errorf("ip export = %+v", res.Export(t, "ip"))
			}
		}
	})
}

func TestRunReturnsProgramError(t *testing.T) {
	_, err := Run(Update, func(ctx *pulumi.Context) error { return errors.New("bad config: tier") })
	if err == nil || !strings.Contains(err.Error(), "bad config: tier") {
		t.Fatalf("err = %v", err)
	}
}

func TestLookupAndFormat(t *testing.T) {
	res := MustRun(t, Update, func(ctx *pulumi.Context) error {
		var a address
		return ctx.RegisterResource("gcp:compute/globalAddress:GlobalAddress", "x", pulumi.Map{
			"list":   pulumi.Array{pulumi.Map{"k": pulumi.String("v")}},
			"secret": pulumi.ToSecret(pulumi.String("hunter2")),
		}, &a)
	})
	r := res.One(t, "gcp:compute/globalAddress:GlobalAddress")
	if got := r.InputString("list[0].k"); got != `"v"` {
		t.Errorf("list[0].k = %s", got)
	}
	if got := r.InputString("missing.path"); got != "<absent>" {
		t.Errorf("missing = %s", got)
	}
	if got := Format(r.Inputs["secret"]); got != "[secret]" {
		t.Errorf("secret formatted as %s", got)
	}
	if ContainsPlain(r.Inputs["secret"], "hunter2") {
		t.Error("secret counted as plain text")
	}
}

func TestConfigFromYAML(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/Pulumi.x.yaml"
	if err := writeFile(path, "config:\n  gcp:project: p\n  a:n: 3\n  a:b: true\n  a:o:\n    k: v\n"); err != nil {
		t.Fatal(err)
	}
	c, err := ConfigFromYAML(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{"gcp:project": "p", "a:n": "3", "a:b": "true", "a:o": `{"k":"v"}`}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("%s = %q, want %q", k, c[k], v)
		}
	}
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }

func mustConfig(ctx *pulumi.Context, key string) string {
	v, _ := ctx.GetConfig(key)
	return v
}

// A secret output fed into another resource as a secret must work in preview too (the SDK's
// mock monitor cannot carry unknown secrets, so the recorder answers secret outputs known).
func TestPreviewCarriesSecretOutputsIntoSecretInputs(t *testing.T) {
	res, err := Run(Preview, func(ctx *pulumi.Context) error {
		r := &redisInstance{}
		if err := ctx.RegisterResource("gcp:redis/instance:Instance", "cache", pulumi.Map{}, r,
			pulumi.AdditionalSecretOutputs([]string{"authString"})); err != nil {
			return err
		}
		var v address
		return ctx.RegisterResource("gcp:secretmanager/secretVersion:SecretVersion", "v", pulumi.Map{
			"secretData": pulumi.ToSecret(r.AuthString),
			"other":      r.Host, // not secret: stays unknown in preview
		}, &v)
	})
	if err != nil {
		t.Fatal(err)
	}
	v := res.One(t, "gcp:secretmanager/secretVersion:SecretVersion")
	if in := v.Inputs["secretData"]; !in.IsSecret() {
		t.Errorf("secretData = %v, want a secret", in)
	}
	if ContainsPlain(v.Inputs["secretData"], RedisAuthString) {
		t.Error("AUTH string visible as plain text")
	}
	if in := v.Inputs["other"]; !in.IsComputed() {
		t.Errorf("other = %v, want unknown in preview", in)
	}
}

func TestWithRootDirectoryReachesTheProgram(t *testing.T) {
	var got string
	MustRun(t, Update, func(ctx *pulumi.Context) error {
		got = ctx.RootDirectory()
		return nil
	}, WithRootDirectory("/repo"))
	if got != "/repo" {
		t.Errorf("RootDirectory = %q", got)
	}
}

// TestAliasesResolveToTheURNsTheEngineMatches: a resource moved under a component and renamed
// keeps its old URN through its aliases, which is what makes the engine update instead of
// replacing it.
func TestAliasesResolveToTheURNsTheEngineMatches(t *testing.T) {
	res := MustRun(t, Update, func(ctx *pulumi.Context) error {
		comp := &component{}
		if err := ctx.RegisterComponentResource("test:index:Comp", "region-a", comp); err != nil {
			return err
		}
		addr := &address{}
		return ctx.RegisterResource("gcp:compute/globalAddress:GlobalAddress", "ip-a", pulumi.Map{}, addr,
			pulumi.Parent(comp), pulumi.Aliases([]pulumi.Alias{
				{Name: pulumi.String("ip"), NoParent: pulumi.Bool(true)}, // was top level, named ip
				{URN: pulumi.URN("urn:pulumi:test::cloudrun-affinity::gcp:compute/globalAddress:GlobalAddress::legacy")},
			}))
	}, WithStack("test"))
	ip := res.One(t, "gcp:compute/globalAddress:GlobalAddress")
	want := []string{
		"urn:pulumi:test::" + PulumiProject + "::gcp:compute/globalAddress:GlobalAddress::ip",
		"urn:pulumi:test::cloudrun-affinity::gcp:compute/globalAddress:GlobalAddress::legacy",
	}
	if strings.Join(ip.Aliases, " ") != strings.Join(want, " ") {
		t.Errorf("aliases %v, want %v", ip.Aliases, want)
	}
	if ip.URN != "urn:pulumi:test::"+PulumiProject+"::test:index:Comp$gcp:compute/globalAddress:GlobalAddress::ip-a" {
		t.Errorf("URN %s", ip.URN)
	}
}
