package workflows

import (
	"slices"
	"strings"
)

// DeploySpec is what the deploy workflow must do.
type DeploySpec struct {
	Branch       string // pushes to it deploy DefaultStack
	DefaultStack string
	OtherStack   string // a stack dispatched by hand, to prove the stack input reaches everything
}

// CheckDeploy reports what keeps w from being the deploy workflow. It evaluates the workflow's
// expressions for a push to spec.Branch and for a workflow_dispatch of spec.OtherStack, and
// requires for both: exactly one job running pulumi/actions, the tests (CIEntryPoint) before it,
// the GitHub environment named after the stack, and a concurrency group per stack that never
// cancels a running deploy. A push runs `up` of the default stack.
func CheckDeploy(w *Workflow, spec DeploySpec) []string {
	p := newProblems(w)
	triggers := w.Triggers()
	if push, ok := triggers["push"]; !ok || push == nil {
		p.add("", "not triggered by push to %s", spec.Branch)
	} else {
		var cfg struct {
			Branches StringList `yaml:"branches"`
		}
		if err := push.Decode(&cfg); err != nil || !slices.Equal(cfg.Branches, StringList{spec.Branch}) {
			p.add("", "push branches = %v, want [%s]", cfg.Branches, spec.Branch)
		}
	}
	dispatch, ok := triggers["workflow_dispatch"]
	if !ok || dispatch == nil {
		p.add("", "no workflow_dispatch with a stack input")
		return p.list
	}
	var cfg struct {
		Inputs map[string]struct {
			Type     string     `yaml:"type"`
			Default  string     `yaml:"default"`
			Options  StringList `yaml:"options"`
			Required bool       `yaml:"required"`
		} `yaml:"inputs"`
	}
	if err := dispatch.Decode(&cfg); err != nil {
		p.add("", "workflow_dispatch: %v", err)
		return p.list
	}
	if in, ok := cfg.Inputs["stack"]; !ok || in.Default != spec.DefaultStack {
		p.add("", "workflow_dispatch input stack missing or its default is not %q", spec.DefaultStack)
	}

	var jobs []string
	for _, name := range w.JobNames() {
		if len(w.Jobs[name].StepsUsing(PulumiAction)) > 0 {
			jobs = append(jobs, name)
		}
	}
	if len(jobs) != 1 {
		p.add("", "%d jobs run %s (%v), want exactly 1", len(jobs), PulumiAction, jobs)
		return p.list
	}
	name := jobs[0]
	j := w.Jobs[name]
	pulumiAt := j.StepIndex(PulumiAction)
	testAt := slices.IndexFunc(j.Steps, func(s *Step) bool { return strings.Contains(s.Run, CIEntryPoint) })
	if testAt < 0 || testAt > pulumiAt {
		p.add(name, "does not run %q before %s", CIEntryPoint, PulumiAction)
	}
	if j.Concurrency != nil && j.Concurrency.CancelInProgress != "false" {
		p.add(name, "concurrency cancel-in-progress = %q, want \"false\" (never stop a deploy halfway)", j.Concurrency.CancelInProgress)
	}
	step := j.Steps[pulumiAt]
	if _, ok := step.With["comment-on-pr"]; ok {
		p.add(name, "comment-on-pr set on a job that has no pull request")
	}

	cases := []struct {
		event, stack, command string
		ctx                   map[string]string
	}{
		{"push", spec.DefaultStack, "up", map[string]string{"github.event_name": "push", "github.ref": "refs/heads/" + spec.Branch}},
		{"workflow_dispatch", spec.OtherStack, "up", map[string]string{"github.event_name": "workflow_dispatch",
			"inputs.stack": spec.OtherStack, "inputs.command": "up"}},
	}
	for _, c := range cases {
		ctx, err := JobContext(w, j, c.ctx)
		if err != nil {
			p.add(name, "%s: %v", c.event, err)
			continue
		}
		eval := func(what, expr string) string {
			v, err := Eval(expr, ctx)
			if err != nil {
				p.add(name, "%s: %s: %v", c.event, what, err)
			}
			return v
		}
		if got := eval("command", step.With["command"]); got != c.command {
			p.add(name, "%s: command evaluates to %q, want %q", c.event, got, c.command)
		}
		if got := eval("stack-name", step.With["stack-name"]); got != c.stack {
			p.add(name, "%s: stack-name evaluates to %q, want %q", c.event, got, c.stack)
		}
		if j.Environment == nil {
			p.add(name, "%s: no GitHub environment: deploys must go through one", c.event)
		} else if got := eval("environment", j.Environment.Name); got != c.stack {
			p.add(name, "%s: environment evaluates to %q, want %q", c.event, got, c.stack)
		}
		if j.Concurrency == nil {
			p.add(name, "%s: no concurrency group: two deploys of a stack could overlap", c.event)
		} else if got := eval("concurrency group", j.Concurrency.Group); !strings.Contains(got, c.stack) {
			p.add(name, "%s: concurrency group evaluates to %q, which does not name the stack %q", c.event, got, c.stack)
		}
	}
	return p.list
}
