package imagebuild

import (
	"archive/tar"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// testRegistry is go-containerregistry's in-process registry on loopback, counting requests.
type testRegistry struct {
	Host string
	mu   sync.Mutex
	reqs []string // "METHOD path"
}

func startRegistry(t *testing.T) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	inner := registry.New(registry.Logger(nopLogger()))
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

// writes returns the requests since mark that change the registry.
func (r *testRegistry) writes(mark int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var w []string
	for _, req := range r.reqs[mark:] {
		if !strings.HasPrefix(req, "GET ") && !strings.HasPrefix(req, "HEAD ") {
			w = append(w, req)
		}
	}
	return w
}

func (r *testRegistry) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.reqs) }

// layerFiles reads the single layer of img: headers by name, and file contents.
func layerFiles(t *testing.T, img v1.Image) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("image layers: %d, %v; want exactly one", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	headers, contents := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		headers[h.Name] = h
		if h.Typeflag == tar.TypeReg {
			if contents[h.Name], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	return headers, contents
}

// checkImage asserts what every image from Build must look like.
func checkImage(t *testing.T, img v1.Image, res *Result) []byte {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("User = %q, want 65532:65532", cf.Config.User)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/app"}) {
		t.Errorf("Entrypoint = %q, want [/app]", cf.Config.Entrypoint)
	}
	if !slices.Contains(cf.Config.Env, "HOME=/home/nonroot") {
		t.Errorf("Env = %q, want HOME=/home/nonroot", cf.Config.Env)
	}
	if got := cf.Config.Labels[LabelSource]; got != res.Source || got == "" {
		t.Errorf("label %s = %q, want %q", LabelSource, got, res.Source)
	}
	if got := cf.Config.Labels[LabelRevision]; got != res.Revision || !strings.HasPrefix(got, "sha256:") {
		t.Errorf("label %s = %q, want %q", LabelRevision, got, res.Revision)
	}
	if !cf.Created.Time.Equal(time.Unix(0, 0)) {
		t.Errorf("config created %v, want the Unix epoch", cf.Created.Time)
	}
	mt, _ := img.MediaType()
	if mt != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("manifest media type %s, want OCI", mt)
	}

	headers, contents := layerFiles(t, img)
	want := map[string]struct {
		typ  byte
		mode int64
		uid  int
	}{
		"app":           {tar.TypeReg, 0o555, 0},
		"etc/":          {tar.TypeDir, 0o755, 0},
		"etc/passwd":    {tar.TypeReg, 0o644, 0},
		"etc/group":     {tar.TypeReg, 0o644, 0},
		"home/nonroot/": {tar.TypeDir, 0o700, 65532},
		"tmp/":          {tar.TypeDir, 0o1777, 0},
	}
	for name, w := range want {
		h := headers[name]
		if h == nil {
			t.Errorf("layer has no %s", name)
			continue
		}
		if h.Typeflag != w.typ || h.Mode != w.mode || h.Uid != w.uid {
			t.Errorf("%s: type %c mode %o uid %d, want type %c mode %o uid %d", name, h.Typeflag, h.Mode, h.Uid, w.typ, w.mode, w.uid)
		}
	}
	for name, h := range headers {
		if !h.ModTime.Equal(time.Unix(0, 0)) {
			t.Errorf("%s: mtime %v, want the Unix epoch", name, h.ModTime)
		}
	}
	if !strings.Contains(string(contents["etc/passwd"]), "nonroot:x:65532:65532:") {
		t.Errorf("/etc/passwd has no nonroot user 65532:\n%s", contents["etc/passwd"])
	}
	return contents["app"]
}

