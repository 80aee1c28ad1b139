package infratest

import (
	"sort"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Lookup follows a dotted path with list indexes ("template.containers[0].envs[2].name")
// through a property map, looking through secrets. ok is false when a step is missing,
// or when the path goes through an unknown value.
func Lookup(m resource.PropertyMap, path string) (resource.PropertyValue, bool) {
	cur := resource.NewProperty(m)
	for _, step := range splitPath(path) {
		cur = unwrapSecret(cur)
		if idx, isIndex := step.(int); isIndex {
			if !cur.IsArray() || idx >= len(cur.ArrayValue()) {
				return resource.PropertyValue{}, false
			}
			cur = cur.ArrayValue()[idx]
			continue
		}
		if !cur.IsObject() {
			return resource.PropertyValue{}, false
		}
		v, ok := cur.ObjectValue()[resource.PropertyKey(step.(string))]
		if !ok {
			return resource.PropertyValue{}, false
		}
		cur = v
	}
	return cur, true
}

func splitPath(path string) []any {
	var steps []any
	for _, part := range strings.Split(path, ".") {
		for part != "" {
			open := strings.IndexByte(part, '[')
			if open < 0 {
				steps = append(steps, part)
				break
			}
			if open > 0 {
				steps = append(steps, part[:open])
			}
			end := strings.IndexByte(part, ']')
			n, _ := strconv.Atoi(part[open+1 : end])
			steps = append(steps, n)
			part = part[end+1:]
		}
	}
	return steps
}

func unwrapSecret(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

// Format renders a property value as stable, readable text: maps with sorted keys, secrets as
// [secret] (never their text), unknowns as <unknown>, resource references as their URN.
func Format(v resource.PropertyValue) string {
	var b strings.Builder
	format(&b, v)
	return b.String()
}

func format(b *strings.Builder, v resource.PropertyValue) {
	switch {
	case v.IsSecret():
		b.WriteString("[secret]")
	case v.IsComputed(), v.IsOutput() && !v.OutputValue().Known:
		b.WriteString("<unknown>")
	case v.IsOutput():
		format(b, v.OutputValue().Element)
	case v.IsNull():
		b.WriteString("null")
	case v.IsString():
		b.WriteString(strconv.Quote(v.StringValue()))
	case v.IsNumber():
		b.WriteString(strconv.FormatFloat(v.NumberValue(), 'f', -1, 64))
	case v.IsBool():
		b.WriteString(strconv.FormatBool(v.BoolValue()))
	case v.IsArray():
		b.WriteByte('[')
		for i, e := range v.ArrayValue() {
			if i > 0 {
				b.WriteString(", ")
			}
			format(b, e)
		}
		b.WriteByte(']')
	case v.IsObject():
		obj := v.ObjectValue()
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, string(k))
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k)
			b.WriteString(": ")
			format(b, obj[resource.PropertyKey(k)])
		}
		b.WriteByte('}')
	case v.IsResourceReference():
		b.WriteString("ref(" + string(v.ResourceReferenceValue().URN) + ")")
	default:
		b.WriteString(v.String())
	}
}

// ContainsPlain reports whether s appears as plain (non-secret) text anywhere in the value.
func ContainsPlain(v resource.PropertyValue, s string) bool {
	switch {
	case v.IsSecret():
		return false
	case v.IsString():
		return strings.Contains(v.StringValue(), s)
	case v.IsArray():
		for _, e := range v.ArrayValue() {
			if ContainsPlain(e, s) {
				return true
			}
		}
	case v.IsObject():
		for _, e := range v.ObjectValue() {
			if ContainsPlain(e, s) {
				return true
			}
		}
	case v.IsOutput():
		return !v.OutputValue().Secret && ContainsPlain(v.OutputValue().Element, s)
	}
	return false
}
