package imagebuild

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// appDir is the bundled app, the package main that the stack deploys.
const appDir = "../../app"

// appOptions are the options infra.AppImage builds the app with.
func appOptions() Options { return Options{Dir: appDir} }

// caRootsPackage is Mozilla's CA roots compiled in: the image has no /etc/ssl/certs, so the app
// must import it itself (app/main.go does).
const caRootsPackage = "golang.org/x/crypto/x509roots/fallback"

// Targets from the issue.
const (
	maxCompressedBytes = 10_000_000
	maxWarmBuild       = 5 * time.Second
)

func requireApp(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(appDir, "main.go")); err != nil {
		t.Fatalf("the bundled app is missing (%v): app/main.go is the package the image is built from", err)
	}
}

func TestAppImageIsSmallRunsAndCarriesCARootsAndTimeZones(t *testing.T) {
	t.Parallel()
	requireApp(t)
	res := build(t, appOptions())
	if res.CompressedSize >= maxCompressedBytes {
		t.Errorf("app image is %d bytes compressed, target < %d", res.CompressedSize, maxCompressedBytes)
	}
	if want := "https://github.com/cloudrun-affinity/cloudrun-affinity"; res.Source != want {
		t.Errorf("source label %q, want %q", res.Source, want)
	}
	// With neither REDIS_ADDR nor FIRESTORE_DATABASE the app runs on in-memory stores.
	bin, _ := pushPullRun(t, res)
	bi := checkBinary(t, bin)
	found := false
	for _, d := range bi.Deps {
		found = found || d.Path == caRootsPackage
	}
	if !found {
		t.Errorf("binary does not link %s: TLS to Google APIs would fail in an image without /etc/ssl/certs; blank-import it in app/main.go", caRootsPackage)
	}
	// go.mod says go 1.26.8: the build uses exactly that release wherever it runs.
	if bi.GoVersion != "go1.26.8" {
		t.Errorf("binary built with %s, want go1.26.8 as go.mod pins", bi.GoVersion)
	}
	if bi.Path != "github.com/cloudrun-affinity/cloudrun-affinity/app" {
		t.Errorf("binary main package %q, want the app", bi.Path)
	}
}

// BenchmarkBuildAppWarm is `pulumi preview` of an unchanged app: warm Go cache, layer cached.
func BenchmarkBuildAppWarm(b *testing.B) {
	requireApp(b)
	benchmarkBuild(b, appOptions(), maxWarmBuild)
}

// BenchmarkBuildAppChanged is a preview after an app change: warm Go cache, relink, gzip.
func BenchmarkBuildAppChanged(b *testing.B) {
	requireApp(b)
	opts := appOptions()
	opts.LayerCacheDir = "off"
	benchmarkBuild(b, opts, maxWarmBuild)
}

// BenchmarkBuildAppCold is a fresh machine: empty Go build cache (modules already downloaded).
// Slow (minutes on 2 cores): run with -benchtime=1x.
func BenchmarkBuildAppCold(b *testing.B) {
	requireApp(b)
	benchmarkBuild(b, appOptions(), 0)
}

func benchmarkBuild(b *testing.B, opts Options, limit time.Duration) {
	cold := b.Name() == "BenchmarkBuildAppCold" || limit == 0
	var res *Result
	var total time.Duration
	n := 0
	for b.Loop() {
		o := opts
		if cold {
			b.StopTimer()
			o.GoCache, o.LayerCacheDir = b.TempDir(), "off"
			b.StartTimer()
		}
		start := time.Now()
		var err error
		if res, err = Build(b.Context(), o); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		n++
	}
	b.ReportMetric(float64(res.CompressedSize)/1e6, "compressed-MB")
	b.ReportMetric(float64(res.BinarySize)/1e6, "binary-MB")
	if avg := total / time.Duration(n); limit > 0 && avg > limit {
		b.Errorf("build+digest took %v on average, target < %v", avg, limit)
	}
	if res.CompressedSize >= maxCompressedBytes {
		b.Errorf("compressed image %d bytes, target < %d", res.CompressedSize, maxCompressedBytes)
	}
}
