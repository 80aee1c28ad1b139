package infra_test

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/imagebuild"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

// loopbackRegistry is go-containerregistry's in-process registry on 127.0.0.1, recording requests.
type loopbackRegistry struct {
	Host string
	mu   sync.Mutex
	reqs []string
}

func startLoopbackRegistry(t *testing.T) *loopbackRegistry {
	t.Helper()
	r := &loopbackRegistry{}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.reqs = append(r.reqs, req.Method+" "+req.URL.Path)
		r.mu.Unlock()
		inner.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.Host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

func (r *loopbackRegistry) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...)
}

func (r *loopbackRegistry) writes() []string {
	var w []string
	for _, req := range r.requests() {
		if !strings.HasPrefix(req, "GET ") && !strings.HasPrefix(req, "HEAD ") {
			w = append(w, req)
		}
	}
	return w
}

// helloModule writes a throwaway module (standard library only, so it builds in a blink) with a
// main package and returns the package directory. "go 1.26" names no exact release, so the
// build uses the local Go rather than downloading one.
func helloModule(t *testing.T, mainGo string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range map[string]string{
		"go.mod":  "module example.com/hello\n\ngo 1.26\n",
		"main.go": mainGo,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const helloMain = "package main\n\nfunc main() { println(\"hello\") }\n"

func TestAppImageRefIsTheDigestReferenceAndPushesOnlyInUpdate(t *testing.T) {
	t.Parallel()
	src := helloModule(t, helloMain)
	want, err := imagebuild.Build(context.Background(), imagebuild.Options{Dir: src})
	if err != nil {
		t.Fatal(err)
	}
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		reg := startLoopbackRegistry(t)
		repo := reg.Host + "/proj/repo"
		var img *infra.AppImage
		res := infratest.MustRun(t, mode, func(ctx *pulumi.Context) error {
			var err error
			img, err = infra.NewAppImage(ctx, "app", infra.AppImageArgs{SourceDir: src, Repository: pulumi.String(repo), Name: "app"})
			if err != nil {
				return err
			}
			ctx.Export("image", img.Ref)
			ctx.Export("digest", img.Digest)
			return nil
		})
		comp := res.Named(t, "cloudrun-affinity:infra:AppImage", "app")
		if comp.Custom {
			t.Errorf("AppImage registered as a custom resource, want a component")
		}
		wantRef := repo + "/app@" + want.Digest.String()
		if got := res.Export(t, "image").String(); got != wantRef {
			t.Errorf("Ref = %q, want %q", got, wantRef)
		}
		if got := res.Export(t, "digest").String(); got != want.Digest.String() {
			t.Errorf("Digest = %q, want %q", got, want.Digest)
		}
		switch mode {
		case infratest.Preview:
			if reqs := reg.requests(); len(reqs) != 0 {
				t.Errorf("preview talked to the registry: %q", reqs)
			}
		case infratest.Update:
			if len(reg.writes()) == 0 {
				t.Errorf("update did not push the image; requests: %q", reg.requests())
			}
			ref, err := name.NewDigest(wantRef)
			if err != nil {
				t.Fatal(err)
			}
			desc, err := remote.Head(ref)
			if err != nil || desc.Digest != want.Digest {
				t.Errorf("registry after update: %v, %v; want manifest %s", desc, err, want.Digest)
			}
		}
	})
}

func TestAppImageSecondUpdateDoesNotUploadAgain(t *testing.T) {
	t.Parallel()
	src := helloModule(t, helloMain)
	reg := startLoopbackRegistry(t)
	program := func(ctx *pulumi.Context) error {
		img, err := infra.NewAppImage(ctx, "app", infra.AppImageArgs{SourceDir: src, Repository: pulumi.String(reg.Host + "/p/r"), Name: "app"})
		if err != nil {
			return err
		}
		ctx.Export("image", img.Ref)
		return nil
	}
	first := infratest.MustRun(t, infratest.Update, program).Export(t, "image").String()
	before := len(reg.writes())
	second := infratest.MustRun(t, infratest.Update, program).Export(t, "image").String()
	if first != second {
		t.Errorf("same source, two updates: %s then %s", first, second)
	}
	if after := reg.writes(); len(after) != before {
		t.Errorf("second update of an unchanged app wrote to the registry: %q", after[before:])
	}
}

