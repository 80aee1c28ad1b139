package main

import "github.com/pulumi/pulumi/sdk/v3/go/pulumi"

// typePrefix namespaces the bootstrap's component type tokens.
const typePrefix = "cloudrun-affinity:bootstrap:"

// childOptions parents a child to its component and makes it wait for deps (the enabled APIs).
// A component's own DependsOn is not inherited by its children in the Go SDK, so each child
// gets the dependency itself.
func childOptions(parent pulumi.Resource, deps []pulumi.Resource, extra ...pulumi.ResourceOption) []pulumi.ResourceOption {
	opts := []pulumi.ResourceOption{pulumi.Parent(parent)}
	if len(deps) > 0 {
		opts = append(opts, pulumi.DependsOn(deps))
	}
	return append(opts, extra...)
}
