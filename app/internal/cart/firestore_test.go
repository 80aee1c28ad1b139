package cart_test

import (
	"context"
	"testing"
	"time"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/cart"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/testenv"
)

// The infrastructure's TTL policy is on collection "carts", field "expireAt", a Timestamp:
// the stored document must match it exactly or nothing ever gets deleted.
func TestFirestoreDocumentCarriesTheTTLFieldTheInfraPolicyExpects(t *testing.T) {
	f := testenv.SharedFirestore(t)
	db := testenv.Database(t, f)
	ctx := context.Background()
	client, err := cart.DialFirestore(ctx, f.Project, db, f.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	s := cart.NewFirestore(client, time.Hour)
	start := time.Now()
	if _, err := s.Add(ctx, "frank", "jam", 2); err != nil {
		t.Fatal(err)
	}
	snap, err := client.Collection("carts").Doc("u-frank").Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exp, ok := snap.Data()["expireAt"].(time.Time)
	if !ok {
		t.Fatalf("expireAt is %T, want a timestamp: %v", snap.Data()["expireAt"], snap.Data())
	}
	if d := exp.Sub(start); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("expireAt %v is %v after the write, want about the 1h ttl", exp, d)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// Tests rely on localdeps' Reset to leave each database empty; the emulator jar is shared by
// this package's tests, so its start and reset are checked here rather than in a second JVM.
func TestEmulatorResetEmptiesOnlyThatDatabase(t *testing.T) {
	f := testenv.SharedFirestore(t)
	ctx := context.Background()
	dbs := []string{testenv.Database(t, f), testenv.Database(t, f)}
	var stores []*cart.Firestore
	for _, db := range dbs {
		client, err := cart.DialFirestore(ctx, f.Project, db, f.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		s := cart.NewFirestore(client, time.Hour)
		if _, err := s.Add(ctx, "gina", "kiwi", 1); err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
	}
	if err := f.Reset(ctx, dbs[0]); err != nil {
		t.Fatal(err)
	}
	if c, _ := stores[0].Get(ctx, "gina"); len(c.Items) != 0 || c.UpdatedAt != nil {
		t.Fatalf("after Reset: %+v", c)
	}
	if c, _ := stores[1].Get(ctx, "gina"); len(c.Items) != 1 {
		t.Fatalf("Reset of another database emptied this one: %+v", c)
	}
}

// Watch sees the cart as it is, then every change another client (another region's instance)
// makes, and stops when its context ends.
func TestFirestoreWatchSeesChangesFromAnotherClient(t *testing.T) {
	t.Parallel()
	f := testenv.SharedFirestore(t)
	db := testenv.Database(t, f)
	ctx := context.Background()
	var stores []*cart.Firestore
	for range 2 {
		client, err := cart.DialFirestore(ctx, f.Project, db, f.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close() })
		stores = append(stores, cart.NewFirestore(client, time.Hour))
	}
	wctx, stop := context.WithCancel(ctx)
	seen := make(chan cart.Cart, 16)
	done := make(chan error, 1)
	go func() { done <- stores[0].Watch(wctx, "hana", func(c cart.Cart) { seen <- c }) }()
	next := func() cart.Cart {
		t.Helper()
		select {
		case c := <-seen:
			return c
		case err := <-done:
			t.Fatalf("watch ended: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("no snapshot within 5s")
		}
		return cart.Cart{}
	}
	if c := next(); len(c.Items) != 0 || c.UpdatedAt != nil {
		t.Fatalf("first snapshot of a cart never written: %+v", c)
	}
	if _, err := stores[1].Add(ctx, "hana", "fig", 3); err != nil {
		t.Fatal(err)
	}
	if c := next(); len(c.Items) != 1 || c.Items[0] != (cart.Item{SKU: "fig", Qty: 3}) {
		t.Fatalf("after another client's add: %+v", c)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("watch ended with %v, want nil once its context ends", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not stop with its context")
	}
}
