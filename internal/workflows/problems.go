package workflows

import (
	"fmt"
	"path"
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
	ProviderVar       = "${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}"
	AccountVar        = "${{ vars.GCP_SERVICE_ACCOUNT }}"         // the deployer
	PreviewAccountVar = "${{ vars.GCP_PREVIEW_SERVICE_ACCOUNT }}" // the read-only previewer
	BackendVar        = "${{ vars.PULUMI_BACKEND_URL }}"
	PassphraseEnv     = "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"
	TokenEnv          = "${{ secrets.PULUMI_ACCESS_TOKEN }}"
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

func runs(j *Job, command string) bool {
	for _, s := range j.Steps {
		if strings.Contains(s.Run, command) {
			return true
		}
	}
	return false
}
