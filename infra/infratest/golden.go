package infratest

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/ with what the tests produce")

// Golden compares got with the file at path; with -update it rewrites the file instead.
func Golden(t testing.TB, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (create it with `go test -run %s -update`): %v", t.Name(), err)
	}
	if string(want) != got {
		t.Errorf("%s differs from what the program registers now; review the change and rerun with -update.\n%s",
			path, lineDiff(string(want), got))
	}
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	inWant := map[string]bool{}
	for _, l := range w {
		inWant[l] = true
	}
	inGot := map[string]bool{}
	for _, l := range g {
		inGot[l] = true
	}
	var b strings.Builder
	for _, l := range w {
		if !inGot[l] {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	for _, l := range g {
		if !inWant[l] {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	return b.String()
}

// Inventory renders what the cloud receives as readable text: resource counts by type, then,
// per resource (sorted by type and name), its parent's name and the given input paths.
// keys maps a type token to the input paths worth reviewing.
func (r *Result) Inventory(keys map[string][]string) string {
	var b strings.Builder
	counts := r.CountByType()
	types := make([]string, 0, len(counts))
	total := 0
	for typ, n := range counts {
		types = append(types, typ)
		total += n
	}
	sort.Strings(types)
	fmt.Fprintf(&b, "# %d resources\n", total)
	for _, typ := range types {
		fmt.Fprintf(&b, "%3d %s\n", counts[typ], typ)
	}
	all := r.Resources()
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].Type != all[j].Type {
			return all[i].Type < all[j].Type
		}
		return all[i].Name < all[j].Name
	})
	for _, res := range all {
		parent := "<stack>"
		if p, ok := r.ByURN(res.Parent); ok {
			parent = p.Name
		}
		fmt.Fprintf(&b, "\n%s %s (parent %s)\n", res.Type, res.Name, parent)
		// Aliases are the URNs an existing stack knows the resource by: reviewers see what moved.
		for _, alias := range res.Aliases {
			fmt.Fprintf(&b, "  was %s\n", alias)
		}
		for _, k := range keys[res.Type] {
			// Lists of objects get a line per element so a diff points at the element.
			if v, ok := res.Input(k); ok && v.IsArray() && len(v.ArrayValue()) > 1 && v.ArrayValue()[0].IsObject() {
				for i, e := range v.ArrayValue() {
					fmt.Fprintf(&b, "  %s[%d] = %s\n", k, i, Format(e))
				}
				continue
			}
			fmt.Fprintf(&b, "  %s = %s\n", k, res.InputString(k))
		}
	}
	return b.String()
}

// ConfigFromYAML reads a Pulumi stack settings file (Pulumi.<stack>.yaml) into Config the way
// the CLI hands it to a program: scalars as text, objects and lists as JSON.
func ConfigFromYAML(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := Config{}
	for k, v := range doc.Config {
		switch x := v.(type) {
		case string:
			out[k] = x
		case bool:
			out[k] = strconv.FormatBool(x)
		case int:
			out[k] = strconv.Itoa(x)
		case float64:
			out[k] = strconv.FormatFloat(x, 'f', -1, 64)
		case nil:
			out[k] = ""
		default:
			js, err := json.Marshal(x)
			if err != nil {
				return nil, fmt.Errorf("%s: config %q: %w", path, k, err)
			}
			out[k] = string(js)
		}
	}
	return out, nil
}

// Clone copies a config so a scenario can change keys without touching the original.
func (c Config) Clone() Config {
	out := make(Config, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}

// With returns a copy with the given key/value pairs set.
func (c Config) With(kv ...string) Config {
	out := c.Clone()
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}
