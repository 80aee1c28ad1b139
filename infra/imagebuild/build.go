// Package imagebuild turns a Go main package into a reproducible single-layer OCI image and
// pushes it by digest. It needs only the Go toolchain: no Docker daemon, no base image.
package imagebuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"
)

// Platform the binary and the image are built for (Cloud Run runs linux/amd64).
const (
	GOOS   = "linux"
	GOARCH = "amd64"
)

// buildFlags are the go build flags that make the binary depend only on its sources and the
// toolchain: no absolute paths, no VCS stamp, no build id, no symbol table, no cgo.
var buildFlags = []string{"-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid="}

// defaultTags are set on every build. timetzdata embeds the time zone database, as the image
// has no /usr/share/zoneinfo. grpcnotrace builds gRPC without golang.org/x/net/trace (its
// /debug/requests pages, off unless grpc.EnableTracing is set): that package imports
// html/template, whose calls of methods by name make the linker keep every exported method of
// every type in the binary. Without it the app's binary is 10 MB (a third) smaller.
var defaultTags = []string{"timetzdata", "grpcnotrace"}

// goEnv returns the environment for go build/list: the caller's environment (so GOPROXY,
// GOPATH, GOMODCACHE still apply) with every setting that changes the output pinned.
func goEnv(goCache, toolchain string) []string {
	drop := map[string]bool{
		"GOOS": true, "GOARCH": true, "GOAMD64": true, "CGO_ENABLED": true, "GOFLAGS": true,
		"GOWORK": true, "GOEXPERIMENT": true, "GOCACHE": goCache != "", "GOTOOLCHAIN": toolchain != "",
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	env = append(env,
		"GOOS="+GOOS, "GOARCH="+GOARCH, "GOAMD64=v1", "CGO_ENABLED=0",
		// Non-empty so that a GOFLAGS in the user's go env file does not apply.
		"GOFLAGS=-mod=readonly",
		"GOWORK=off",
	)
	if goCache != "" {
		env = append(env, "GOCACHE="+goCache)
	}
	if toolchain != "" {
		env = append(env, "GOTOOLCHAIN="+toolchain)
	}
	return env
}

// moduleToolchain is the exact Go release the module's go.mod names (its toolchain line, else
// a go line with a patch version, e.g. "go1.26.8"), or "" when it names none. Building with
// exactly that release (the go command downloads it when the local one differs) keeps the
// binary the same on machines with another Go installed.
func moduleToolchain(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if errors.Is(err, fs.ErrNotExist) {
			if filepath.Dir(d) == d {
				return "", fmt.Errorf("imagebuild: %s is not inside a Go module (no go.mod above it)", dir)
			}
			continue
		}
		if err != nil {
			return "", err
		}
		f, err := modfile.Parse(filepath.Join(d, "go.mod"), data, nil)
		if err != nil {
			return "", err
		}
		switch {
		case f.Toolchain != nil:
			return f.Toolchain.Name, nil
		case f.Go != nil && strings.Count(f.Go.Version, ".") == 2:
			return "go" + f.Go.Version, nil
		}
		return "", nil
	}
}

// goTool runs the go command on one main package with the pinned environment.
type goTool struct {
	bin, dir, cache string
	toolchain       string // GOTOOLCHAIN, "" to inherit
	tags            []string
}

func (g goTool) run(ctx context.Context, stdout io.Writer, args ...string) error {
	full := append([]string{args[0], "-tags=" + strings.Join(g.tags, ",")}, args[1:]...)
	cmd := exec.CommandContext(ctx, g.bin, full...)
	cmd.Dir = g.dir
	cmd.Env = goEnv(g.cache, g.toolchain)
	var stderr bytes.Buffer
	cmd.Stdout = stdout
	cmd.Stderr = &stderr
	if stdout == nil {
		cmd.Stdout = &stderr
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s in %s: %w\n%s", args[0], g.dir, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// compile builds the main package into a static linux/amd64 binary at out.
// A compile error comes back with the compiler's output.
func (g goTool) compile(ctx context.Context, out string) error {
	return g.run(ctx, nil, append(append([]string{"build"}, buildFlags...), "-o", out, ".")...)
}

// listedPackage is the part of `go list -json` output that decides what the binary is made of.
type listedPackage struct {
	ImportPath string
	Dir        string
	Standard   bool
	Module     *listedModule
	GoFiles    []string
	SFiles     []string
	HFiles     []string
	SysoFiles  []string
	EmbedFiles []string
	Error      *struct{ Err string }
}

type listedModule struct {
	Path    string
	Version string
	Main    bool
	Replace *listedModule
}

// sourceInfo is what `go list` tells about the main package and everything it links.
type sourceInfo struct {
	ModulePath string // main module path, e.g. github.com/org/repo
	Revision   string // sha256 over the sources compiled into the binary
}

// inspectSources hashes exactly the files that go into the binary: for packages of the main
// module (or local replacements) their contents, for other modules their path@version (the
// go.sum-checked module content is immutable). Files that do not reach the binary (tests,
// READMEs, other commands) do not change the hash, so they do not change the image.
func (g goTool) inspectSources(ctx context.Context) (sourceInfo, error) {
	var stdout bytes.Buffer
	if err := g.run(ctx, &stdout, "list", "-deps", "-json", "."); err != nil {
		return sourceInfo{}, err
	}
	dir := g.dir
	h := sha256.New()
	var info sourceInfo
	var pkgs []listedPackage
	dec := json.NewDecoder(&stdout)
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return sourceInfo{}, fmt.Errorf("go list in %s: decoding output: %w", dir, err)
		}
		if p.Error != nil {
			return sourceInfo{}, fmt.Errorf("go list in %s: %s: %s", dir, p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p)
	}
	// -deps lists the named package last.
	if n := len(pkgs); n > 0 && pkgs[n-1].Module != nil {
		info.ModulePath = pkgs[n-1].Module.Path
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].ImportPath < pkgs[j].ImportPath })
	for _, p := range pkgs {
		if p.Standard {
			continue // part of the toolchain, which the binary's build info records
		}
		m := p.Module
		if m != nil && m.Replace != nil {
			m = m.Replace
		}
		if m != nil && m.Version != "" {
			fmt.Fprintf(h, "pkg %s %s@%s\n", p.ImportPath, m.Path, m.Version)
			continue
		}
		fmt.Fprintf(h, "pkg %s local\n", p.ImportPath)
		var files []string
		for _, group := range [][]string{p.GoFiles, p.SFiles, p.HFiles, p.SysoFiles, p.EmbedFiles} {
			files = append(files, group...)
		}
		sort.Strings(files)
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(p.Dir, f))
			if err != nil {
				return sourceInfo{}, err
			}
			fmt.Fprintf(h, "file %s/%s %d\n", p.ImportPath, filepath.ToSlash(f), len(b))
			h.Write(b)
		}
	}
	info.Revision = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return info, nil
}
