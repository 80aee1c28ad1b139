package workflows

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
