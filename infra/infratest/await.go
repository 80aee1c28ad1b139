package infratest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
)

// Value is a resolved output: its value (nil when unknown), whether it is known, whether it
// is secret, and the resources it depends on.
type Value struct {
	Value  any
	Known  bool
	Secret bool
	Deps   []pulumi.Resource
}

// String is the value's text ("" when unknown or not a string).
func (v Value) String() string {
	s, _ := v.Value.(string)
	return s
}

// awaitTimeout bounds a wait so a never-resolving output fails the test instead of hanging it.
const awaitTimeout = 20 * time.Second

// AwaitErr waits for an output to resolve.
func AwaitErr(o pulumi.Output) (Value, error) {
	ctx, cancel := context.WithTimeout(context.Background(), awaitTimeout)
	defer cancel()
	r, err := internals.UnsafeAwaitOutput(ctx, o)
	if err != nil {
		return Value{}, err
	}
	return Value{Value: r.Value, Known: r.Known, Secret: r.Secret, Deps: r.Dependencies}, nil
}

// Await waits for an output and fails the test if it errors.
func Await(t testing.TB, o pulumi.Output) Value {
	t.Helper()
	v, err := AwaitErr(o)
	if err != nil {
		t.Fatalf("output failed: %v", err)
	}
	return v
}

// AwaitKnown waits for an output and fails the test if it is unknown (use it in update mode).
func AwaitKnown(t testing.TB, o pulumi.Output) Value {
	t.Helper()
	v := Await(t, o)
	if !v.Known {
		t.Fatalf("output is unknown, want a known value")
	}
	return v
}

// AwaitString waits for a known string output and returns it.
func AwaitString(t testing.TB, o pulumi.Output) string {
	t.Helper()
	v := AwaitKnown(t, o)
	s, ok := v.Value.(string)
	if !ok {
		t.Fatalf("output is %T (%v), want string", v.Value, v.Value)
	}
	return s
}

// AwaitInt waits for a known int output and returns it.
func AwaitInt(t testing.TB, o pulumi.Output) int {
	t.Helper()
	v := AwaitKnown(t, o)
	switch n := v.Value.(type) {
	case int:
		return n
	case float64:
		return int(n)
	}
	t.Fatalf("output is %T (%v), want int", v.Value, v.Value)
	return 0
}

// ContainsValue reports whether a resolved export tree contains s anywhere in a string, so a
// test can prove a secret's text never reaches plain exports.
func ContainsValue(v any, s string) bool {
	switch x := v.(type) {
	case string:
		return s != "" && strings.Contains(x, s)
	case map[string]any:
		for _, e := range x {
			if ContainsValue(e, s) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if ContainsValue(e, s) {
				return true
			}
		}
	default:
		return s != "" && strings.Contains(fmt.Sprint(x), s)
	}
	return false
}