// checkBinary asserts that the binary is static linux/amd64 with the time zone database.
func checkBinary(t *testing.T, path string) *buildinfo.BuildInfo {
	t.Helper()
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatalf("reading build info of %s: %v", path, err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	for k, v := range map[string]string{"GOOS": "linux", "GOARCH": "amd64", "CGO_ENABLED": "0", "-trimpath": "true", "-tags": "timetzdata,grpcnotrace"} {
		if settings[k] != v {
			t.Errorf("binary build setting %s = %q, want %q", k, settings[k], v)
		}
	}
	// -s: no symbol table (-ldflags is not recorded under -trimpath).
	if f, err := elf.Open(path); err != nil {
		t.Errorf("%s is not an ELF binary: %v", path, err)
	} else {
		if _, err := f.Symbols(); err != elf.ErrNoSymbols {
			t.Errorf("binary has a symbol table (%v): it was not linked with -s", err)
		}
		f.Close()
	}
	if _, ok := settings["vcs.revision"]; ok {
		t.Errorf("binary carries a VCS stamp (vcs.revision): builds would differ by checkout")
	}
	return bi
}

// startRetryingTextFileBusy starts the command newCmd makes, with a fresh one while exec fails
// with ETXTBSY: the test just wrote the binary, and a child that a parallel test forked in that
// moment holds the write descriptor until its own exec closes it.
func startRetryingTextFileBusy(newCmd func() *exec.Cmd) (*exec.Cmd, error) {
	for attempt := 0; ; attempt++ {
		cmd := newCmd()
		err := cmd.Start()
		if err == nil || !errors.Is(err, syscall.ETXTBSY) || attempt == 50 {
			return cmd, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runBinary starts the binary with PORT set, waits for GET /healthz to answer 200 and returns the body.
func runBinary(t *testing.T, path string, env ...string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	home, tmp := t.TempDir(), t.TempDir()
	out := &strings.Builder{}
	cmd, err := startRetryingTextFileBusy(func() *exec.Cmd {
		cmd := exec.Command(path)
		cmd.Env = append([]string{fmt.Sprintf("PORT=%d", port), "HOME=" + home, "TMPDIR=" + tmp}, env...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Stdout, cmd.Stderr = out, out
		return cmd
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", port)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			t.Fatalf("%s exited before answering /healthz:\n%s", path, out)
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /healthz: %s %s", resp.Status, body)
			}
			return string(body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer %s within 20s:\n%s", path, url, out)
	return ""
}

// pushPullRun pushes res to a fresh in-process registry, pulls it back, checks it, runs the
// pulled binary, and checks that a second push uploads nothing.
func pushPullRun(t *testing.T, res *Result, env ...string) (binary string, health string) {
	t.Helper()
	reg := startRegistry(t)
	ctx := context.Background()
	repo := reg.Host + "/proj/repo/app"

	ref, pushed, err := Push(ctx, res.Image, repo, PushOptions{})
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if !pushed {
		t.Fatal("first Push reported the image as already present")
	}
	if want := repo + "@" + res.Digest.String(); ref.String() != want {
		t.Fatalf("Push returned %s, want %s", ref, want)
	}
	if w := reg.writes(0); len(w) == 0 {
		t.Fatal("first Push wrote nothing to the registry")
	}

	pulledRef, err := name.NewDigest(ref.String())
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := remote.Image(pulledRef)
	if err != nil {
		t.Fatalf("pulling %s: %v", pulledRef, err)
	}
	if d, _ := pulled.Digest(); d != res.Digest {
		t.Fatalf("pulled digest %s, want %s", d, res.Digest)
	}
	appBytes := checkImage(t, pulled, res)
	binary = filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(binary, appBytes, 0o755); err != nil {
		t.Fatal(err)
	}
	checkBinary(t, binary)
	health = runBinary(t, binary, env...)

	mark := reg.count()
	ref2, pushed, err := Push(ctx, res.Image, repo, PushOptions{})
	if err != nil || pushed || ref2 != ref {
		t.Fatalf("second Push = %s, pushed=%v, %v; want %s, not pushed", ref2, pushed, err, ref)
	}
	if w := reg.writes(mark); len(w) != 0 {
		t.Fatalf("second Push of an image the registry has wrote %q", w)
	}
	return binary, health
}

const healthMain = `package main

import (
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		panic(err)
	}
}
`

func TestPushedImagePullsBackAndRuns(t *testing.T) {
	t.Parallel()
	res := build(t, Options{Dir: writeModule(t, map[string]string{"main.go": healthMain})})
	if _, health := pushPullRun(t, res); health != "ok" {
		t.Fatalf("/healthz body %q, want ok", health)
	}
}

func TestPushRejectsMalformedRepository(t *testing.T) {
	t.Parallel()
	res := build(t, Options{Dir: writeModule(t, map[string]string{"main.go": tinyMain})})
	_, _, err := Push(context.Background(), res.Image, "Not A Repo!", PushOptions{})
	if err == nil || !strings.Contains(err.Error(), `repository "Not A Repo!"`) {
		t.Fatalf("Push to a malformed repository: %v, want an error naming it", err)
	}
}

func nopLogger() *log.Logger { return log.New(io.Discard, "", 0) }
