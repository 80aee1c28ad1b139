package imagebuild

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Layout of the image.
const (
	BinaryPath = "/app"        // the entrypoint
	UserID     = 65532         // "nonroot", as in distroless
	User       = "65532:65532" // config User
	HomeDir    = "/home/nonroot"

	LabelSource   = "org.opencontainers.image.source"
	LabelRevision = "org.opencontainers.image.revision"
)

// Options says what to build. Only Dir is required.
type Options struct {
	// Dir is the directory of the main package; it must be inside a Go module. The image has
	// no base image, so no /etc/ssl/certs: a main package that makes TLS connections
	// blank-imports golang.org/x/crypto/x509roots/fallback itself (time zones are always
	// compiled in).
	Dir string
	// Source is the org.opencontainers.image.source label. Default: https://<module path>
	// when the module path starts with github.com/, else the module path.
	Source string
	// Revision is the org.opencontainers.image.revision label. Default: a sha256 over the
	// sources compiled into the binary. A VCS commit here would change the digest on every
	// commit, even when the app did not change.
	Revision string
	// Created is the time of the image config and of every file in the layer. Default: the
	// Unix epoch, so that the digest depends only on the content.
	Created time.Time
	// Tags are extra build tags (timetzdata and grpcnotrace are always set).
	Tags []string
	// GoCache overrides GOCACHE (tests use it to prove that a cold cache gives the same digest).
	GoCache string
	// Go is the go command. Default: "go" on PATH.
	Go string
	// LayerCacheDir keeps compressed layers so that rebuilding an unchanged app skips gzip.
	// Default: <user cache dir>/cloudrun-affinity/imagebuild; "off" disables it.
	LayerCacheDir string
}

// Result is a built image.
type Result struct {
	Image    v1.Image
	Digest   v1.Hash
	Source   string
	Revision string
	// BinarySize is the size of the executable; CompressedSize the bytes a registry stores
	// (config + compressed layer + manifest).
	BinarySize     int64
	CompressedSize int64
}

// prepare checks opts and sets up the go command (toolchain, tags).
func prepare(opts Options) (goTool, error) {
	if opts.Dir == "" {
		return goTool{}, errors.New("imagebuild: Options.Dir is empty: set it to the main package directory")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return goTool{}, err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return goTool{}, fmt.Errorf("imagebuild: source directory %s does not exist", dir)
	}
	goBin := opts.Go
	if goBin == "" {
		if goBin, err = exec.LookPath("go"); err != nil {
			return goTool{}, fmt.Errorf("imagebuild: the go command is needed to build the app image: %w", err)
		}
	}
	toolchain, err := moduleToolchain(dir)
	if err != nil {
		return goTool{}, err
	}
	return goTool{bin: goBin, dir: dir, cache: opts.GoCache, toolchain: toolchain, tags: append(slices.Clone(defaultTags), opts.Tags...)}, nil
}

// SourceRevision is the default revision label Build would give opts (a sha256 over the
// source files compiled into the binary and the versions of the modules it links), computed
// without building: callers use it to reuse an image built from the same source.
func SourceRevision(ctx context.Context, opts Options) (string, error) {
	tool, err := prepare(opts)
	if err != nil {
		return "", err
	}
	info, err := tool.inspectSources(ctx)
	return info.Revision, err
}

// Build compiles the main package in opts.Dir and assembles the image in memory.
func Build(ctx context.Context, opts Options) (*Result, error) {
	tool, err := prepare(opts)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "imagebuild-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "app")
	// Listing the sources runs beside the build: on a warm cache the link dominates.
	type listed struct {
		info sourceInfo
		err  error
	}
	listDone := make(chan listed, 1)
	go func() {
		info, err := tool.inspectSources(ctx)
		listDone <- listed{info, err}
	}()
	buildErr := tool.compile(ctx, bin)
	l := <-listDone
	if buildErr != nil {
		return nil, buildErr // the compiler's message says more than go list's
	}
	if l.err != nil {
		return nil, l.err
	}
	src := l.info
	binary, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}

	res := &Result{Source: opts.Source, Revision: opts.Revision, BinarySize: int64(len(binary))}
	if res.Source == "" {
		res.Source = src.ModulePath
		if strings.HasPrefix(res.Source, "github.com/") {
			res.Source = "https://" + res.Source
		}
	}
	if res.Revision == "" {
		res.Revision = src.Revision
	}
	created := opts.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	created = created.UTC()

	cache := layerCache{dir: opts.LayerCacheDir}
	switch cache.dir {
	case "":
		cache.dir = defaultLayerCacheDir()
	case "off":
		cache.dir = ""
	}
	img, err := assemble(binary, created, map[string]string{LabelSource: res.Source, LabelRevision: res.Revision}, cache)
	if err != nil {
		return nil, err
	}
	res.Image = img
	if res.Digest, err = img.Digest(); err != nil {
		return nil, err
	}
	if res.CompressedSize, err = compressedSize(img); err != nil {
		return nil, err
	}
	return res, nil
}

