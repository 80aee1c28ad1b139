package infratest

import (
	"errors"
	"fmt"
	"sort"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Mode is how the engine runs the program.
type Mode int

const (
	// Preview is `pulumi preview` of a new stack: a dry run, computed outputs are unknown.
	Preview Mode = iota
	// Update is `pulumi up`: outputs are known.
	Update
)

// Modes lists both modes, for table tests.
var Modes = []Mode{Preview, Update}

func (m Mode) String() string {
	if m == Preview {
		return "preview"
	}
	return "update"
}

// Config is stack configuration with full keys ("gcp:project", "cloudrun-affinity:tier");
// values are what Pulumi hands the program: strings, with numbers and booleans in their text
// form and objects/lists as JSON.
type Config map[string]string

// Option changes how Run runs a program.
type Option func(*runSettings)

type runSettings struct {
	stack      string
	config     Config
	secretKeys []string
	rootDir    string
	mocks      func(*Mocks)
}

// WithConfig sets the stack configuration.
func WithConfig(c Config) Option { return func(s *runSettings) { s.config = c } }

// WithSecretKeys marks config keys as secret.
func WithSecretKeys(keys ...string) Option {
	return func(s *runSettings) { s.secretKeys = append(s.secretKeys, keys...) }
}

// WithRootDirectory sets ctx.RootDirectory(), the directory of Pulumi.yaml (default: the
// test's working directory, as the SDK leaves it empty).
func WithRootDirectory(dir string) Option { return func(s *runSettings) { s.rootDir = dir } }

// WithStack sets the stack name (default "test").
func WithStack(name string) Option { return func(s *runSettings) { s.stack = name } }

// WithMocksSetup lets a test adjust the recorder (extra outputs, invokes) before the run.
func WithMocksSetup(f func(*Mocks)) Option { return func(s *runSettings) { s.mocks = f } }

// Result is what one run recorded.
type Result struct {
	Mode    Mode
	Mocks   *Mocks
	Exports map[string]Value // stack exports, awaited after the run
}

// Run runs program on the mock runtime in the given mode. The error is the program's error
// (or an export that failed to resolve); the result holds whatever was registered before it.
func Run(mode Mode, program pulumi.RunFunc, opts ...Option) (*Result, error) {
	s := runSettings{stack: DefaultStack, config: Config{}}
	for _, o := range opts {
		o(&s)
	}
	project := s.config["gcp:project"]
	if project == "" {
		project = "mock-project"
	}
	region := s.config["gcp:region"]
	if region == "" {
		region = "us-central1"
	}
	mocks := NewMocks(project, region, mode == Preview)
	mocks.Stack = s.stack
	if s.mocks != nil {
		s.mocks(mocks)
	}

	var exports map[string]pulumi.Input
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		err := program(ctx)
		exports = ctx.GetCurrentExportMap()
		return err
	},
		pulumi.WithMocks(mocks.PulumiProject, s.stack, mocks),
		func(info *pulumi.RunInfo) {
			info.DryRun = mode == Preview
			info.Config = map[string]string(s.config)
			info.ConfigSecretKeys = s.secretKeys
			if s.rootDir != "" {
				info.RootDirectory = s.rootDir
			}
		},
	)
	res := &Result{Mode: mode, Mocks: mocks, Exports: map[string]Value{}}
	for k, in := range exports {
		v, aerr := AwaitErr(pulumi.ToOutput(in))
		if aerr != nil {
			err = errors.Join(err, fmt.Errorf("export %q: %w", k, aerr))
			continue
		}
		res.Exports[k] = v
	}
	return res, err
}

// MustRun is Run that fails the test on error.
func MustRun(t testing.TB, mode Mode, program pulumi.RunFunc, opts ...Option) *Result {
	t.Helper()
	res, err := Run(mode, program, opts...)
	if err != nil {
		t.Fatalf("%s: program failed: %v", mode, err)
	}
	return res
}

// EachMode runs f as a subtest once per mode (preview, then update).
func EachMode(t *testing.T, f func(t *testing.T, mode Mode)) {
	t.Helper()
	for _, m := range Modes {
		t.Run(m.String(), func(t *testing.T) { f(t, m) })
	}
}

// Resources returns every registration in order.
func (r *Result) Resources() []Resource { return r.Mocks.Resources() }

// OfType returns the registrations of one type token, in order.
func (r *Result) OfType(typ string) []Resource {
	var out []Resource
	for _, res := range r.Resources() {
		if res.Type == typ {
			out = append(out, res)
		}
	}
	return out
}

// One returns the only resource of a type, failing the test if there is not exactly one.
func (r *Result) One(t testing.TB, typ string) Resource {
	t.Helper()
	all := r.OfType(typ)
	if len(all) != 1 {
		t.Fatalf("want exactly one %s, got %d: %v", typ, len(all), names(all))
	}
	return all[0]
}

// Named returns the resource with a type and logical name, failing the test if absent.
func (r *Result) Named(t testing.TB, typ, name string) Resource {
	t.Helper()
	for _, res := range r.OfType(typ) {
		if res.Name == name {
			return res
		}
	}
	t.Fatalf("no %s named %q; have %v", typ, name, names(r.OfType(typ)))
	return Resource{}
}

// ByURN finds a resource by URN.
func (r *Result) ByURN(urn string) (Resource, bool) {
	for _, res := range r.Resources() {
		if res.URN == urn {
			return res, true
		}
	}
	return Resource{}, false
}

// WaitsFor reports whether r depends on urn directly or through the resources it depends on:
// what the engine would wait for before creating r.
func (r *Result) WaitsFor(res Resource, urn string) bool {
	seen := map[string]bool{}
	var walk func(Resource) bool
	walk = func(res Resource) bool {
		if seen[res.URN] {
			return false
		}
		seen[res.URN] = true
		for _, d := range res.Dependencies {
			if d == urn {
				return true
			}
			if dep, ok := r.ByURN(d); ok && walk(dep) {
				return true
			}
		}
		return false
	}
	return walk(res)
}

// Children returns the resources whose parent is urn.
func (r *Result) Children(urn string) []Resource {
	var out []Resource
	for _, res := range r.Resources() {
		if res.Parent == urn {
			out = append(out, res)
		}
	}
	return out
}

// CountByType counts registrations per type token.
func (r *Result) CountByType() map[string]int {
	out := map[string]int{}
	for _, res := range r.Resources() {
		out[res.Type]++
	}
	return out
}

// Export returns an awaited stack export, failing the test if it was not exported.
func (r *Result) Export(t testing.TB, name string) Value {
	t.Helper()
	v, ok := r.Exports[name]
	if !ok {
		keys := make([]string, 0, len(r.Exports))
		for k := range r.Exports {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Fatalf("no export %q; have %v", name, keys)
	}
	return v
}

func names(rs []Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}
