package workflows

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	pullRequestFile = "pull-request.yml"
	deployFile      = "deploy.yml"
)

var (
	previewSpec = PreviewSpec{Stack: "dev", WorkDir: "./"}
	deploySpec  = DeploySpec{Branch: "main", DefaultStack: "dev", OtherStack: "prod"}
)

// repoRoot is the directory holding go.mod, found upwards from the test's directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

func loadAll(t *testing.T) map[string]*Workflow {
	t.Helper()
	all, err := LoadAll(filepath.Join(repoRoot(t), ".github", "workflows"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{pullRequestFile, deployFile} {
		if all[f] == nil {
			t.Fatalf(".github/workflows/%s is missing", f)
		}
	}
	return all
}

func expectNone(t *testing.T, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Error(p)
	}
}

func TestPullRequestsGetAPreviewCommentOfTheDevStack(t *testing.T) {
	expectNone(t, CheckPreview(loadAll(t)[pullRequestFile], previewSpec))
}

// The preview's work-dir must be the Pulumi project of the dev stack: Pulumi.yaml (Go runtime,
// program in stacks/) and Pulumi.dev.yaml side by side.
func TestPreviewWorkDirHoldsTheDevStackProject(t *testing.T) {
	root := repoRoot(t)
	dir := filepath.Join(root, filepath.FromSlash(previewSpec.WorkDir))
	data, err := os.ReadFile(filepath.Join(dir, "Pulumi.yaml"))
	if err != nil {
		t.Fatalf("work-dir %q has no Pulumi.yaml: %v", previewSpec.WorkDir, err)
	}
	var project struct {
		Name    string    `yaml:"name"`
		Runtime yaml.Node `yaml:"runtime"`
		Main    string    `yaml:"main"`
	}
	if err := yaml.Unmarshal(data, &project); err != nil {
		t.Fatalf("Pulumi.yaml: %v", err)
	}
	runtime := project.Runtime.Value
	if project.Runtime.Kind == yaml.MappingNode {
		var r struct {
			Name string `yaml:"name"`
		}
		if err := project.Runtime.Decode(&r); err != nil {
			t.Fatal(err)
		}
		runtime = r.Name
	}
	if runtime != "go" {
		t.Errorf("Pulumi.yaml runtime = %q, want go", runtime)
	}
	if filepath.Clean(project.Main) != "stacks" {
		t.Errorf("Pulumi.yaml main = %q, want stacks/", project.Main)
	}
	if _, err := os.Stat(filepath.Join(dir, "stacks")); err != nil {
		t.Errorf("the program directory %s is missing: %v", project.Main, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "Pulumi."+previewSpec.Stack+".yaml")); err != nil {
		t.Errorf("stack %q has no settings file next to Pulumi.yaml: %v", previewSpec.Stack, err)
	}
}

func TestMainDeploysDevAndDispatchReachesOtherStacks(t *testing.T) {
	expectNone(t, CheckDeploy(loadAll(t)[deployFile], deploySpec))
}

func TestEveryActionIsPinnedToACommitWithItsVersion(t *testing.T) {
	all := loadAll(t)
	for _, f := range slices.Sorted(maps.Keys(all)) {
		expectNone(t, CheckPinned(all[f]))
	}
	expectNone(t, CheckConsistentPins(all))
}

func TestEveryJobHasTheLeastPermissions(t *testing.T) {
	all := loadAll(t)
	for _, f := range slices.Sorted(maps.Keys(all)) {
		expectNone(t, CheckLeastPermissions(all[f]))
		expectNone(t, CheckNoPullRequestTarget(all[f]))
	}
}

func TestGoogleAuthIsWorkloadIdentityFromRepositoryVariables(t *testing.T) {
	all := loadAll(t)
	for _, f := range slices.Sorted(maps.Keys(all)) {
		expectNone(t, CheckGoogleAuth(all[f]))
	}
}

// Pull-request code previews as the read-only preview account; only deploys (in a GitHub
// environment) use the deployer.
func TestPreviewUsesThePreviewIdentityAndDeployTheDeployer(t *testing.T) {
	all := loadAll(t)
	for _, f := range slices.Sorted(maps.Keys(all)) {
		expectNone(t, CheckIdentities(all[f]))
	}
	// And each file has the job it is about: a check that finds no auth step proves nothing.
	for file, job := range map[string]string{pullRequestFile: "preview", deployFile: "deploy"} {
		if len(all[file].Jobs[job].StepsUsing(AuthAction)) != 1 {
			t.Errorf("%s job %s does not authenticate to Google once", file, job)
		}
	}
	if got := all[pullRequestFile].Jobs["preview"].StepsUsing(AuthAction)[0].With["service_account"]; got != PreviewAccountVar {
		t.Errorf("preview authenticates as %q, want %q", got, PreviewAccountVar)
	}
	if got := all[deployFile].Jobs["deploy"].StepsUsing(AuthAction)[0].With["service_account"]; got != AccountVar {
		t.Errorf("deploy authenticates as %q, want %q", got, AccountVar)
	}
}

func TestGoModulesAndBuildsAreCachedOnGoSum(t *testing.T) {
	all := loadAll(t)
	for _, f := range slices.Sorted(maps.Keys(all)) {
		expectNone(t, CheckGoCache(all[f]))
	}
}

func TestStateBackendComesFromRepositorySettings(t *testing.T) {
	all := loadAll(t)
	for _, f := range slices.Sorted(maps.Keys(all)) {
		expectNone(t, CheckBackend(all[f]))
	}
}

// Each check must catch the miswiring it exists for: the real workflows, broken one way each.
func TestChecksCatchMiswiring(t *testing.T) {
	step := func(w *Workflow, job, action string) *Step { return w.Jobs[job].StepsUsing(action)[0] }
	cases := []struct {
		name   string
		file   string
		break_ func(w *Workflow)
		check  func(w *Workflow) []string
		want   string
	}{
		{"preview command", pullRequestFile, func(w *Workflow) { step(w, "preview", PulumiAction).With["command"] = "up" },
			func(w *Workflow) []string { return CheckPreview(w, previewSpec) }, "want exactly 1"},
		{"no PR comment", pullRequestFile, func(w *Workflow) { delete(step(w, "preview", PulumiAction).With, "comment-on-pr") },
			func(w *Workflow) []string { return CheckPreview(w, previewSpec) }, "comment-on-pr"},
		{"duplicated comments", pullRequestFile, func(w *Workflow) { step(w, "preview", PulumiAction).With["edit-pr-comment"] = "false" },
			func(w *Workflow) []string { return CheckPreview(w, previewSpec) }, "edit-pr-comment"},
		{"wrong stack", pullRequestFile, func(w *Workflow) { step(w, "preview", PulumiAction).With["stack-name"] = "prod" },
			func(w *Workflow) []string { return CheckPreview(w, previewSpec) }, "stack-name"},
		{"wrong work-dir", pullRequestFile, func(w *Workflow) { step(w, "preview", PulumiAction).With["work-dir"] = "stacks" },
			func(w *Workflow) []string { return CheckPreview(w, previewSpec) }, "work-dir"},
		{"forks get the preview", pullRequestFile, func(w *Workflow) { w.Jobs["preview"].If = "" },
			func(w *Workflow) []string { return CheckPreview(w, previewSpec) }, "fork"},
		{"preview before tests", pullRequestFile, func(w *Workflow) { w.Jobs["preview"].Needs = nil },
			func(w *Workflow) []string { return CheckPreview(w, previewSpec) }, "after the tests"},
		{"tests skipped for forks", pullRequestFile, func(w *Workflow) { w.Jobs["test"].If = ForkGuard },
			func(w *Workflow) []string { return CheckPreview(w, previewSpec) }, "forks included"},
		{"preview concurrency not per PR", pullRequestFile, func(w *Workflow) { w.Jobs["preview"].Concurrency.Group = "preview" },
			func(w *Workflow) []string { return CheckPreview(w, previewSpec) }, "concurrency group"},
		{"tag instead of SHA", pullRequestFile, func(w *Workflow) { step(w, "test", CheckoutAction).Uses = "actions/checkout@v6" },
			CheckPinned, "not a full 40-character commit SHA"},
		{"SHA without version", deployFile, func(w *Workflow) { step(w, "deploy", PulumiAction).UsesComment = "" },
			CheckPinned, "does not name the release"},
		{"write-all default", pullRequestFile, func(w *Workflow) { w.Permissions = &Permissions{Shorthand: "write-all"} },
			CheckLeastPermissions, "top-level permissions"},
		{"test job may write", pullRequestFile, func(w *Workflow) { w.Jobs["test"].Permissions.Scopes["contents"] = "write" },
			CheckLeastPermissions, "is not needed"},
		{"deploy may comment", deployFile, func(w *Workflow) { w.Jobs["deploy"].Permissions.Scopes["pull-requests"] = "write" },
			CheckLeastPermissions, "pull-requests: write is not needed"},
		{"preview cannot get a token", pullRequestFile, func(w *Workflow) { delete(w.Jobs["preview"].Permissions.Scopes, "id-token") },
			CheckLeastPermissions, "missing permission id-token"},
		{"pull_request_target", pullRequestFile, func(w *Workflow) { w.On.Content[0].Value = "pull_request_target" },
			CheckNoPullRequestTarget, "pull_request_target"},
		{"JSON key", deployFile, func(w *Workflow) { step(w, "deploy", AuthAction).With["credentials_json"] = "${{ secrets.KEY }}" },
			CheckGoogleAuth, "credentials_json"},
		{"preview as the deployer", pullRequestFile, func(w *Workflow) { step(w, "preview", AuthAction).With["service_account"] = AccountVar },
			CheckIdentities, "want the preview account"},
		{"deploy as the previewer", deployFile, func(w *Workflow) { step(w, "deploy", AuthAction).With["service_account"] = PreviewAccountVar },
			CheckIdentities, "want the deployer"},
		{"deploy outside an environment", deployFile, func(w *Workflow) { w.Jobs["deploy"].Environment = nil },
			CheckIdentities, "without a GitHub environment"},
		{"preview in the deploy environment", pullRequestFile, func(w *Workflow) { w.Jobs["preview"].Environment = &Environment{Name: "dev"} },
			CheckIdentities, "declares environment \"dev\""},
		{"pull request runs up", pullRequestFile, func(w *Workflow) { step(w, "preview", PulumiAction).With["command"] = "up" },
			CheckIdentities, "runs pulumi \"up\" on pull-request code"},
		{"auth after pulumi", pullRequestFile, func(w *Workflow) {
			j := w.Jobs["preview"]
			a, p := j.StepIndex(AuthAction), j.StepIndex(PulumiAction)
			j.Steps[a], j.Steps[p] = j.Steps[p], j.Steps[a]
		}, CheckGoogleAuth, "without a google-github-actions/auth step before it"},
		{"no build cache", pullRequestFile, func(w *Workflow) { step(w, "preview", SetupGoAction).With["cache"] = "false" },
			CheckGoCache, "cache"},
		{"fixed backend", deployFile, func(w *Workflow) { step(w, "deploy", PulumiAction).With["cloud-url"] = "file://~" },
			CheckBackend, "cloud-url"},
		{"no passphrase", pullRequestFile, func(w *Workflow) { delete(step(w, "preview", PulumiAction).Env, "PULUMI_CONFIG_PASSPHRASE") },
			CheckBackend, "PULUMI_CONFIG_PASSPHRASE"},
		{"token for every step", deployFile, func(w *Workflow) { w.Jobs["deploy"].Env["PULUMI_ACCESS_TOKEN"] = TokenEnv },
			CheckBackend, "env PULUMI_ACCESS_TOKEN is set for every step of the job"},
		{"passphrase for every job", pullRequestFile, func(w *Workflow) {
			w.Env = map[string]string{"PULUMI_CONFIG_PASSPHRASE": PassphraseEnv}
		}, CheckBackend, "env PULUMI_CONFIG_PASSPHRASE is set for every job"},
		{"push deploys another stack", deployFile, func(w *Workflow) { w.Jobs["deploy"].Env["STACK"] = "${{ inputs.stack || 'prod' }}" },
			func(w *Workflow) []string { return CheckDeploy(w, deploySpec) }, "push: stack-name evaluates to \"prod\""},
		{"dispatch ignores the stack input", deployFile, func(w *Workflow) { step(w, "deploy", PulumiAction).With["stack-name"] = "dev" },
			func(w *Workflow) []string { return CheckDeploy(w, deploySpec) }, "workflow_dispatch: stack-name evaluates to \"dev\""},
		{"no environment", deployFile, func(w *Workflow) { w.Jobs["deploy"].Environment = nil },
			func(w *Workflow) []string { return CheckDeploy(w, deploySpec) }, "no GitHub environment"},
		{"one group for all stacks", deployFile, func(w *Workflow) { w.Jobs["deploy"].Concurrency.Group = "deploy" },
			func(w *Workflow) []string { return CheckDeploy(w, deploySpec) }, "does not name the stack"},
		{"deploy cancelled halfway", deployFile, func(w *Workflow) { w.Jobs["deploy"].Concurrency.CancelInProgress = "true" },
			func(w *Workflow) []string { return CheckDeploy(w, deploySpec) }, "never stop a deploy"},
		{"deploy without tests", deployFile, func(w *Workflow) {
			j := w.Jobs["deploy"]
			for _, s := range j.Steps {
				s.Run = strings.ReplaceAll(s.Run, CIEntryPoint, "true")
			}
		}, func(w *Workflow) []string { return CheckDeploy(w, deploySpec) }, "does not run"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			all := loadAll(t) // fresh copy: each case breaks one thing
			w := all[c.file]
			if got := c.check(w); len(got) != 0 {
				t.Fatalf("the unbroken %s already fails: %v", c.file, got)
			}
			c.break_(w)
			got := c.check(w)
			for _, p := range got {
				if strings.Contains(p, c.want) {
					return
				}
			}
			t.Errorf("after breaking it (%s), no problem mentions %q; got %v", c.name, c.want, got)
		})
	}
}

