package main

import (
	"strings"

	"github.com/cloudrun-affinity/cloudrun-affinity/infra"
)

// accountID is the runtime service account id for stack id id (see infra.AccountID).
func accountID(id string) string { return infra.AccountID(infra.RuntimeAccountPrefix, id, id) }

// labelValue fits a name into a label value: a slug of at most 63 characters.
func labelValue(s string) string {
	v := infra.Slug(s)
	if len(v) > 63 {
		v = strings.TrimRight(v[:63], "-")
	}
	return v
}
