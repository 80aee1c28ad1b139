package main

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/imagebuild"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

// pushedImages are the images update-mode runs pushed, by digest.
var pushedImages sync.Map // "sha256:..." -> v1.Image

// TestMain keeps update-mode runs off the network: the app image is built for real, but the
// push to REGION-docker.pkg.dev only records the image and returns the digest reference.
func TestMain(m *testing.M) {
	infra.PushAppImage = func(_ context.Context, img v1.Image, repo string, _ imagebuild.PushOptions) (name.Digest, bool, error) {
		d, err := img.Digest()
		if err != nil {
			return name.Digest{}, false, err
		}
		pushedImages.Store(d.String(), img)
		ref, err := imagebuild.DigestRef(repo, d)
		return ref, true, err
	}
	os.Exit(m.Run())
}

// appDigest is the digest of app/ as the program builds it. The component builds it once per
// process (stack runs reuse it), so it is not built a second time here; instead the pushed
// image is checked to be app/: its revision label is app/'s source revision and its binary's
// main package is the app.
var appDigest = sync.OnceValues(func() (string, error) {
	rev, err := imagebuild.SourceRevision(context.Background(), imagebuild.Options{Dir: "../app"})
	if err != nil {
		return "", err
	}
	res, err := infratest.Run(infratest.Update, func(ctx *pulumi.Context) error {
		img, err := infra.NewAppImage(ctx, "app", infra.AppImageArgs{SourceDir: "app", Repository: pulumi.String("europe-west1-docker.pkg.dev/p/r"), Name: "app"})
		if err != nil {
			return err
		}
		ctx.Export("digest", img.Digest)
		ctx.Export("ref", img.Ref)
		return nil
	})
	if err != nil {
		return "", err
	}
	digest := res.Exports["digest"].String()
	pushed, ok := pushedImages.Load(digest)
	if !ok {
		return "", fmt.Errorf("the update pushed no image %s (ref %s)", digest, res.Exports["ref"].String())
	}
	img := pushed.(v1.Image)
	cf, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	if got := cf.Config.Labels[imagebuild.LabelRevision]; got != rev {
		return "", fmt.Errorf("image %s has revision %s, want app/'s %s", digest, got, rev)
	}
	if main, err := binaryMainPackage(img); err != nil || main != "github.com/cloudrun-affinity/cloudrun-affinity/app" {
		return "", fmt.Errorf("image %s runs main package %q (%v), want the bundled app", digest, main, err)
	}
	return digest, nil
})

// binaryMainPackage is the main package path in the build info of the image's /app.
func binaryMainPackage(img v1.Image) (string, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			return "", fmt.Errorf("no %s in the image: %w", imagebuild.BinaryPath, err)
		}
		if "/"+h.Name != imagebuild.BinaryPath {
			continue
		}
		bin, err := io.ReadAll(tr)
		if err != nil {
			return "", err
		}
		bi, err := buildinfo.Read(bytes.NewReader(bin))
		if err != nil {
			return "", err
		}
		return bi.Path, nil
	}
}

func TestCloudRunRunsTheBuiltAppByDigestUnlessImageIsSet(t *testing.T) {
	digest, err := appDigest()
	if err != nil {
		t.Fatalf("building app/: %v", err)
	}
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		// Every region runs the same image (one build, one digest).
		services := res.OfType(runService)
		svc := services[0]
		got := str(svc, "template.containers[0].image")
		for _, other := range services[1:] {
			if img := str(other, "template.containers[0].image"); img != got {
				t.Errorf("%s runs %q, %s runs %q: regions must run the same image", svc.Name, got, other.Name, img)
			}
		}
		images := res.OfType("cloudrun-affinity:infra:AppImage")
		if override := s.cfg[ns+"image"]; override != "" {
			if got != override || len(images) != 0 {
				t.Errorf("image set to %s: service runs %s and %d AppImage components, want the override and none", override, got, len(images))
			}
			return
		}
		repo := res.One(t, "gcp:artifactregistry/repository:Repository")
		want := res.Export(t, "imageRepository").String() + "/app@" + digest
		if got != want {
			t.Errorf("service image = %q, want the built app by digest %q", got, want)
		}
		if len(images) != 1 {
			t.Errorf("want one AppImage component, got %d", len(images))
		}
		if d := res.Export(t, "imageDigest").String(); d != digest {
			t.Errorf("imageDigest export = %q, want %q", d, digest)
		}
		if !res.WaitsFor(svc, repo.URN) {
			t.Errorf("the service does not wait for the Artifact Registry repository the image is pushed to")
		}
	})
}
