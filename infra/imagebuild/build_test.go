package imagebuild

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeModule writes a throwaway module (its own go.mod, standard library only) with the given
// files and returns its directory.
func writeModule(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["go.mod"] = "module example.com/hello\n\ngo 1.26\n"
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tinyMain imports nothing, so that its build takes a fraction of a second.
const tinyMain = "package main\n\nfunc main() { println(\"hello\") }\n"

// build builds opts. Throwaway modules keep out of the user's layer cache ("off" unless a test
// names one), where they would push out the app's layer that `pulumi preview` reuses.
func build(t *testing.T, opts Options) *Result {
	t.Helper()
	if opts.LayerCacheDir == "" && opts.Dir != appDir {
		opts.LayerCacheDir = "off"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	res, err := Build(ctx, opts)
	if err != nil {
		t.Fatalf("Build(%s): %v", opts.Dir, err)
	}
	t.Logf("built %s in %v: digest %s, binary %d B, compressed image %d B", opts.Dir, time.Since(start).Round(time.Millisecond), res.Digest, res.BinarySize, res.CompressedSize)
	return res
}

// secondGoCache is a Go build cache apart from the user's, for the reproducibility proof. It
// persists (under the user cache dir) so that only its first run pays for compiling the
// standard library; see TestSameSourceGivesSameDigestInAnotherDirectoryAndAnotherCache.
func secondGoCache(t *testing.T) string {
	base, err := os.UserCacheDir()
	if err != nil {
		return t.TempDir() // no user cache dir: a truly cold cache, just slower
	}
	return filepath.Join(base, "cloudrun-affinity", "imagebuild-test-gocache")
}

// The same source built in two directories with two Go build caches gives the same image.
// The main package is new on every run (a random constant), so neither cache has it: both
// builds really compile and link it, in different checkout paths. Only the standard library
// comes from the second cache, and that cache was filled by a truly cold build the first time
// this test ran on the machine (on CI every time: actions/setup-go keeps only GOCACHE and the
// module cache), by exactly the toolchain and flags in use, as the go command keys its cache on
// them. So each run still compares an image built elsewhere from scratch, without compiling the
// runtime again.
func TestSameSourceGivesSameDigestInAnotherDirectoryAndAnotherCache(t *testing.T) {
	t.Parallel()
	nonce := make([]byte, 8)
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("package main\n\nconst nonce = \"%x\"\n\nfunc main() { println(\"hello\", nonce) }\n", nonce)
	here := build(t, Options{Dir: writeModule(t, map[string]string{"main.go": src})})
	elsewhere := build(t, Options{Dir: writeModule(t, map[string]string{"main.go": src}), GoCache: secondGoCache(t)})
	if here.Digest != elsewhere.Digest {
		t.Fatalf("digest differs between builds of the same source: %s (user's Go cache) vs %s (second cache, other directory)", here.Digest, elsewhere.Digest)
	}
	if here.Revision != elsewhere.Revision || !strings.HasPrefix(here.Revision, "sha256:") {
		t.Fatalf("revision label: %q vs %q, want equal sha256:... values", here.Revision, elsewhere.Revision)
	}
}

func TestChangingOneSourceFileChangesDigestAndRevision(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"main.go":     "package main\n\nfunc main() { println(greeting) }\n",
		"greeting.go": "package main\n\nconst greeting = \"hello\"\n",
	}
	before := build(t, Options{Dir: writeModule(t, files)})
	files["greeting.go"] = "package main\n\nconst greeting = \"hello, world\"\n"
	after := build(t, Options{Dir: writeModule(t, files)})
	if before.Digest == after.Digest {
		t.Fatalf("changing greeting.go left the digest at %s", before.Digest)
	}
	if before.Revision == after.Revision {
		t.Fatalf("changing greeting.go left the revision label at %s", before.Revision)
	}
	// The binary itself must carry the change, not only the revision label: the layer (which
	// holds no labels) differs too.
	if l1, l2 := layerDigest(t, before), layerDigest(t, after); l1 == l2 {
		t.Fatalf("changing greeting.go left the layer at %s", l1)
	}
}

func layerDigest(t *testing.T, res *Result) string {
	t.Helper()
	layers, err := res.Image.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("image layers: %d, %v; want one", len(layers), err)
	}
	d, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func TestFilesOutsideTheBinaryDoNotChangeDigest(t *testing.T) {
	t.Parallel()
	files := map[string]string{"main.go": tinyMain}
	before := build(t, Options{Dir: writeModule(t, files)})
	files["README.md"] = "notes\n"
	files["main_test.go"] = "package main\n\nimport \"testing\"\n\nfunc TestX(t *testing.T) {}\n"
	files["other/cmd.go"] = "package main\n\nfunc main() {}\n"
	after := build(t, Options{Dir: writeModule(t, files)})
	if before.Digest != after.Digest {
		t.Fatalf("a README, a test and another package changed the digest: %s -> %s", before.Digest, after.Digest)
	}
}

func TestExplicitLabelsAndTimeChangeDigest(t *testing.T) {
	t.Parallel()
	dir := writeModule(t, map[string]string{"main.go": tinyMain})
	base := build(t, Options{Dir: dir})
	if base.Source != "example.com/hello" {
		t.Errorf("default source label = %q, want the module path example.com/hello", base.Source)
	}
	for _, opts := range []Options{
		{Dir: dir, Revision: "abc123"},
		{Dir: dir, Source: "https://example.com/repo"},
		{Dir: dir, Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
	} {
		if got := build(t, opts); got.Digest == base.Digest {
			t.Errorf("Build(%+v) kept the default digest %s", opts, base.Digest)
		}
	}
}

func TestCompileErrorReturnsCompilerOutput(t *testing.T) {
	t.Parallel()
	dir := writeModule(t, map[string]string{"main.go": "package main\n\nfunc main() { undefinedThing() }\n"})
	_, err := Build(context.Background(), Options{Dir: dir})
	if err == nil {
		t.Fatal("Build of a package that does not compile returned no error")
	}
	for _, want := range []string{"go build", "main.go:3", "undefined: undefinedThing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestBadDirectoryIsReported(t *testing.T) {
	t.Parallel()
	for dir, want := range map[string]string{
		"":                                 "Options.Dir is empty",
		filepath.Join(t.TempDir(), "nope"): "does not exist",
	} {
		_, err := Build(context.Background(), Options{Dir: dir})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Build(Dir=%q) error = %v, want it to contain %q", dir, err, want)
		}
	}
}

func TestLayerCacheGivesTheSameDigestAndSurvivesDamage(t *testing.T) {
	t.Parallel()
	dir := writeModule(t, map[string]string{"main.go": tinyMain})
	cacheDir := t.TempDir()
	uncached := build(t, Options{Dir: dir, LayerCacheDir: "off"})
	filled := build(t, Options{Dir: dir, LayerCacheDir: cacheDir})
	entries, _ := filepath.Glob(filepath.Join(cacheDir, "*.tar.gz"))
	if len(entries) != 1 {
		t.Fatalf("cache has %d entries after one build, want 1", len(entries))
	}
	hit := build(t, Options{Dir: dir, LayerCacheDir: cacheDir})
	if err := os.WriteFile(entries[0], []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	repaired := build(t, Options{Dir: dir, LayerCacheDir: cacheDir})
	for name, r := range map[string]*Result{"filling the cache": filled, "cache hit": hit, "damaged cache": repaired} {
		if r.Digest != uncached.Digest {
			t.Errorf("%s: digest %s, want %s as without a cache", name, r.Digest, uncached.Digest)
		}
	}
	if b, _ := os.ReadFile(entries[0]); string(b) == "damaged" {
		t.Errorf("damaged cache entry was not replaced")
	}
}

func TestModuleToolchainPinsTheExactGoRelease(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ goMod, want string }{
		{"module m\n\ngo 1.26.8\n", "go1.26.8"},
		{"module m\n\ngo 1.26.0\n\ntoolchain go1.26.8\n", "go1.26.8"},
		{"module m\n\ngo 1.26\n", ""}, // a language version names no release: inherit
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(tc.goMod), 0o644); err != nil {
			t.Fatal(err)
		}
		sub := filepath.Join(dir, "cmd", "x")
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		got, err := moduleToolchain(sub)
		if err != nil || got != tc.want {
			t.Errorf("moduleToolchain with go.mod %q = %q, %v; want %q", tc.goMod, got, err, tc.want)
		}
	}
	if _, err := moduleToolchain(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not inside a Go module") {
		t.Errorf("moduleToolchain outside a module: %v, want an error saying so", err)
	}
}

func TestSourceRevisionIsBuildsRevisionWithoutBuilding(t *testing.T) {
	t.Parallel()
	files := map[string]string{"main.go": tinyMain}
	dir := writeModule(t, files)
	rev, err := SourceRevision(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if built := build(t, Options{Dir: dir}); built.Revision != rev {
		t.Errorf("SourceRevision = %s, Build's revision label = %s", rev, built.Revision)
	}
	files["main.go"] = "package main\n\nfunc main() { println(\"changed\") }\n"
	changed, err := SourceRevision(context.Background(), Options{Dir: writeModule(t, files)})
	if err != nil || changed == rev {
		t.Errorf("SourceRevision after a source change = %s, %v; want a new value", changed, err)
	}
	if _, err := SourceRevision(context.Background(), Options{}); err == nil {
		t.Error("SourceRevision without Dir: no error")
	}
}
