package main

import (
	"slices"
	"testing"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

// The provider accepts only tokens of the repository, by GitHub's numeric ids (which are never
// reused) and by name, and maps the claims the bindings narrow by.
func TestFederationTrustsOnlyTheRepositoryByItsNumericIDs(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res := run(t, mode, baseConfig())
		fed := res.One(t, tFederation)
		pool := res.One(t, tPool)
		expectInput(t, pool, "workloadIdentityPoolId", `"github"`)
		expectInput(t, pool, "project", `"`+project+`"`)
		p := res.One(t, tProvider)
		expectInput(t, p, "attributeCondition", `"`+wantCondition+`"`)
		expectInput(t, p, "workloadIdentityPoolProviderId", `"github-actions"`)
		expectInput(t, p, "oidc.issuerUri", `"https://token.actions.githubusercontent.com"`)
		expectInput(t, p, "attributeMapping",
			`{attribute.environment: "assertion.environment", attribute.event_name: "assertion.event_name", `+
				`attribute.ref: "assertion.ref", attribute.repository: "assertion.repository", `+
				`attribute.repository_id: "assertion.repository_id", attribute.repository_owner: "assertion.repository_owner", `+
				`attribute.repository_owner_id: "assertion.repository_owner_id", google.subject: "assertion.sub"}`)
		expectString(t, mode, p, "workloadIdentityPoolId", "github", true)
		// The provider is created in the pool: its pool id flows from the pool resource.
		if !slices.Contains(p.PropertyDependencies["workloadIdentityPoolId"], pool.URN) {
			t.Errorf("provider's workloadIdentityPoolId does not come from the pool (deps %v)", p.PropertyDependencies["workloadIdentityPoolId"])
		}
		for _, r := range []infratest.Resource{pool, p} {
			if r.Parent != fed.URN {
				t.Errorf("%s is not a child of the GitHubFederation component", r.Type)
			}
		}
	})
}

// Every attribute a binding names must be mapped, or the binding matches nobody.
func TestBindingsNameOnlyMappedAttributes(t *testing.T) {
	for _, attr := range []string{AttrEnvironment, AttrEventName} {
		if AttributeMapping["attribute."+attr] != "assertion."+attr {
			t.Errorf("attribute.%s is not mapped from the %s claim", attr, attr)
		}
	}
}

func TestProjectNumberComesFromThePoolName(t *testing.T) {
	if got := poolNameRE.FindStringSubmatch(wantPoolName); got == nil || got[1] != mockProjectNum {
		t.Errorf("pool name %q gives project number %v, want %s", wantPoolName, got, mockProjectNum)
	}
	for _, bad := range []string{"projects/acme-ci-123/locations/global/workloadIdentityPools/github", "projects/1/locations/global/workloadIdentityPools/a/providers/b"} {
		if poolNameRE.MatchString(bad) {
			t.Errorf("%q taken for a pool name with a project number", bad)
		}
	}
}
