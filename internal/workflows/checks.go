package workflows

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Actions the checks look for.
const (
	PulumiAction   = "pulumi/actions"
	AuthAction     = "google-github-actions/auth"
	SetupGoAction  = "actions/setup-go"
	CheckoutAction = "actions/checkout"
)

// ForkGuard is the job condition that keeps fork pull requests (no secrets, no OIDC token) out of
// a job.
const ForkGuard = "github.event.pull_request.head.repo.full_name == github.repository"

// CIEntryPoint is the command CI runs: actionlint, then the README test command.
const CIEntryPoint = "bash .ci/run"

// Repository settings the workflows read (README, "CI").
const (
	ProviderVar   = "${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}"
	AccountVar    = "${{ vars.GCP_SERVICE_ACCOUNT }}"
	BackendVar    = "${{ vars.PULUMI_BACKEND_URL }}"
	PassphraseEnv = "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"
	TokenEnv      = "${{ secrets.PULUMI_ACCESS_TOKEN }}"
)

var (
	shaRE            = regexp.MustCompile(`^[0-9a-f]{40}$`)
	versionCommentRE = regexp.MustCompile(`^# v\d+(\.\d+){0,2}$`)
)

// problems collects findings with the workflow file and job as a prefix.
type problems struct {
	file string
	list []string
}

func (p *problems) add(job, format string, args ...any) {
	where := p.file
	if job != "" {
		where += " job " + job
	}
	p.list = append(p.list, where+": "+fmt.Sprintf(format, args...))
}

func newProblems(w *Workflow) *problems { return &problems{file: path.Base(w.Path)} }

// CheckPinned reports every remote action not pinned to a full commit SHA with a version comment
// ("uses: owner/repo@<40 hex> # v1.2.3"), so a moved tag cannot change what CI runs.
func CheckPinned(w *Workflow) []string {
	p := newProblems(w)
	for _, name := range w.JobNames() {
		for i, s := range w.Jobs[name].Steps {
			if s.Uses == "" || strings.HasPrefix(s.Uses, "./") {
				continue
			}
			if !shaRE.MatchString(s.Ref()) {
				p.add(name, "step %d uses %q: ref %q is not a full 40-character commit SHA", i, s.Uses, s.Ref())
			}
			if !versionCommentRE.MatchString(s.UsesComment) {
				p.add(name, "step %d uses %q: comment %q does not name the release (want \"# vX.Y.Z\")", i, s.Uses, s.UsesComment)
			}
		}
	}
	return p.list
}

// CheckConsistentPins reports an action pinned to different commits or versions in different
// places: one update must move every use.
func CheckConsistentPins(all map[string]*Workflow) []string {
	type pin struct{ where, ref, comment string }
	seen := map[string]pin{}
	var out []string
	for _, file := range sortedKeys(all) {
		w := all[file]
		for _, job := range w.JobNames() {
			for _, s := range w.Jobs[job].Steps {
				if s.Uses == "" || strings.HasPrefix(s.Uses, "./") {
					continue
				}
				here := pin{file + " job " + job, s.Ref(), s.UsesComment}
				if first, ok := seen[s.Action()]; ok && (first.ref != here.ref || first.comment != here.comment) {
					out = append(out, fmt.Sprintf("%s pins %s@%s %s but %s pins it @%s %s",
						here.where, s.Action(), here.ref, here.comment, first.where, first.ref, first.comment))
					continue
				}
				seen[s.Action()] = here
			}
		}
	}
	return out
}

// CheckLeastPermissions reports a workflow that grants more than its jobs use: the workflow
// default must grant nothing (or contents: read), every job must declare its own permissions,
// no shorthand (read-all/write-all), and the only writes are id-token (a job that authenticates
// to Google) and pull-requests (a job that comments on the PR) — each present exactly when used.
func CheckLeastPermissions(w *Workflow) []string {
	p := newProblems(w)
	switch {
	case w.Permissions == nil:
		p.add("", "no top-level permissions: the default token would get the repository's default scopes")
	case w.Permissions.Shorthand != "":
		p.add("", "top-level permissions %q: declare {} and grant per job", w.Permissions.Shorthand)
	default:
		for scope, level := range w.Permissions.Scopes {
			if !(scope == "contents" && level == "read") {
				p.add("", "top-level permission %s: %s: grant it on the job that needs it", scope, level)
			}
		}
	}
	for _, name := range w.JobNames() {
		j := w.Jobs[name]
		if j.Permissions == nil {
			p.add(name, "declares no permissions")
			continue
		}
		if j.Permissions.Shorthand != "" {
			p.add(name, "permissions %q: list the scopes it needs", j.Permissions.Shorthand)
			continue
		}
		usesAuth := len(j.StepsUsing(AuthAction)) > 0
		comments := false
		for _, s := range j.StepsUsing(PulumiAction) {
			comments = comments || s.With["comment-on-pr"] == "true"
		}
		want := map[string]string{}
		if len(j.StepsUsing(CheckoutAction)) > 0 {
			want["contents"] = "read"
		}
		if usesAuth {
			want["id-token"] = "write"
		}
		if comments {
			want["pull-requests"] = "write"
		}
		for scope, level := range j.Permissions.Scopes {
			if want[scope] != level {
				p.add(name, "permission %s: %s is not needed (needs %s)", scope, level, (&Permissions{Scopes: want}).String())
			}
		}
		for scope, level := range want {
			if j.Permissions.Scopes[scope] != level {
				p.add(name, "missing permission %s: %s (its steps need it)", scope, level)
			}
		}
	}
	return p.list
}

