package report

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestComputeIsDeterministicPerUserAndQuery(t *testing.T) {
	b := Backend{}
	ctx := context.Background()
	a1, _ := b.Compute(ctx, "alice", "sales")
	a2, _ := b.Compute(ctx, "alice", "sales")
	other, _ := b.Compute(ctx, "bob", "sales")
	if !reflect.DeepEqual(a1, a2) {
		t.Fatalf("same input, different results: %+v %+v", a1, a2)
	}
	if reflect.DeepEqual(a1.Series, other.Series) {
		t.Fatalf("different users, same series %v", a1.Series)
	}
	// The boundary between user and query matters: ("ab","c") is not ("a","bc").
	x, _ := b.Compute(ctx, "ab", "c")
	y, _ := b.Compute(ctx, "a", "bc")
	if reflect.DeepEqual(x.Series, y.Series) {
		t.Fatal("user/query boundary ignored")
	}
}

func TestComputeTakesTheDelayAndStopsWithTheContext(t *testing.T) {
	b := Backend{Delay: 50 * time.Millisecond}
	start := time.Now()
	if _, err := b.Compute(context.Background(), "u", "q"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("returned after %v, want at least the 50ms delay", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (Backend{Delay: time.Hour}).Compute(ctx, "u", "q"); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}
