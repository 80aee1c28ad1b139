package main

import (
	"flag"
	"os"
	"path/filepath"
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
}
