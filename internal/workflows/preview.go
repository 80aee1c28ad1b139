package workflows

import (
	"path"
	"strings"
)

// PreviewSpec is what the pull-request preview must do.
type PreviewSpec struct {
	Stack   string // stack-name
	WorkDir string // work-dir, relative to the repository root
}

// CheckPreview reports what keeps w from being the pull-request preview: a pull_request trigger;
// exactly one job running pulumi/actions with command: preview, the stack and work-dir of spec,
// comment-on-pr: true and the comment edited rather than duplicated; that job skipped for forks,
// after a test job that runs for every PR (forks included), in a concurrency group per stack and
// PR that cancels a superseded preview.
func CheckPreview(w *Workflow, spec PreviewSpec) []string {
	p := newProblems(w)
	triggers := w.Triggers()
	if _, ok := triggers["pull_request"]; !ok {
		p.add("", "not triggered by pull_request")
	}
	var jobs []string
	for _, name := range w.JobNames() {
		for _, s := range w.Jobs[name].StepsUsing(PulumiAction) {
			if s.With["command"] == "preview" {
				jobs = append(jobs, name)
			}
		}
	}
	if len(jobs) != 1 {
		p.add("", "%d steps run %s with command: preview (jobs %v), want exactly 1", len(jobs), PulumiAction, jobs)
		return p.list
	}
	name := jobs[0]
	j := w.Jobs[name]
	s := j.StepsUsing(PulumiAction)[0]
	if got := s.With["stack-name"]; got != spec.Stack {
		p.add(name, "stack-name = %q, want %q", got, spec.Stack)
	}
	if got := path.Clean(s.With["work-dir"]); got != path.Clean(spec.WorkDir) || s.With["work-dir"] == "" {
		p.add(name, "work-dir = %q, want %q", s.With["work-dir"], spec.WorkDir)
	}
	if got := s.With["comment-on-pr"]; got != "true" {
		p.add(name, "comment-on-pr = %q, want \"true\"", got)
	}
	if got := s.With["edit-pr-comment"]; got != "true" {
		p.add(name, "edit-pr-comment = %q, want \"true\" (update the one comment, do not add one per push)", got)
	}
	if !strings.Contains(j.If, ForkGuard) {
		p.add(name, "if = %q: fork PRs have no secrets, guard the job with %q", j.If, ForkGuard)
	}
	tested := false
	for _, need := range j.Needs {
		t, ok := w.Jobs[need]
		if !ok {
			p.add(name, "needs unknown job %q", need)
			continue
		}
		if runs(t, CIEntryPoint) {
			tested = true
			if t.If != "" {
				p.add(need, "if = %q: the tests must run for every PR, forks included", t.If)
			}
		}
	}
	if !tested {
		p.add(name, "needs no job that runs %q: the preview must come after the tests", CIEntryPoint)
	}
	if j.Concurrency == nil {
		p.add(name, "no concurrency group")
	} else {
		if !strings.Contains(j.Concurrency.Group, spec.Stack) || !strings.Contains(j.Concurrency.Group, "github.event.pull_request.number") {
			p.add(name, "concurrency group %q must name the stack %q and the PR number", j.Concurrency.Group, spec.Stack)
		}
		if j.Concurrency.CancelInProgress != "true" {
			p.add(name, "concurrency cancel-in-progress = %q, want \"true\" (a new push supersedes the preview)", j.Concurrency.CancelInProgress)
		}
	}
	return p.list
}
