package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

func TestStateBucketIsPrivateVersionedAndProtected(t *testing.T) {
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res := run(t, mode, baseConfig())
		b := res.One(t, tBucket)
		expectInput(t, b, "name", `"`+wantBucket+`"`)
		expectInput(t, b, "project", `"`+project+`"`)
		expectInput(t, b, "location", `"`+region+`"`) // gcp:region, as no stateBucketLocation is set
		expectInput(t, b, "uniformBucketLevelAccess", "true")
		expectInput(t, b, "publicAccessPrevention", `"enforced"`)
		expectInput(t, b, "versioning", "{enabled: true}")
		expectInput(t, b, "forceDestroy", "false")
		expectInput(t, b, "lifecycleRules", `[{action: {type: "Delete"}, condition: {daysSinceNoncurrentTime: 30}}]`)
		if !b.Protect {
			t.Error("the state bucket is not protected: a destroy would delete every stack's state")
		}
		if !slices.Equal(b.IgnoreChanges, []string{"location"}) {
			t.Errorf("ignoreChanges = %v, want [location]: a changed location would replace the bucket", b.IgnoreChanges)
		}
		if b.Parent != res.One(t, tStateBucket).URN {
			t.Error("the bucket is not a child of the StateBucket component")
		}
		// Grants on the bucket (who gets which, exactly) are in grants_test.go.
	})
}

func TestStateBucketLocationDefaultsToTheRegionAndCanBeSet(t *testing.T) {
	cases := []struct {
		name string
		cfg  infratest.Config
		want string
	}{
		{"gcp:region", baseConfig(), region},
		{"stateBucketLocation wins", baseConfig().With(ns+":stateBucketLocation", "EU"), "EU"},
		{"no region, key set", withoutKey(baseConfig(), "gcp:region").With(ns+":stateBucketLocation", "US"), "US"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			expectInput(t, run(t, infratest.Preview, c.cfg).One(t, tBucket), "location", `"`+c.want+`"`)
		})
	}
}

// A bootstrap stack set up before this change has gcp:project and githubRepository (the README's
// commands), maybe gcp:region, and a bucket in US, the old default. Its pool, provider and
// deployer account exist. After adding the two required ids (and, per README,
// existingRuntimeServiceAccounts for dev), `pulumi up` must replace none of them: same URN
// (type, parent, name) and, after the engine applies ignoreChanges, the same value for every
// input the provider replaces the resource for (ForceNew in terraform-provider-google-beta:
// storage bucket name, location, project; pool workload_identity_pool_id, project; provider
// both ids, project; service account account_id, project). Without gcp:region the stack must
// say where its bucket is: the run fails before registering anything, naming both keys.
func TestExistingStackKeepsItsBucketPoolProviderAndDeployer(t *testing.T) {
	const stackURN = "urn:pulumi:bootstrap::" + ns + "::"
	// What the program registered before this change (its old inputs, as in the stack's state).
	before := []struct {
		urn      string
		forceNew map[string]string
	}{
		{stackURN + tStateBucket + "$" + tBucket + "::state",
			map[string]string{"name": wantBucket, "location": "US", "project": project}},
		{stackURN + tFederation + "$" + tPool + "::github",
			map[string]string{"workloadIdentityPoolId": "github", "project": project}},
		{stackURN + tFederation + "$" + tProvider + "::github",
			map[string]string{"workloadIdentityPoolId": "github", "workloadIdentityPoolProviderId": "github-actions", "project": project}},
		{stackURN + tDeployer + "$" + tAccount + "::deployer",
			map[string]string{"accountId": "pulumi-deployer", "project": project}},
	}
	old := infratest.Config{"gcp:project": project, ns + ":githubRepository": repository}
	upgraded := old.With(ns+":githubRepositoryId", repositoryID, ns+":githubRepositoryOwnerId", ownerID,
		ns+":existingRuntimeServiceAccounts", `{"dev": "affinity-run-dev@`+project+`.iam.gserviceaccount.com"}`)

	t.Run("no region, no location: refused", func(t *testing.T) {
		res, err := infratest.Run(infratest.Update, program,
			infratest.WithConfig(upgraded), infratest.WithStack("bootstrap"), infratest.WithMocksSetup(mockFederation))
		if err == nil {
			t.Fatal("program accepted a stack that says nowhere where its bucket is")
		}
		for _, key := range []string{ns + ":stateBucketLocation:", "gcp:region", "US"} {
			if !strings.Contains(err.Error(), key) {
				t.Errorf("error does not mention %s: %v", key, err)
			}
		}
		for _, r := range res.Resources() {
			if r.Type != "pulumi:pulumi:Stack" {
				t.Errorf("registered %s %s despite the refusal", r.Type, r.Name)
			}
		}
	})
	for name, cfg := range map[string]infratest.Config{
		"stateBucketLocation US":         upgraded.With(ns+":stateBucketLocation", "US"),
		"gcp:region set, no location":    upgraded.With("gcp:region", region),
		"gcp:region and a new location":  upgraded.With("gcp:region", region, ns+":stateBucketLocation", "EU"),
		"stateBucketLocation lower case": upgraded.With(ns+":stateBucketLocation", "us"),
	} {
		t.Run(name, func(t *testing.T) {
			res := run(t, infratest.Update, cfg)
			for _, b := range before {
				r, ok := res.ByURN(b.urn)
				if !ok {
					t.Errorf("%s is no longer registered under its URN: it would be deleted and created anew", b.urn)
					continue
				}
				inputs := applyIgnoreChanges(r.Inputs, b.forceNew, r.IgnoreChanges)
				for key, was := range b.forceNew {
					got := ""
					if v, ok := inputs[resource.PropertyKey(key)]; ok && v.IsString() {
						got = v.StringValue()
					}
					// The provider stores the location upper-cased (StateFunc ToUpper), so
					// "us" and "US" do not differ.
					if key == "location" {
						got, was = strings.ToUpper(got), strings.ToUpper(was)
					}
					if got != was {
						t.Errorf("%s %s: %s %q -> %q would replace it", r.Type, r.Name, key, was, got)
					}
				}
			}
		})
	}
}

// applyIgnoreChanges does what the engine does with top-level ignoreChanges paths before it
// diffs: the old value stands in for the new one.
func applyIgnoreChanges(inputs resource.PropertyMap, old map[string]string, ignore []string) resource.PropertyMap {
	out := inputs.Copy()
	for _, path := range ignore {
		if was, ok := old[path]; ok {
			out[resource.PropertyKey(path)] = resource.NewProperty(was)
		}
	}
	return out
}
