package workflows

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