// CheckNoPullRequestTarget reports the pull_request_target trigger, which runs fork code with
// the base repository's secrets.
func CheckNoPullRequestTarget(w *Workflow) []string {
	p := newProblems(w)
	if _, ok := w.Triggers()["pull_request_target"]; ok {
		p.add("", "pull_request_target would hand secrets to fork code; use pull_request")
	}
	return p.list
}

// CheckGoogleAuth reports Google auth that is not Workload Identity Federation from the repository
// variables, and Pulumi steps that run without authenticating first.
func CheckGoogleAuth(w *Workflow) []string {
	p := newProblems(w)
	for _, name := range w.JobNames() {
		j := w.Jobs[name]
		for _, s := range j.StepsUsing(AuthAction) {
			if _, ok := s.With["credentials_json"]; ok {
				p.add(name, "%s uses credentials_json: use workload_identity_provider (no JSON keys)", AuthAction)
			}
			if got := s.With["workload_identity_provider"]; got != ProviderVar {
				p.add(name, "%s workload_identity_provider = %q, want %q", AuthAction, got, ProviderVar)
			}
			if got := s.With["service_account"]; got != AccountVar {
				p.add(name, "%s service_account = %q, want %q", AuthAction, got, AccountVar)
			}
		}
		if pi := j.StepIndex(PulumiAction); pi >= 0 {
			if ai := j.StepIndex(AuthAction); ai < 0 || ai > pi {
				p.add(name, "runs %s without a %s step before it", PulumiAction, AuthAction)
			}
		}
	}
	return p.list
}

// CheckGoCache reports setup-go steps that do not cache modules and builds keyed on go.sum, and
// Pulumi steps without Go set up (and its cache restored) before them.
func CheckGoCache(w *Workflow) []string {
	p := newProblems(w)
	for _, name := range w.JobNames() {
		j := w.Jobs[name]
		for _, s := range j.StepsUsing(SetupGoAction) {
			for key, want := range map[string]string{"go-version-file": "go.mod", "cache": "true", "cache-dependency-path": "go.sum"} {
				if got := s.With[key]; got != want {
					p.add(name, "%s %s = %q, want %q", SetupGoAction, key, got, want)
				}
			}
		}
		if pi := j.StepIndex(PulumiAction); pi >= 0 {
			if gi := j.StepIndex(SetupGoAction); gi < 0 || gi > pi {
				p.add(name, "runs %s without %s (and its build cache) before it", PulumiAction, SetupGoAction)
			}
		}
	}
	return p.list
}

// CheckBackend reports Pulumi steps whose state backend is not the configurable one: cloud-url
// from the PULUMI_BACKEND_URL variable (gs://... or empty for Pulumi Cloud), with the passphrase
// and the Pulumi Cloud token from secrets, set on the Pulumi step only: in the workflow's or a
// job's env every other step (third-party actions, the tests) would get them too.
func CheckBackend(w *Workflow) []string {
	p := newProblems(w)
	backendSecrets := map[string]string{"PULUMI_CONFIG_PASSPHRASE": PassphraseEnv, "PULUMI_ACCESS_TOKEN": TokenEnv}
	for key := range backendSecrets {
		if _, ok := w.Env[key]; ok {
			p.add("", "env %s is set for every job; set it on the %s step only", key, PulumiAction)
		}
	}
	for _, name := range w.JobNames() {
		j := w.Jobs[name]
		for key := range backendSecrets {
			if _, ok := j.Env[key]; ok {
				p.add(name, "env %s is set for every step of the job; set it on the %s step only", key, PulumiAction)
			}
		}
		for _, s := range j.StepsUsing(PulumiAction) {
			if got := s.With["cloud-url"]; got != BackendVar {
				p.add(name, "%s cloud-url = %q, want %q", PulumiAction, got, BackendVar)
			}
			for key, want := range backendSecrets {
				if got := s.Env[key]; got != want {
					p.add(name, "%s step env %s = %q, want %q", PulumiAction, key, got, want)
				}
			}
		}
	}
	return p.list
}

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

func runs(j *Job, command string) bool {
	for _, s := range j.Steps {
		if strings.Contains(s.Run, command) {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
