package imagebuild

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/google"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// PushOptions says how to reach the registry. The zero value uses Google application default
// credentials (or gcloud's) for *.pkg.dev and *.gcr.io and anonymous access elsewhere.
type PushOptions struct {
	Keychain  authn.Keychain
	Transport http.RoundTripper
}

// DigestRef is "<repository>@sha256:<hex>", e.g.
// europe-west1-docker.pkg.dev/PROJECT/REPO/app@sha256:...; it fails on a malformed repository.
func DigestRef(repository string, digest v1.Hash) (name.Digest, error) {
	repo, err := name.NewRepository(repository, name.StrictValidation)
	if err != nil {
		return name.Digest{}, fmt.Errorf("imagebuild: repository %q: %w", repository, err)
	}
	return repo.Digest(digest.String()), nil
}

// Push uploads img to repository by digest, never by tag, and returns the digest reference.
// If the registry already has the manifest, nothing is uploaded (pushed == false).
func Push(ctx context.Context, img v1.Image, repository string, opts PushOptions) (ref name.Digest, pushed bool, err error) {
	digest, err := img.Digest()
	if err != nil {
		return name.Digest{}, false, err
	}
	if ref, err = DigestRef(repository, digest); err != nil {
		return name.Digest{}, false, err
	}
	keychain := opts.Keychain
	if keychain == nil {
		keychain = google.Keychain
	}
	remoteOpts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(keychain)}
	if opts.Transport != nil {
		remoteOpts = append(remoteOpts, remote.WithTransport(opts.Transport))
	}
	desc, err := remote.Head(ref, remoteOpts...)
	switch {
	case err == nil && desc.Digest == digest:
		return ref, false, nil
	case err != nil && !isNotFound(err):
		return name.Digest{}, false, fmt.Errorf("imagebuild: checking %s: %w", ref, err)
	}
	if err := remote.Write(ref, img, remoteOpts...); err != nil {
		return name.Digest{}, false, fmt.Errorf("imagebuild: pushing %s: %w", ref, err)
	}
	return ref, true, nil
}

func isNotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}
