package main

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
	"github.com/cloudrun-affinity/cloudrun-affinity/infra/infratest"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
)

// TestPulumiYamlDeclaresTheKeysTheProgramReads: `pulumi new` and `pulumi config` learn the
// stack settings from Pulumi.yaml's config block; it must say what stacks/config.go accepts,
// with the same types, defaults and descriptions, and nothing else.
func TestPulumiYamlDeclaresTheKeysTheProgramReads(t *testing.T) {
	proj, err := workspace.LoadProject("../Pulumi.yaml") // validates against Pulumi's project schema
	if err != nil {
		t.Fatalf("Pulumi.yaml: %v", err)
	}
	if proj.Name != infra.Project || proj.Main != "stacks/" || proj.Runtime.Name() != "go" {
		t.Errorf("project %q main %q runtime %q", proj.Name, proj.Main, proj.Runtime.Name())
	}
	declared := map[string]bool{}
	for name := range proj.Config {
		declared[name] = true
	}
	for _, k := range Keys {
		decl, ok := proj.Config[k.Name]
		if !ok {
			t.Errorf("Pulumi.yaml does not declare %s", k.Name)
			continue
		}
		delete(declared, k.Name)
		if k.Default == nil {
			t.Errorf("%s has no default: the CLI would refuse every stack that does not set it", k.Name)
		}
		if decl.TypeName() != k.Type {
			t.Errorf("%s: Pulumi.yaml type %s, program %s", k.Name, decl.TypeName(), k.Type)
		}
		if decl.Items != nil || k.Type == "array" || k.Type == "object" {
			t.Errorf("%s: declared as a typed list or map: the CLI would refuse the JSON string `pulumi config set` stores", k.Name)
		}
		if a, b := jsonOf(t, decl.Default), jsonOf(t, k.Default); a != b {
			t.Errorf("%s: Pulumi.yaml default %s, program %s", k.Name, a, b)
		}
		if decl.Description != k.Description {
			t.Errorf("%s: Pulumi.yaml description %q, program %q", k.Name, decl.Description, k.Description)
		}
	}
	var extra []string
	for name := range declared {
		extra = append(extra, name)
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("Pulumi.yaml declares keys the program does not read: %s", strings.Join(extra, ", "))
	}
	if proj.Template == nil {
		t.Fatal("Pulumi.yaml has no template section: `pulumi new` from this repository would ask nothing")
	}
	for _, key := range []string{"gcp:project", "gcp:region"} {
		if c, ok := proj.Template.Config[key]; !ok || c.Description == "" {
			t.Errorf("template config does not ask for %s with a description", key)
		}
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// configText is a value as the CLI hands it to the program: strings as they are, the rest JSON.
func configText(t *testing.T, v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return jsonOf(t, v)
}

// TestDeclaredDefaultsAreTheProgramsDefaults: the program accepts every declared default, and
// setting a key to it changes nothing, so Keys (and Pulumi.yaml) tell the truth about what an
// unset key means.
func TestDeclaredDefaultsAreTheProgramsDefaults(t *testing.T) {
	base := infratest.Config{"gcp:project": "p", "gcp:region": "europe-west1"}
	unset, err := loadConfig(t, base)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Keys {
		set, err := loadConfig(t, base.With(ns+k.Name, configText(t, k.Default)))
		if err != nil {
			t.Errorf("%s: the declared default is refused: %v", k.Name, err)
			continue
		}
		if !reflect.DeepEqual(set, unset) {
			t.Errorf("%s: setting the declared default %v changes the config:\n set %+v\nunset %+v", k.Name, k.Default, set, unset)
		}
	}
}
