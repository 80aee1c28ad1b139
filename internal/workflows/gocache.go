package workflows

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
