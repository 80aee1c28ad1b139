package infra

import (
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// UnknownConfigKeys lists, sorted, the stack's config keys in namespace ns ("ns:name") that
// known does not accept: a typo would otherwise fall back to a default silently. The SDK lists
// no config keys, so this reads PULUMI_CONFIG, the whole stack config the CLI hands the program
// (nothing when it is unset, as in some tests).
func UnknownConfigKeys(ns string, known func(key string) bool) []string {
	var all map[string]any
	if err := json.Unmarshal([]byte(os.Getenv(pulumi.EnvConfig)), &all); err != nil {
		return nil
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(all)) {
		if strings.HasPrefix(k, ns+":") && !known(k) {
			out = append(out, k)
		}
	}
	return out
}
