package main

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
)

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

// labelValue fits a name into a label value: a slug of at most 63 characters.
func labelValue(s string) string {
	v := infra.Slug(s)
	if len(v) > 63 {
		v = strings.TrimRight(v[:63], "-")
	}
	return v
}
