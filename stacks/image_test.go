package main

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/imagebuild"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

// TestMain keeps update-mode runs off the network: the app image is built for real, but the
// push to REGION-docker.pkg.dev only computes the digest reference it would return.
func TestMain(m *testing.M) {
	infra.PushAppImage = func(_ context.Context, img v1.Image, repo string, _ imagebuild.PushOptions) (name.Digest, bool, error) {
		d, err := img.Digest()
		if err != nil {
			return name.Digest{}, false, err
		}
		ref, err := imagebuild.DigestRef(repo, d)
		return ref, true, err
	}
	os.Exit(m.Run())
}

// appDigest is the digest of app/ as the program builds it.
var appDigest = sync.OnceValues(func() (string, error) {
	res, err := imagebuild.Build(context.Background(), imagebuild.Options{Dir: "../app"})
	if err != nil {
		return "", err
	}
	return res.Digest.String(), nil
})

func TestCloudRunRunsTheBuiltAppByDigestUnlessImageIsSet(t *testing.T) {
	digest, err := appDigest()
	if err != nil {
		t.Fatalf("building app/: %v", err)
	}
	eachRun(t, func(t *testing.T, s scenario, mode infratest.Mode, res *infratest.Result) {
		svc := res.One(t, runService)
		got := str(svc, "template.containers[0].image")
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
		if !waitsFor(res, svc, repo.URN) {
			t.Errorf("the service does not wait for the Artifact Registry repository the image is pushed to")
		}
	})
}
