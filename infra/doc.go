// Package infra holds the Pulumi components of cloudrun-affinity, one concern per file. Each is a
// pulumi.ComponentResource with an Args struct whose Validate names the bad field and its allowed
// values; every child is parented to its component.
package infra

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// typePrefix namespaces the component type tokens.
const typePrefix = "cloudrun-affinity:infra:"

// ChildOptions parents a child to its component and makes it wait for deps.
//
// deps is passed to every child explicitly because, in the Go SDK, a component's own DependsOn
// is not inherited by its children: without this a child could call an API before the
// projects.Service that enables it exists.
func ChildOptions(parent pulumi.Resource, deps []pulumi.Resource, extra ...pulumi.ResourceOption) []pulumi.ResourceOption {
	opts := []pulumi.ResourceOption{pulumi.Parent(parent)}
	if len(deps) > 0 {
		opts = append(opts, pulumi.DependsOn(deps))
	}
	return append(opts, extra...)
}

// problems collects validation messages so one error can list all of them.
type problems []string

// Problems is the same collector for components outside this package (the CI bootstrap's).
type Problems = problems

// Addf adds a message; Err is nil without messages, else one error listing them all.
func (p *problems) Addf(format string, args ...any) { p.addf(format, args...) }

// Err is nil when nothing was added, else one error that lists every message.
func (p problems) Err() error { return p.err() }

func (p *problems) addf(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return errors.New(strings.Join(p, "; "))
}

// required adds "<field> is required" for every field whose input is missing, in field order.
func (p *problems) required(fields map[string]pulumi.Input) {
	for _, field := range slices.Sorted(maps.Keys(fields)) {
		if fields[field] == nil {
			p.addf("%s is required", field)
		}
	}
}

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}
