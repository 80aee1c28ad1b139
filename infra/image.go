package infra

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra/imagebuild"
)

// AppImage is the app built from source into a reproducible OCI image (no Docker) and pushed
// to a registry by digest. The build runs while the program runs, in preview too, so a preview
// shows whether the app changed: the same source gives the same Digest, and the Cloud Run
// service sees no diff. The push happens only in an update, once Repository is known (that is,
// after the Artifact Registry repository exists), and is skipped when the registry already has
// the digest.
type AppImage struct {
	pulumi.ResourceState
	// Ref is "<Repository>/<Name>@sha256:<hex>"; in an update it resolves after the push.
	Ref pulumi.StringOutput `pulumi:"ref"`
	// Digest is "sha256:<hex>", known in preview.
	Digest pulumi.StringOutput `pulumi:"digest"`
}

// AppImageArgs says what to build and where to push it.
type AppImageArgs struct {
	// SourceDir is the app's main package directory, relative to the Pulumi project root
	// (ctx.RootDirectory()) unless absolute. The image has no base image and so no CA
	// certificates: an app that makes TLS connections blank-imports
	// golang.org/x/crypto/x509roots/fallback (app/main.go does).
	SourceDir string
	// Repository is the registry path the image goes under, e.g. Registry.Url
	// ("REGION-docker.pkg.dev/PROJECT/REPO").
	Repository pulumi.StringInput
	// Name is the image name inside Repository: lowercase letters and digits, separated by
	// one '.', '_', '__' or '-'.
	Name string
	// Push overrides registry access; the zero value authenticates to *.pkg.dev with Google
	// application default credentials (the identity that runs `pulumi up`).
	Push imagebuild.PushOptions
}

// PushAppImage pushes a built image during an update. Whole-stack mock tests replace it (and
// restore it with t.Cleanup) so that an update does not reach the real Artifact Registry; it
// is not meant to change in a real program.
var PushAppImage = imagebuild.Push

var imageNamePattern = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$`)

// Validate checks every field.
func (a AppImageArgs) Validate() error {
	var p problems
	if a.SourceDir == "" {
		p.addf("SourceDir is required (the app's main package directory, e.g. app)")
	}
	if a.Repository == nil {
		p.addf("Repository is required (e.g. the Registry component's Url)")
	}
	if !imageNamePattern.MatchString(a.Name) {
		p.addf("Name %q is not an image name; use lowercase letters and digits separated by '.', '_' or '-', e.g. app", a.Name)
	}
	return p.err()
}

// NewAppImage builds the image now and pushes it during an update. A build failure (the app
// does not compile) is returned with the compiler's output, so `pulumi preview` fails with it.
func NewAppImage(ctx *pulumi.Context, name string, args AppImageArgs, opts ...pulumi.ResourceOption) (*AppImage, error) {
	if err := args.Validate(); err != nil {
		return nil, fmt.Errorf("app image %q: %w", name, err)
	}
	dir := args.SourceDir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(projectRoot(ctx), dir)
	}
	start := time.Now()
	built, err := buildAppImage(ctx.Context(), dir)
	if err != nil {
		return nil, fmt.Errorf("app image %q: building %s: %w", name, dir, err)
	}
	elapsed := time.Since(start)

	c := &AppImage{}
	if err := ctx.RegisterComponentResource(typePrefix+"AppImage", name, c, opts...); err != nil {
		return nil, err
	}
	_ = ctx.Log.Info(fmt.Sprintf("app image %s built from %s in %v: %s, %.1f MB compressed, revision %s",
		name, args.SourceDir, elapsed.Round(time.Millisecond), built.Digest, float64(built.CompressedSize)/1e6, built.Revision),
		&pulumi.LogArgs{Resource: c})

	c.Digest = pulumi.String(built.Digest.String()).ToStringOutput()
	imageRepo := args.Repository.ToStringOutput().ApplyT(func(repo string) string { return repo + "/" + args.Name })
	if ctx.DryRun() {
		c.Ref = imageRepo.ApplyT(func(repo string) (string, error) {
			ref, err := imagebuild.DigestRef(repo, built.Digest)
			return ref.String(), err
		}).(pulumi.StringOutput)
	} else {
		// Runs once the repository URL resolves, i.e. after the repository has been created.
		c.Ref = imageRepo.ApplyTWithContext(ctx.Context(), func(goctx context.Context, repo string) (string, error) {
			ref, pushed, err := PushAppImage(goctx, built.Image, repo, args.Push)
			if err != nil {
				return "", fmt.Errorf("app image %q: %w", name, err)
			}
			if pushed {
				_ = ctx.Log.Info("pushed "+ref.String(), &pulumi.LogArgs{Resource: c})
			}
			return ref.String(), nil
		}).(pulumi.StringOutput)
	}
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{"ref": c.Ref, "digest": c.Digest})
}

// builtImages keeps the images this process built, by directory and source revision: a
// program run builds the app once, but tests (and Automation API hosts) run programs many
// times, and relinking an unchanged app costs seconds each time.
var builtImages sync.Map // dir + "\x00" + revision -> *imagebuild.Result

func buildAppImage(ctx context.Context, dir string) (*imagebuild.Result, error) {
	opts := imagebuild.Options{Dir: dir}
	rev, err := imagebuild.SourceRevision(ctx, opts)
	if err != nil {
		// go list failed: the build gives the clearer message (the compiler's).
		_, buildErr := imagebuild.Build(ctx, opts)
		return nil, errors.Join(buildErr, err)
	}
	key := dir + "\x00" + rev
	if res, ok := builtImages.Load(key); ok {
		return res.(*imagebuild.Result), nil
	}
	res, err := imagebuild.Build(ctx, opts)
	if err != nil {
		return nil, err
	}
	builtImages.Store(key, res)
	return res, nil
}

// projectRoot is the directory of Pulumi.yaml: ctx.RootDirectory() under the Pulumi CLI; under
// the mock runtime (which leaves it empty) the nearest parent of the working directory that
// holds a Pulumi.yaml, else the working directory.
func projectRoot(ctx *pulumi.Context) string {
	if root := ctx.RootDirectory(); root != "" {
		return root
	}
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "Pulumi.yaml")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			return wd
		}
	}
}
