package infra_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

func validServiceArgs() infra.ServiceArgs {
	return infra.ServiceArgs{
		Project: testProject, Region: testRegion,
		Image:              pulumi.String("europe-west1-docker.pkg.dev/p/r/app@sha256:" + strings.Repeat("a", 64)),
		ServiceAccount:     pulumi.String("sa@p.iam.gserviceaccount.com"),
		Network:            pulumi.String("n"),
		Subnet:             pulumi.String("s"),
		RedisAddr:          pulumi.String("10.0.0.3:6378"),
		RedisCACerts:       pulumi.String("PEM"),
		RedisSecretID:      pulumi.String("redis-auth"),
		RedisSecretVersion: pulumi.String("1"),
		FirestoreDatabase:  pulumi.String("affinity-dev-abcdef"),
		MinInstances:       0, MaxInstances: 3, Concurrency: 80, CPU: "1", Memory: "512Mi",
		Labels: testLabels,
	}
}

func TestServiceHasAffinityLBOnlyIngressVPCEgressAndProbes(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res := runComponent(t, mode, func(ctx *pulumi.Context, deps []pulumi.Resource) error {
			args := validServiceArgs()
			args.DependsOn = deps
			args.MinInstances, args.MaxInstances, args.Concurrency = 1, 7, 50
			args.DeletionProtection = true
			_, err := infra.NewService(ctx, "app", args)
			return err
		})
		checkParentedAndWaiting(t, res, "cloudrun-affinity:infra:Service")
		svc := res.One(t, "gcp:cloudrunv2/service:Service")
		if v, ok := boolean(svc, "template.sessionAffinity"); !ok || !v {
			t.Errorf("template.sessionAffinity = %s, want true", svc.InputString("template.sessionAffinity"))
		}
		for path, want := range map[string]string{
			"ingress":                   infra.IngressLoadBalancerOnly,
			"location":                  testRegion,
			"template.timeout":          "3600s",
			"template.serviceAccount":   "sa@p.iam.gserviceaccount.com",
			"template.vpcAccess.egress": "PRIVATE_RANGES_ONLY",
			"template.vpcAccess.networkInterfaces[0].network":    "n",
			"template.vpcAccess.networkInterfaces[0].subnetwork": "s",
			"template.containers[0].startupProbe.httpGet.path":   "/startupz",
			"template.containers[0].livenessProbe.httpGet.path":  "/healthz",
			"template.containers[0].resources.limits.cpu":        "1",
			"template.containers[0].resources.limits.memory":     "512Mi",
		} {
			if got := str(svc, path); got != want {
				t.Errorf("%s = %q, want %q", path, got, want)
			}
		}
		for path, want := range map[string]float64{
			"template.scaling.minInstanceCount": 1, "template.scaling.maxInstanceCount": 7,
			"template.maxInstanceRequestConcurrency": 50, "template.containers[0].ports.containerPort": 8080,
			"template.containers[0].startupProbe.periodSeconds": 4, "template.containers[0].startupProbe.failureThreshold": 60,
			"template.containers[0].startupProbe.timeoutSeconds": 3,
		} {
			if got := num(svc, path); got != want {
				t.Errorf("%s = %v, want %v", path, got, want)
			}
		}
		if v, ok := boolean(svc, "invokerIamDisabled"); !ok || !v {
			t.Errorf("invokerIamDisabled = %s, want true (public behind the LB)", svc.InputString("invokerIamDisabled"))
		}
		if v, ok := boolean(svc, "deletionProtection"); !ok || !v {
			t.Errorf("deletionProtection = %s, want the configured true", svc.InputString("deletionProtection"))
		}
		for path, want := range map[string]bool{
			"defaultUriDisabled": true, "template.containers[0].resources.cpuIdle": true,
			"template.containers[0].resources.startupCpuBoost": true,
		} {
			if v, ok := boolean(svc, path); !ok || v != want {
				t.Errorf("%s = %s, want %v", path, svc.InputString(path), want)
			}
		}
		checkLabels(t, svc)
		env := envOf(t, svc)
		for name, want := range map[string]string{
			"REDIS_ADDR": "10.0.0.3:6378", "REDIS_TLS_CA": "PEM", "GOOGLE_CLOUD_PROJECT": testProject,
			"FIRESTORE_DATABASE": "affinity-dev-abcdef", "COOKIE_SECURE": "true",
		} {
			if env[name] != want {
				t.Errorf("env %s = %q, want %q", name, env[name], want)
			}
		}
		if env["REDIS_PASSWORD"] != "secret:redis-auth@1" {
			t.Errorf("REDIS_PASSWORD = %q, want from secret redis-auth version 1", env["REDIS_PASSWORD"])
		}
	})
}

