package workflows

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	exprRE    = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)
	contextRE = regexp.MustCompile(`^(inputs|env|vars|secrets|github)(\.[A-Za-z0-9_-]+)+$`)
)

// Eval expands the ${{ }} expressions in s the way GitHub would for the given context values
// (keys like "inputs.stack", "env.STACK", "github.event_name"; absent keys are empty). It knows
// only what the workflows here use: context references, single-quoted literals and `||`, which
// yields its first non-empty operand. Anything else is an error, so a test never guesses.
func Eval(s string, ctx map[string]string) (string, error) {
	var err error
	out := exprRE.ReplaceAllStringFunc(s, func(m string) string {
		inner := exprRE.FindStringSubmatch(m)[1]
		for _, operand := range strings.Split(inner, "||") {
			operand = strings.TrimSpace(operand)
			var v string
			switch {
			case len(operand) >= 2 && strings.HasPrefix(operand, "'") && strings.HasSuffix(operand, "'"):
				v = operand[1 : len(operand)-1]
			case contextRE.MatchString(operand):
				v = ctx[operand]
			default:
				if err == nil {
					err = fmt.Errorf("expression %q: operand %q is neither a context reference nor a quoted literal", inner, operand)
				}
				return ""
			}
			if v != "" {
				return v
			}
		}
		return ""
	})
	return out, err
}

// JobContext returns ctx extended with the workflow's and the job's env values, evaluated in
// that order (job env may refer to inputs, as `STACK: ${{ inputs.stack || 'dev' }}` does).
func JobContext(w *Workflow, j *Job, ctx map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(ctx)+len(w.Env)+len(j.Env))
	for k, v := range ctx {
		out[k] = v
	}
	for _, env := range []map[string]string{w.Env, j.Env} {
		for k, v := range env {
			ev, err := Eval(v, out)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", k, err)
			}
			out["env."+k] = ev
		}
	}
	return out, nil
}
