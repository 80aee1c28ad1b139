package main

import (
	"strings"
	"testing"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

// The accounts made here must be valid ids and never equal one a main stack made itself
// (affinity-run-<stack>, or its 23-character cut plus a hash): a collision would make the
// bootstrap fail on an existing account, or two stacks share one.
func TestRuntimeAccountIDsNeverCollideWithTheMainStacks(t *testing.T) {
	seen := map[string]string{}
	for _, stack := range []string{"dev", "prod", "a", "feature.login", "a-very-long-stack-name-number-one", "a-very-long-stack-name-number-two"} {
		id := RuntimeAccountID(stack)
		if !accountRE.MatchString(id) || len(id) > 30 {
			t.Errorf("RuntimeAccountID(%q) = %q is not a service account id", stack, id)
		}
		if strings.HasPrefix(id, mainStackAccountPrefix) {
			t.Errorf("RuntimeAccountID(%q) = %q starts like a main stack's own account", stack, id)
		}
		if other, dup := seen[id]; dup {
			t.Errorf("stacks %q and %q both get %q", other, stack, id)
		}
		seen[id] = stack
	}
}

// A stack without an existing account gets one made here, and the deployer's grant is on that
// account (so it waits for it); a stack with one gets no account, and the grant names it.
func TestRuntimeAccountIsCreatedOnlyWhenTheStackHasNone(t *testing.T) {
	const devOwn = "affinity-run-dev@" + project + ".iam.gserviceaccount.com"
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res := run(t, mode, baseConfig())
		comp := res.One(t, tRuntime)
		sa := res.Named(t, tAccount, "runtime-dev")
		expectInput(t, sa, "accountId", `"affinity-rt-dev"`)
		expectInput(t, sa, "project", `"`+project+`"`)
		g := res.Named(t, tAccountMember, "runtime-dev-deployer")
		expectString(t, mode, g, "serviceAccountId", accountName(wantRuntimeDev), true)
		if !g.DependsOn(sa.URN) {
			t.Error("the grant on dev's runtime account does not wait for the account")
		}
		for _, r := range []infratest.Resource{sa, g} {
			if r.Parent != comp.URN {
				t.Errorf("%s %s is not a child of the RuntimeAccounts component", r.Type, r.Name)
			}
		}

		res = run(t, mode, baseConfig().With(ns+":existingRuntimeServiceAccounts", `{"dev": "`+devOwn+`"}`))
		for _, a := range res.OfType(tAccount) {
			if a.Parent == res.One(t, tRuntime).URN {
				t.Errorf("created %s although dev has its own account", a.Name)
			}
		}
		expectInput(t, res.Named(t, tAccountMember, "runtime-dev-deployer"), "serviceAccountId", `"`+accountName(devOwn)+`"`)
	})
}

// TestStacksThatSlugAlikeGetTheirOwnRuntimeAccount: the bootstrap names accounts by the main
// program's stack id, so stacks whose names slug alike never share one.
func TestStacksThatSlugAlikeGetTheirOwnRuntimeAccount(t *testing.T) {
	seen := map[string]string{}
	for _, stack := range []string{"a-b", "a.b", "a_b", "A-b"} {
		id := RuntimeAccountID(stack)
		if other, dup := seen[id]; dup || len(id) > 30 {
			t.Errorf("%q and %q share runtime account %q (or it is too long)", other, stack, id)
		}
		seen[id] = stack
	}
	if RuntimeAccountID("dev") != "affinity-rt-dev" {
		t.Errorf("dev's account is %q, want affinity-rt-dev", RuntimeAccountID("dev"))
	}
}
