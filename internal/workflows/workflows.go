// Package workflows reads the repository's GitHub Actions workflows into a small typed model so
// that tests can prove how CI is wired: which action runs with which inputs, under which
// permissions and concurrency, and that every action is pinned to a commit.
//
// Only the parts of the workflow syntax this repository uses are modelled; actionlint (run by
// .ci/run) checks the syntax as a whole.
package workflows

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Workflow is one file under .github/workflows.
type Workflow struct {
	Path        string            `yaml:"-"`
	Name        string            `yaml:"name"`
	On          yaml.Node         `yaml:"on"`
	Permissions *Permissions      `yaml:"permissions"`
	Concurrency *Concurrency      `yaml:"concurrency"`
	Env         map[string]string `yaml:"env"`
	Jobs        map[string]*Job   `yaml:"jobs"`
}

// Job is one entry of a workflow's jobs map.
type Job struct {
	Name        string            `yaml:"name"`
	If          string            `yaml:"if"`
	Needs       StringList        `yaml:"needs"`
	RunsOn      string            `yaml:"runs-on"`
	Permissions *Permissions      `yaml:"permissions"`
	Concurrency *Concurrency      `yaml:"concurrency"`
	Environment *Environment      `yaml:"environment"`
	Env         map[string]string `yaml:"env"`
	Steps       []*Step           `yaml:"steps"`
}

// Step is one entry of a job's steps. UsesComment is the comment on the uses line
// (for pinned actions, the release the commit belongs to, e.g. "# v6.0.2").
type Step struct {
	Name        string            `yaml:"name"`
	ID          string            `yaml:"id"`
	If          string            `yaml:"if"`
	Uses        string            `yaml:"uses"`
	Run         string            `yaml:"run"`
	With        map[string]string `yaml:"with"`
	Env         map[string]string `yaml:"env"`
	UsesComment string            `yaml:"-"`
}

// UnmarshalYAML decodes a step and keeps the comment written after `uses:`.
func (s *Step) UnmarshalYAML(n *yaml.Node) error {
	type plain Step
	if err := n.Decode((*plain)(s)); err != nil {
		return err
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "uses" {
			s.UsesComment = strings.TrimSpace(n.Content[i+1].LineComment)
		}
	}
	return nil
}

// Action is the action a step uses without its ref ("pulumi/actions"), or "" for run steps.
func (s *Step) Action() string {
	action, _, _ := strings.Cut(s.Uses, "@")
	return action
}

// Ref is the part of `uses` after the @.
func (s *Step) Ref() string {
	_, ref, _ := strings.Cut(s.Uses, "@")
	return ref
}

// Permissions is a permissions block: either a shorthand ("read-all", "write-all") or scopes.
// An empty map (`permissions: {}`) grants nothing.
type Permissions struct {
	Shorthand string
	Scopes    map[string]string
}

// UnmarshalYAML accepts both forms of a permissions block.
func (p *Permissions) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		p.Shorthand = n.Value
		return nil
	}
	p.Scopes = map[string]string{}
	return n.Decode(&p.Scopes)
}

// String renders the permissions compactly for messages ("contents:read,id-token:write").
func (p *Permissions) String() string {
	if p == nil {
		return "<not declared>"
	}
	if p.Shorthand != "" {
		return p.Shorthand
	}
	if len(p.Scopes) == 0 {
		return "{}"
	}
	parts := make([]string, 0, len(p.Scopes))
	for k, v := range p.Scopes {
		parts = append(parts, k+":"+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// Concurrency is a concurrency block; the scalar form is a group without cancel-in-progress.
type Concurrency struct {
	Group            string `yaml:"group"`
	CancelInProgress string `yaml:"cancel-in-progress"`
}

// UnmarshalYAML accepts `concurrency: group` and the mapping form.
func (c *Concurrency) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		c.Group = n.Value
		return nil
	}
	type plain Concurrency
	return n.Decode((*plain)(c))
}

// Environment is a job's deployment environment (`environment: name` or `{name, url}`).
type Environment struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
}

// UnmarshalYAML accepts both forms of an environment.
func (e *Environment) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		e.Name = n.Value
		return nil
	}
	type plain Environment
	return n.Decode((*plain)(e))
}

// StringList is a YAML value that may be a single string or a list of strings (needs, branches).
type StringList []string

// UnmarshalYAML accepts a scalar or a sequence.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = StringList{n.Value}
		return nil
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return err
	}
	*l = s
	return nil
}

// Triggers returns the workflow's events, each with its configuration node (nil when the event
// has none, as in `on: [push]`).
func (w *Workflow) Triggers() map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	switch w.On.Kind {
	case yaml.ScalarNode:
		out[w.On.Value] = nil
	case yaml.SequenceNode:
		for _, e := range w.On.Content {
			out[e.Value] = nil
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(w.On.Content); i += 2 {
			out[w.On.Content[i].Value] = w.On.Content[i+1]
		}
	}
	return out
}

// Load parses one workflow file.
func Load(path string) (*Workflow, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var w Workflow
	if err := yaml.Unmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(w.Jobs) == 0 {
		return nil, fmt.Errorf("%s: no jobs", path)
	}
	w.Path = path
	return &w, nil
}

// LoadAll parses every *.yml and *.yaml file in dir (the repository's .github/workflows), keyed
// by file name.
func LoadAll(dir string) (map[string]*Workflow, error) {
	var files []string
	for _, pattern := range []string{"*.yml", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return nil, err
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no workflow files in %s", dir)
	}
	out := map[string]*Workflow{}
	for _, f := range files {
		w, err := Load(f)
		if err != nil {
			return nil, err
		}
		out[filepath.Base(f)] = w
	}
	return out, nil
}

// JobNames returns the workflow's job ids in a stable order.
func (w *Workflow) JobNames() []string {
	names := make([]string, 0, len(w.Jobs))
	for name := range w.Jobs {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// StepsUsing returns the steps of the job that use the given action (any ref), in order.
func (j *Job) StepsUsing(action string) []*Step {
	var out []*Step
	for _, s := range j.Steps {
		if s.Action() == action {
			out = append(out, s)
		}
	}
	return out
}

// StepIndex is the position of the first step using the action, or -1.
func (j *Job) StepIndex(action string) int {
	for i, s := range j.Steps {
		if s.Action() == action {
			return i
		}
	}
	return -1
}
