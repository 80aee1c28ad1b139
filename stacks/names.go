package main

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// defaultProject is this repository's Pulumi project name (Pulumi.yaml). Stacks of it whose
// names are already valid in physical names keep them as they are: the names every stack
// deployed before names were hashed still has.
const defaultProject = "cloudrun-affinity"

// Physical names carry the stack id: Artifact Registry repository ids stop at 63 characters
// ("cloudrun-affinity-" + id), Firestore database ids at 63 ("affinity-" + id + "-" + 6 hex).
const (
	maxStackID = 40
	hashLen    = 6
)

// stackID is the part of every physical name (service account, secret, registry, database,
// labels) that tells stacks apart. Names must be unique per Google Cloud project, and two
// Pulumi stacks can share one: stack names that slug to the same string (dev_1, Dev-1, dev-1)
// or the same stack name in two Pulumi projects. So the id is the stack name itself only when
// the name is already a slug in this project; otherwise it is the slug, cut to fit, plus a
// stable hash of project and stack.
func stackID(project, stack string) string {
	s := slug(stack)
	if s == stack && project == defaultProject && len(s) <= maxStackID {
		return s
	}
	sum := sha256.Sum256([]byte(project + "\x00" + stack))
	cut := maxStackID - hashLen - 1
	if len(s) > cut {
		s = strings.TrimRight(s[:cut], "-")
	}
	if s == "" {
		return "s-" + hex.EncodeToString(sum[:])[:hashLen]
	}
	return s + "-" + hex.EncodeToString(sum[:])[:hashLen]
}

// accountID is the runtime service account id: at most 30 characters, ending in a letter or
// digit. Ids too long are cut and told apart by a hash of the whole id.
func accountID(id string) string {
	name := "affinity-run-" + id
	if len(name) <= 30 {
		return name
	}
	sum := sha256.Sum256([]byte(id))
	return strings.TrimRight(name[:23], "-") + "-" + hex.EncodeToString(sum[:])[:6]
}

// slug turns a stack name into something every physical name accepts: lowercase letters,
// digits and -.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// labelValue fits a name into a label value: a slug of at most 63 characters.
func labelValue(s string) string {
	v := slug(s)
	if len(v) > 63 {
		v = strings.TrimRight(v[:63], "-")
	}
	return v
}