// envOf maps env names to values, or "secret:ID@VERSION" for secret references.
func envOf(t *testing.T, svc infratest.Resource) map[string]string {
	t.Helper()
	env := map[string]string{}
	for i := 0; ; i++ {
		prefix := "template.containers[0].envs[" + itoa(i) + "]"
		name := str(svc, prefix+".name")
		if name == "" {
			return env
		}
		if _, dup := env[name]; dup {
			t.Errorf("env %s set twice", name)
		}
		if svc.HasInput(prefix + ".valueSource.secretKeyRef") {
			if svc.HasInput(prefix + ".value") {
				t.Errorf("env %s has both a value and a secret", name)
			}
			env[name] = "secret:" + str(svc, prefix+".valueSource.secretKeyRef.secret") + "@" + str(svc, prefix+".valueSource.secretKeyRef.version")
			continue
		}
		env[name] = str(svc, prefix+".value")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestServiceAlwaysAllocatedCPUIsInstanceBilled(t *testing.T) {
	res := runComponent(t, infratest.Update, func(ctx *pulumi.Context, deps []pulumi.Resource) error {
		args := validServiceArgs()
		args.CPUAlwaysAllocated = true
		_, err := infra.NewService(ctx, "app", args)
		return err
	})
	svc := res.One(t, "gcp:cloudrunv2/service:Service")
	if v, ok := boolean(svc, "template.containers[0].resources.cpuIdle"); !ok || v {
		t.Errorf("cpuIdle = %s, want false with CPUAlwaysAllocated", svc.InputString("template.containers[0].resources.cpuIdle"))
	}
}

func TestServiceInSeveralRegionsWritesSessionsThroughToFirestore(t *testing.T) {
	for _, multi := range []bool{false, true} {
		res := runComponent(t, infratest.Update, func(ctx *pulumi.Context, deps []pulumi.Resource) error {
			args := validServiceArgs()
			args.SessionsInFirestore = multi
			_, err := infra.NewService(ctx, "app", args)
			return err
		})
		env := envOf(t, res.One(t, "gcp:cloudrunv2/service:Service"))
		if got, want := env["SESSIONS_FIRESTORE"], map[bool]string{false: "", true: "true"}[multi]; got != want {
			t.Errorf("SessionsInFirestore %v: SESSIONS_FIRESTORE = %q, want %q", multi, got, want)
		}
	}
}

func TestServiceArgsValidate(t *testing.T) {
	checkValidation(t, validServiceArgs(), []validationCase[infra.ServiceArgs]{
		{"negative min", func(a *infra.ServiceArgs) { a.MinInstances = -1 }, []string{"MinInstances -1", "0 or more"}},
		{"max below min", func(a *infra.ServiceArgs) { a.MinInstances, a.MaxInstances = 5, 2 }, []string{"MaxInstances 2", "MinInstances (5)"}},
		{"concurrency", func(a *infra.ServiceArgs) { a.Concurrency = 0 }, []string{"Concurrency 0", "1..1000"}},
		{"cpu", func(a *infra.ServiceArgs) { a.CPU = "3" }, []string{`CPU "3"`, "1, 2, 4, 6, 8"}},
		{"memory", func(a *infra.ServiceArgs) { a.Memory = "512MB" }, []string{`Memory "512MB"`, "512Mi"}},
		{"4 CPU, too little memory", func(a *infra.ServiceArgs) { a.CPU = "4" }, []string{`Memory "512Mi" does not fit 4 CPU`, "2Gi to 16Gi"}},
		{"1 CPU, too much memory", func(a *infra.ServiceArgs) { a.Memory = "8Gi" }, []string{`Memory "8Gi" does not fit 1 CPU`, "128Mi to 4Gi"}},
		{"above Cloud Run's maximum", func(a *infra.ServiceArgs) { a.CPU, a.Memory = "8", "64Gi" }, []string{`Memory "64Gi"`, "4Gi to 32Gi"}},
		{"below Cloud Run's minimum", func(a *infra.ServiceArgs) { a.Memory = "64Mi" }, []string{`Memory "64Mi"`, "128Mi to 4Gi"}},
		{"no image", func(a *infra.ServiceArgs) { a.Image = nil }, []string{"Image is required"}},
		{"no region", func(a *infra.ServiceArgs) { a.Region = "" }, []string{"Region is required"}},
		{"no stack labels", func(a *infra.ServiceArgs) { a.Labels = map[string]string{"team": "x"} }, []string{`Labels must include "app"`}},
		{"bad label", func(a *infra.ServiceArgs) { a.Labels = infra.StackLabels("a", "b", map[string]string{"Team": "x"}) }, []string{`Labels: key "Team"`}},
	})
	checkRefusesBadArgs(t, `service "app": MinInstances -1`, func(ctx *pulumi.Context) error {
		a := validServiceArgs()
		a.MinInstances = -1
		_, err := infra.NewService(ctx, "app", a)
		return err
	})
}
