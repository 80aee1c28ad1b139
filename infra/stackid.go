package infra

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Project is this repository's Pulumi project name (Pulumi.yaml). Stacks of it whose names
// are already valid in physical names keep them as they are: the names every stack deployed
// before names were hashed still has.
const Project = "cloudrun-affinity"

// Physical names carry the stack id: Artifact Registry repository ids stop at 63 characters
// ("cloudrun-affinity-" + id), Firestore database ids at 63 ("affinity-" + id + "-" + 6 hex).
const (
	MaxStackID = 40
	hashLen    = 6
)

// StackID is the part of every physical name (service account, secret, registry, database,
// labels) that tells stacks apart. Names must be unique per Google Cloud project, and two
// Pulumi stacks can share one: stack names that slug to the same string (dev_1, Dev-1, dev-1)
// or the same stack name in two Pulumi projects. So the id is the stack name itself only when
// the name is already a slug in this project; otherwise it is the slug, cut to fit, plus a
// stable hash of project and stack. The CI bootstrap computes the same ids for the stacks it
// prepares, so keep this the one place that makes them.
func StackID(project, stack string) string {
	s := Slug(stack)
	if s == stack && project == Project && len(s) <= MaxStackID {
		return s
	}
	sum := sha256.Sum256([]byte(project + "\x00" + stack))
	cut := MaxStackID - hashLen - 1
	if len(s) > cut {
		s = strings.TrimRight(s[:cut], "-")
	}
	if s == "" {
		return "s-" + hex.EncodeToString(sum[:])[:hashLen]
	}
	return s + "-" + hex.EncodeToString(sum[:])[:hashLen]
}

// Slug turns a name into something every physical name accepts: lowercase letters, digits
// and -.
func Slug(s string) string {
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

// RedisSecretID is the Secret Manager secret holding a stack's Redis AUTH string.
func RedisSecretID(stackID string) string { return "cloudrun-affinity-redis-auth-" + stackID }

// RuntimeAccountPrefix starts the id of the runtime service account the main program creates
// (affinity-run-<stack id>).
const RuntimeAccountPrefix = "affinity-run-"

// AccountID is the service account id prefix+id when it fits Google's 30 characters; a longer
// one is cut and told apart by 6 hex of sha256(hashOf). It ends in a letter or digit.
func AccountID(prefix, id, hashOf string) string {
	name := prefix + id
	if len(name) <= 30 {
		return name
	}
	sum := sha256.Sum256([]byte(hashOf))
	return strings.TrimRight(name[:23], "-") + "-" + hex.EncodeToString(sum[:])[:hashLen]
}
