package main

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

// recordState makes TestUpgradeFromReleasedState write the state of today's program for every
// scenario to testdata/released/<SHA>-<scenario>.state.json instead of checking. Run it on a
// released commit only, once: a released state is never rewritten.
var recordState = flag.String("record-state", "", "record the state this program leaves, as release `SHA`")

func TestUpgradeFromReleasedState(t *testing.T) {
	if *recordState != "" {
		for _, s := range scenarios(t) {
			if s.name == "lb-affinity-none" {
				continue // a variant of dev, not a stack of its own
			}
			path := filepath.Join("testdata", "released", *recordState+"-"+s.name+".state.json")
			if _, err := os.Stat(path); err == nil {
				t.Fatalf("%s exists; a released state is never rewritten", path)
			}
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := infratest.WriteState(path, s.run(t, infratest.Update).State()); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	files, err := filepath.Glob(filepath.Join("testdata", "released", "*.state.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no released states under testdata/released (%v)", err)
	}
	byName := map[string]scenario{}
	for _, s := range scenarios(t) {
		byName[s.name] = s
	}
	for _, path := range files {
		base := strings.TrimSuffix(filepath.Base(path), ".state.json")
		release, name, _ := strings.Cut(base, "-")
		t.Run(base, func(t *testing.T) {
			s, ok := byName[name]
			if !ok {
				t.Fatalf("%s: no scenario %q", path, name)
			}
			old, err := infratest.ReadState(path)
			if err != nil {
				t.Fatal(err)
			}
			checkUpgrade(t, release, old, s.run(t, infratest.Update))
		})
	}
}

// keptTypes are the resources that hold data or that users see (an address, a certificate,
// the service): an upgrade must neither delete nor replace them. The keys are the inputs whose
// change makes the provider replace the resource (ForceNew in terraform-provider-google-beta
// v6.47, the upstream of pulumi-gcp v8.41; pulumi-random's RandomId), besides project.
var keptTypes = map[string][]string{
	"gcp:redis/instance:Instance": {"name", "region", "tier", "authorizedNetwork", "connectMode",
		"transitEncryptionMode", "locationId", "alternativeLocationId", "reservedIpRange", "customerManagedKey"},
	"gcp:firestore/database:Database":            {"name", "locationId", "cmekConfig", "databaseEdition"},
	"gcp:firestore/field:Field":                  {"database", "collection", "field"},
	"random:index/randomId:RandomId":             {"byteLength", "keepers", "prefix"},
	"gcp:secretmanager/secret:Secret":            {"secretId", "replication"},
	"gcp:artifactregistry/repository:Repository": {"repositoryId", "location", "format", "mode"},
	"gcp:serviceaccount/account:Account":         {"accountId"},
	"gcp:compute/globalAddress:GlobalAddress": {"name", "address", "addressType", "description", "ipVersion",
		"network", "prefixLength", "purpose"},
	"gcp:compute/managedSslCertificate:ManagedSslCertificate": {"name", "managed", "type", "description"},
	"gcp:cloudrunv2/service:Service":                          {"name", "location"},
	// Replacing the network would replace Redis (authorizedNetwork) with it.
	"gcp:compute/network:Network":       {"name", "autoCreateSubnetworks", "description"},
	"gcp:compute/subnetwork:Subnetwork": {"name", "network", "region", "description"},
}

// checkUpgrade fails for every kept resource of the released state that the program no longer
// registers under its URN or an alias of it, or whose replacing inputs changed.
func checkUpgrade(t *testing.T, release string, old []infratest.StateResource, now *infratest.Result) {
	t.Helper()
	byURN := map[string]infratest.Resource{}
	for _, r := range now.Resources() {
		byURN[r.URN] = r
		for _, a := range r.Aliases {
			byURN[a] = r
		}
	}
	kept := 0
	for _, o := range old {
		keys, keep := keptTypes[o.Type]
		if !keep {
			if _, ok := byURN[o.URN]; !ok {
				t.Logf("%s %s is gone since %s (allowed: neither data nor seen by users)", o.Type, o.URN, release)
			}
			continue
		}
		kept++
		r, ok := byURN[o.URN]
		if !ok {
			t.Errorf("%s would be deleted: nothing registers %s or aliases it", o.Type, o.URN)
			continue
		}
		for _, k := range append([]string{"project"}, keys...) {
			was, had := o.Inputs[k]
			v, has := r.Input(k)
			var is any
			if has && !v.IsNull() {
				is = infratest.Plain(v)
			}
			if had != (is != nil) || (had && !reflect.DeepEqual(was, is)) {
				t.Errorf("%s %s would be replaced: input %s was %v, now %v", o.Type, o.URN, k, was, is)
			}
		}
	}
	if kept == 0 {
		t.Fatalf("the released state has no kept resources; is it a state?")
	}
}
