package workflows

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
