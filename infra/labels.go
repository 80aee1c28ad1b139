package infra

import (
	"fmt"
	"regexp"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Labels the stack sets on every resource that takes labels; users add their own with the
// stack setting `labels` but cannot change these.
const (
	LabelApp       = "app"
	LabelStack     = "stack"
	LabelManagedBy = "managed-by"
)

// ReservedLabels are the keys the stack sets itself.
var ReservedLabels = []string{LabelApp, LabelStack, LabelManagedBy}

// Google Cloud's label rules (cloud.google.com/resource-manager/docs/labels-overview#requirements):
// at most 64 labels; keys 1-63 characters starting with a lowercase letter; keys and values
// only lowercase letters, digits, _ and -; values at most 63 characters, possibly empty.
// (International characters are allowed too; this stack keeps to ASCII.)
var (
	labelKeyPattern   = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	labelValuePattern = regexp.MustCompile(`^[a-z0-9_-]{0,63}$`)
)

const maxLabels = 64

// LabelProblems lists what is wrong with labels a user asks for, one message per bad key.
func LabelProblems(labels map[string]string) []string {
	var out []string
	if len(labels)+len(ReservedLabels) > maxLabels {
		out = append(out, fmt.Sprintf("has %d labels; Google Cloud allows %d per resource, %d of them set by the stack",
			len(labels), maxLabels, len(ReservedLabels)))
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch v := labels[k]; {
		case oneOf(k, ReservedLabels...):
			out = append(out, fmt.Sprintf("key %q is set by the stack; use another key", k))
		case !labelKeyPattern.MatchString(k):
			out = append(out, fmt.Sprintf("key %q is not allowed; use 1-63 lowercase letters, digits, _ or -, starting with a letter", k))
		case !labelValuePattern.MatchString(v):
			out = append(out, fmt.Sprintf("value %q of %q is not allowed; use at most 63 lowercase letters, digits, _ or -", v, k))
		}
	}
	return out
}

// StackLabels are the labels of every labelable resource of a stack: the user's, plus app,
// stack and managed-by. app and stack must themselves be valid label values.
func StackLabels(app, stack string, user map[string]string) map[string]string {
	out := map[string]string{LabelApp: app, LabelStack: stack, LabelManagedBy: "pulumi"}
	for k, v := range user {
		if _, reserved := out[k]; !reserved {
			out[k] = v
		}
	}
	return out
}

// labelsProblems validates the labels a component receives: the stack's three must be there.
func labelsProblems(p *problems, labels map[string]string) {
	for _, k := range ReservedLabels {
		if !labelValuePattern.MatchString(labels[k]) || labels[k] == "" {
			p.addf("Labels must include %q with a valid label value (use infra.StackLabels)", k)
		}
	}
	user := map[string]string{}
	for k, v := range labels {
		if !oneOf(k, ReservedLabels...) {
			user[k] = v
		}
	}
	for _, msg := range LabelProblems(user) {
		p.addf("Labels: %s", msg)
	}
}

// labelsInput is the labels as a resource input. pulumi-gcp v8 labels are non-authoritative
// (labels the API or another tool adds show in effectiveLabels, not as a diff).
func labelsInput(labels map[string]string) pulumi.StringMap {
	return pulumi.ToStringMap(labels)
}
