package main

import (
	"testing"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
)

func TestDevStackRunsInBothModes(t *testing.T) {
	cfg, err := infratest.ConfigFromYAML("../Pulumi.dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	infratest.EachMode(t, func(t *testing.T, mode infratest.Mode) {
		res := infratest.MustRun(t, mode, program, infratest.WithConfig(cfg), infratest.WithStack("dev"))
		t.Logf("%d resources", len(res.Resources()))
		for k, v := range res.Exports {
			t.Logf("%s = %+v", k, v)
		}
	})
}
