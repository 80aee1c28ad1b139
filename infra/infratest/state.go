package infratest

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// StateResource is what a stack's state keeps of one resource after `pulumi up`: its URN,
// type and the inputs it was created with. Upgrade tests compare a state recorded from an
// earlier release with what the program registers now.
type StateResource struct {
	URN    string         `json:"urn"`
	Type   string         `json:"type"`
	Custom bool           `json:"custom"`
	Inputs map[string]any `json:"inputs,omitempty"`
}

// State is every registration of an update run as StateResources, in registration order.
// Secret values are written as "[secret]" so a recorded state holds no secret.
func (r *Result) State() []StateResource {
	var out []StateResource
	for _, res := range r.Resources() {
		out = append(out, StateResource{URN: res.URN, Type: res.Type, Custom: res.Custom, Inputs: plainMap(res.Inputs)})
	}
	return out
}

// WriteState writes a state as indented JSON.
func WriteState(path string, state []StateResource) error {
	b, err := json.MarshalIndent(state, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadState reads a state written by WriteState.
func ReadState(path string) ([]StateResource, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []StateResource
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// Plain is an input as the plain JSON value a recorded state holds (see State), for comparing
// a registration with a recorded one.
func Plain(v resource.PropertyValue) any { return plain(v) }

func plainMap(m resource.PropertyMap) map[string]any {
	out := map[string]any{}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	for _, k := range keys {
		if v := m[resource.PropertyKey(k)]; !v.IsNull() {
			out[k] = plain(v)
		}
	}
	return out
}

func plain(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return "[secret]"
	case v.IsComputed():
		return "[unknown]"
	case v.IsOutput():
		if !v.OutputValue().Known {
			return "[unknown]"
		}
		if v.OutputValue().Secret {
			return "[secret]"
		}
		return plain(v.OutputValue().Element)
	case v.IsObject():
		return plainMap(v.ObjectValue())
	case v.IsArray():
		arr := []any{}
		for _, e := range v.ArrayValue() {
			arr = append(arr, plain(e))
		}
		return arr
	case v.IsString():
		return v.StringValue()
	case v.IsNumber():
		return v.NumberValue()
	case v.IsBool():
		return v.BoolValue()
	case v.IsResourceReference():
		return string(v.ResourceReferenceValue().URN)
	}
	return nil
}