// The push must wait for the Artifact Registry repository: Ref is computed from the
// repository's URL, so it carries that dependency to the Cloud Run service; while the URL is
// unknown (first preview) Ref is unknown but Digest is not.
func TestAppImageRefDependsOnTheRepository(t *testing.T) {
	t.Parallel()
	src := helloModule(t, helloMain)
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		reg := startLoopbackRegistry(t)
		var ref, digest pulumi.StringOutput
		res := infratest.MustRun(t, mode, func(ctx *pulumi.Context) error {
			r, err := infra.NewRegistry(ctx, "images", infra.RegistryArgs{
				Project: "p", Region: "europe-west1", RepositoryID: "apps", KeepCount: 5, DeleteAfter: "2592000s", Labels: testLabels,
			})
			if err != nil {
				return err
			}
			// The loopback registry stands in for REGION-docker.pkg.dev; the path keeps the
			// data flow from the repository's outputs.
			repo := r.Url.ApplyT(func(u string) string {
				return reg.Host + "/" + u[strings.Index(u, "/")+1:]
			}).(pulumi.StringOutput)
			img, err := infra.NewAppImage(ctx, "app", infra.AppImageArgs{SourceDir: src, Repository: repo, Name: "app"})
			if err != nil {
				return err
			}
			ref, digest = img.Ref, img.Digest
			return nil
		})
		repository := res.One(t, "gcp:artifactregistry/repository:Repository")
		got := infratest.Await(t, ref)
		if !got.Known {
			t.Fatalf("%s: Ref unknown although the repository URL is known in the mock", mode)
		}
		if !strings.HasPrefix(got.String(), reg.Host+"/p/apps/app@sha256:") {
			t.Errorf("Ref = %q, want %s/p/apps/app@sha256:...", got.String(), reg.Host)
		}
		found := false
		for _, d := range got.Deps {
			if urn, err := infratest.AwaitErr(d.URN()); err == nil && fmt.Sprint(urn.Value) == repository.URN {
				found = true
			}
		}
		if !found {
			t.Errorf("Ref does not depend on the repository %s, so the push could run before it exists", repository.URN)
		}
		if d := infratest.AwaitString(t, digest); !strings.HasPrefix(d, "sha256:") {
			t.Errorf("Digest = %q", d)
		}
	})
}

func TestAppImageWithUnknownRepositoryInPreviewHasDigestButNoRef(t *testing.T) {
	t.Parallel()
	src := helloModule(t, helloMain)
	var ref, digest pulumi.StringOutput
	infratest.MustRun(t, infratest.Preview, func(ctx *pulumi.Context) error {
		img, err := infra.NewAppImage(ctx, "app", infra.AppImageArgs{
			SourceDir: src, Repository: pulumi.UnsafeUnknownOutput(nil).ApplyT(func(any) string { return "never" }).(pulumi.StringOutput), Name: "app",
		})
		if err != nil {
			return err
		}
		ref, digest = img.Ref, img.Digest
		return nil
	})
	if v := infratest.Await(t, ref); v.Known {
		t.Errorf("Ref = %v with an unknown repository, want unknown", v.Value)
	}
	if d := infratest.AwaitString(t, digest); !strings.HasPrefix(d, "sha256:") {
		t.Errorf("Digest = %q, want sha256:... known in preview", d)
	}
}

func TestAppImageBuildFailureFailsThePreviewWithTheCompilerMessage(t *testing.T) {
	t.Parallel()
	src := helloModule(t, "package main\n\nfunc main() { notDefined() }\n")
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		reg := startLoopbackRegistry(t)
		_, err := infratest.Run(mode, func(ctx *pulumi.Context) error {
			_, err := infra.NewAppImage(ctx, "app", infra.AppImageArgs{SourceDir: src, Repository: pulumi.String(reg.Host + "/p/r"), Name: "app"})
			return err
		})
		if err == nil {
			t.Fatal("program with an app that does not compile succeeded")
		}
		for _, want := range []string{`app image "app"`, "main.go:3", "undefined: notDefined"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		}
		if reqs := reg.requests(); len(reqs) != 0 {
			t.Errorf("failed build talked to the registry: %q", reqs)
		}
	})
}

func TestAppImageArgsValidateNamesTheField(t *testing.T) {
	t.Parallel()
	ok := infra.AppImageArgs{SourceDir: "app", Repository: pulumi.String("r"), Name: "app"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid args: %v", err)
	}
	for _, tc := range []struct {
		mutate func(*infra.AppImageArgs)
		want   string
	}{
		{func(a *infra.AppImageArgs) { a.SourceDir = "" }, "SourceDir is required"},
		{func(a *infra.AppImageArgs) { a.Repository = nil }, "Repository is required"},
		{func(a *infra.AppImageArgs) { a.Name = "" }, `Name "" is not an image name`},
		{func(a *infra.AppImageArgs) { a.Name = "App" }, `Name "App" is not an image name`},
		{func(a *infra.AppImageArgs) { a.Name = "app@sha256" }, `Name "app@sha256"`},
	} {
		args := ok
		tc.mutate(&args)
		err := args.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error containing %q", args, err, tc.want)
		}
	}
	// NewAppImage refuses bad args before building anything.
	_, err := infratest.Run(infratest.Preview, func(ctx *pulumi.Context) error {
		_, err := infra.NewAppImage(ctx, "app", infra.AppImageArgs{Name: "app", Repository: pulumi.String("r")})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), `app image "app": SourceDir is required`) {
		t.Errorf("NewAppImage without SourceDir: %v", err)
	}
}