func TestEvalFollowsGitHubOrSemantics(t *testing.T) {
	ctx := map[string]string{"inputs.stack": "prod", "env.STACK": "dev"}
	cases := map[string]string{
		"${{ inputs.stack || 'dev' }}":             "prod",
		"${{ inputs.command || 'up' }}":            "up",
		"pulumi-deploy-${{ inputs.stack || 'x' }}": "pulumi-deploy-prod",
		"${{ env.STACK }}":                         "dev",
		"plain":                                    "plain",
	}
	for expr, want := range cases {
		got, err := Eval(expr, ctx)
		if err != nil || got != want {
			t.Errorf("Eval(%q) = %q, %v; want %q", expr, got, err, want)
		}
	}
	if _, err := Eval("${{ fromJSON(inputs.x) }}", ctx); err == nil {
		t.Error("Eval accepted a function call it cannot evaluate")
	}
}

// .ci/run (what both workflows run) must lint the workflows with a pinned actionlint before the
// tests, under `set -e`, so a lint finding fails CI.
func TestCIRunLintsWorkflowsWithPinnedActionlintFirst(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	script := string(data)
	if !strings.Contains(script, "set -euo pipefail") {
		t.Error(".ci/run does not stop on the first failing command (set -euo pipefail)")
	}
	version := regexp.MustCompile(`(?m)^ACTIONLINT_VERSION=(v\d+\.\d+\.\d+)$`).FindStringSubmatch(script)
	if version == nil {
		t.Fatal(".ci/run pins no ACTIONLINT_VERSION=vX.Y.Z")
	}
	lint := strings.Index(script, `go run "github.com/rhysd/actionlint/cmd/actionlint@${ACTIONLINT_VERSION}"`)
	test := strings.Index(script, "bash .ci/test")
	if lint < 0 {
		t.Fatal(".ci/run does not run actionlint from the Go module proxy at the pinned version")
	}
	if test < 0 || test < lint {
		t.Error(".ci/run must run actionlint before the README test command (bash .ci/test)")
	}
	if strings.Contains(script[lint:strings.Index(script[lint:], "\n")+lint], "||") {
		t.Error("actionlint's failure is swallowed (||)")
	}
}
