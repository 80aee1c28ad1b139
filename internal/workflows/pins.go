package workflows

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

var (
	shaRE            = regexp.MustCompile(`^[0-9a-f]{40}$`)
	versionCommentRE = regexp.MustCompile(`^# v\d+(\.\d+){0,2}$`)
)

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
	for _, file := range slices.Sorted(maps.Keys(all)) {
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
