package workflows

// CheckGoogleAuth reports Google auth that is not Workload Identity Federation from the repository
// variables, and Pulumi steps that run without authenticating first. Which service account a job
// may use is CheckIdentities'.
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
		}
		if pi := j.StepIndex(PulumiAction); pi >= 0 {
			if ai := j.StepIndex(AuthAction); ai < 0 || ai > pi {
				p.add(name, "runs %s without a %s step before it", PulumiAction, AuthAction)
			}
		}
	}
	return p.list
}

// CheckIdentities reports a job that authenticates as the wrong service account for what it
// runs (the bootstrap binds each account to what the token says: README, "CI").
//
// A workflow triggered by pull requests runs the pull request's code: its jobs authenticate as
// the read-only preview account (PreviewAccountVar), run nothing but `pulumi preview`, and
// declare no GitHub environment, whose claim is what the deployer accepts. Every other job that
// authenticates is a deploy: it uses the deployer (AccountVar) and declares an environment,
// without which its token cannot impersonate the deployer.
func CheckIdentities(w *Workflow) []string {
	p := newProblems(w)
	triggers := w.Triggers()
	_, pr := triggers["pull_request"]
	_, prTarget := triggers["pull_request_target"]
	for _, name := range w.JobNames() {
		j := w.Jobs[name]
		auth := j.StepsUsing(AuthAction)
		if pr || prTarget {
			if j.Environment != nil {
				p.add(name, "declares environment %q in a pull-request workflow: its token would carry the claim the deployer accepts", j.Environment.Name)
			}
			for _, s := range j.StepsUsing(PulumiAction) {
				if got := s.With["command"]; got != "preview" {
					p.add(name, "runs pulumi %q on pull-request code; only preview, which the preview account can do", got)
				}
			}
			for _, s := range auth {
				if got := s.With["service_account"]; got != PreviewAccountVar {
					p.add(name, "%s service_account = %q on pull-request code, want the preview account %q", AuthAction, got, PreviewAccountVar)
				}
			}
			continue
		}
		for _, s := range auth {
			if got := s.With["service_account"]; got != AccountVar {
				p.add(name, "%s service_account = %q, want the deployer %q", AuthAction, got, AccountVar)
			}
		}
		if len(auth) > 0 && j.Environment == nil {
			p.add(name, "authenticates as the deployer without a GitHub environment: the deployer accepts only jobs of the deploy environments")
		}
	}
	return p.list
}