// assemble puts the binary into a single-layer OCI image with no base image.
func assemble(binary []byte, created time.Time, labels map[string]string, cache layerCache) (v1.Image, error) {
	layerTar, err := rootFS(binary, created)
	if err != nil {
		return nil, err
	}
	layerGz, err := cache.compress(layerTar)
	if err != nil {
		return nil, err
	}
	layer := newGzipLayer(layerGz, sha256.Sum256(layerTar))
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: created},
			CreatedBy: "imagebuild: go build " + strings.Join(buildFlags, " "),
			Comment:   "static " + GOOS + "/" + GOARCH + " binary at " + BinaryPath,
		},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = GOARCH
	cf.OS = GOOS
	cf.Created = v1.Time{Time: created}
	cf.Config.User = User
	cf.Config.Entrypoint = []string{BinaryPath}
	cf.Config.Cmd = nil
	cf.Config.WorkingDir = "/"
	// No SSL_CERT_FILE/ZONEINFO: CA roots and time zones are compiled into the binary.
	cf.Config.Env = []string{"HOME=" + HomeDir, "TMPDIR=/tmp"}
	cf.Config.Labels = labels
	return mutate.ConfigFile(img, cf)
}

// rootFS writes the root file system as a tar: the binary, /etc/passwd and /etc/group naming
// the nonroot user, its home, and a world-writable sticky /tmp. Every entry has the same fixed
// time and explicit owner. (compress/gzip, pure Go without assembly, then gives the same
// bytes on every platform for a given Go version.)
func rootFS(binary []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(binary) + 16<<10)
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64, uid int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: uid, Gid: uid, ModTime: mtime, Format: tar.FormatPAX})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:%s:/sbin/nologin\n", UserID, UserID, HomeDir)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", UserID)
	steps := []func() error{
		func() error { return file(strings.TrimPrefix(BinaryPath, "/"), 0o555, binary) },
		func() error { return dir("etc", 0o755, 0) },
		func() error { return file("etc/group", 0o644, []byte(group)) },
		func() error { return file("etc/passwd", 0o644, []byte(passwd)) },
		func() error { return dir("home", 0o755, 0) },
		func() error { return dir(strings.TrimPrefix(HomeDir, "/"), 0o700, UserID) },
		func() error { return dir("tmp", 0o1777, 0) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// gzipLayer is a layer whose compressed bytes are in memory and whose diff id is already known
// (tarball.LayerFromOpener would decompress the whole binary again to find it).
type gzipLayer struct {
	gz             []byte
	digest, diffID v1.Hash
}

func newGzipLayer(gz []byte, tarSum [sha256.Size]byte) *gzipLayer {
	gzSum := sha256.Sum256(gz)
	return &gzipLayer{
		gz:     gz,
		digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(gzSum[:])},
		diffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(tarSum[:])},
	}
}

func (l *gzipLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *gzipLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *gzipLayer) Size() (int64, error)                { return int64(len(l.gz)), nil }
func (l *gzipLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }
func (l *gzipLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.gz)), nil
}
func (l *gzipLayer) Uncompressed() (io.ReadCloser, error) {
	return gzip.NewReader(bytes.NewReader(l.gz))
}

func compressedSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, err
	}
	total := m.Config.Size + int64(len(raw))
	for _, l := range m.Layers {
		total += l.Size
	}
	return total, nil
}