// The bundled app through the component, with SourceDir relative to the project root (the
// directory of Pulumi.yaml), as stacks/ passes it. The app is linked once (preview builds it,
// the update reuses it); what the update pushed is checked against app/'s source revision and
// the binary's own build info, not against a second build.
func TestAppImageBuildsTheBundledAppFromTheProjectRoot(t *testing.T) {
	t.Parallel()
	wantRevision, err := imagebuild.SourceRevision(context.Background(), imagebuild.Options{Dir: "../app"})
	if err != nil {
		t.Fatalf("source revision of ../app: %v", err)
	}
	reg := startLoopbackRegistry(t)
	digests := map[infratest.Mode]string{}
	var ref string
	for _, mode := range infratest.Modes {
		res := infratest.MustRun(t, mode, func(ctx *pulumi.Context) error {
			img, err := infra.NewAppImage(ctx, "app", infra.AppImageArgs{SourceDir: "app", Repository: pulumi.String(reg.Host + "/p/r"), Name: "app"})
			if err != nil {
				return err
			}
			ctx.Export("image", img.Ref)
			ctx.Export("digest", img.Digest)
			return nil
		})
		digests[mode] = res.Export(t, "digest").String()
		if mode == infratest.Update {
			ref = res.Export(t, "image").String()
		}
	}
	if digests[infratest.Preview] != digests[infratest.Update] {
		t.Fatalf("preview digest %s, update digest %s: want the same image", digests[infratest.Preview], digests[infratest.Update])
	}
	pulledRef, err := name.NewDigest(ref)
	if err != nil {
		t.Fatalf("update Ref %q: %v", ref, err)
	}
	pulled, err := remote.Image(pulledRef)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	if d, _ := pulled.Digest(); d.String() != digests[infratest.Update] {
		t.Fatalf("registry has %s under %s, want %s", d, ref, digests[infratest.Update])
	}
	cf, err := pulled.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := cf.Config.Labels[imagebuild.LabelRevision]; got != wantRevision {
		t.Errorf("revision label %s, want app/'s %s: SourceDir app did not resolve to the project's app/", got, wantRevision)
	}
	bi := appBuildInfo(t, pulled)
	if bi.Path != "github.com/cloudrun-affinity/cloudrun-affinity/app" {
		t.Errorf("image binary's main package is %q, want the bundled app", bi.Path)
	}
}

// appBuildInfo reads the Go build info of /app in img's single layer.
func appBuildInfo(t *testing.T, img v1.Image) *buildinfo.BuildInfo {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("image layers: %d, %v; want one", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("layer has no app binary: %v", err)
		}
		if h.Name != strings.TrimPrefix(imagebuild.BinaryPath, "/") {
			continue
		}
		bin, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		bi, err := buildinfo.Read(bytes.NewReader(bin))
		if err != nil {
			t.Fatalf("build info of %s: %v", imagebuild.BinaryPath, err)
		}
		return bi
	}
}

// BenchmarkPreviewWithAppImage and BenchmarkPreviewWithoutAppImage: their difference is what
// building the unchanged app adds to a warm `pulumi preview` (a new process each time, so the
// per-process reuse is emptied; the Go build cache and the layer cache stay warm).
func BenchmarkPreviewWithAppImage(b *testing.B) { benchmarkPreview(b, true) }

func BenchmarkPreviewWithoutAppImage(b *testing.B) { benchmarkPreview(b, false) }

func benchmarkPreview(b *testing.B, withImage bool) {
	for b.Loop() {
		infra.ForgetBuiltImages()
		_, err := infratest.Run(infratest.Preview, func(ctx *pulumi.Context) error {
			r, err := infra.NewRegistry(ctx, "images", infra.RegistryArgs{
				Project: "p", Region: "europe-west1", RepositoryID: "apps", KeepCount: 5, DeleteAfter: "2592000s", Labels: testLabels,
			})
			if err != nil || !withImage {
				return err
			}
			img, err := infra.NewAppImage(ctx, "app", infra.AppImageArgs{SourceDir: "app", Repository: r.Url, Name: "app"})
			if err != nil {
				return err
			}
			ctx.Export("image", img.Ref)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// Programs run many times in one process (tests, Automation API): an edit between runs must
// give the new image, never the one built before.
func TestAppImageRebuildsAfterASourceChangeInTheSameProcess(t *testing.T) {
	t.Parallel()
	src := helloModule(t, helloMain)
	digestOf := func() string {
		var digest pulumi.StringOutput
		infratest.MustRun(t, infratest.Preview, func(ctx *pulumi.Context) error {
			img, err := infra.NewAppImage(ctx, "app", infra.AppImageArgs{SourceDir: src, Repository: pulumi.String("127.0.0.1:1/p/r"), Name: "app"})
			if err != nil {
				return err
			}
			digest = img.Digest
			return nil
		})
		return infratest.AwaitString(t, digest)
	}
	before, again := digestOf(), digestOf()
	if before != again {
		t.Fatalf("same source, two runs: %s then %s", before, again)
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\nfunc main() { println(\"changed\") }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want, err := imagebuild.Build(context.Background(), imagebuild.Options{Dir: src})
	if err != nil {
		t.Fatal(err)
	}
	if after := digestOf(); after == before || after != want.Digest.String() {
		t.Fatalf("after editing main.go: digest %s (before %s), want the fresh build's %s", after, before, want.Digest)
	}
}
