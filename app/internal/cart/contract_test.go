package cart_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/cart"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// opener returns a way to open further clients on one fresh, empty backing store, as
// separate app instances would.
type opener func(t *testing.T, ttl time.Duration) func() cart.Store

func memoryOpener(t *testing.T, ttl time.Duration) func() cart.Store {
	s := cart.NewMemory(ttl)
	return func() cart.Store { return s }
}

func firestoreOpener(t *testing.T, ttl time.Duration) func() cart.Store {
	f := testenv.SharedFirestore(t)
	db := testenv.Database(t, f)
	return func() cart.Store {
		c, err := cart.DialFirestore(context.Background(), f.Project, db, f.Host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return cart.NewFirestore(c, ttl)
	}
}

func TestMemoryStoreContract(t *testing.T)    { t.Parallel(); runContract(t, memoryOpener) }
func TestFirestoreStoreContract(t *testing.T) { t.Parallel(); runContract(t, firestoreOpener) }

func runContract(t *testing.T, open opener) {
	ctx := context.Background()
	t.Run("new user has an empty cart never updated", func(t *testing.T) {
		t.Parallel()
		s := open(t, time.Hour)()
		c, err := s.Get(ctx, "nobody")
		if err != nil || c.Items == nil || len(c.Items) != 0 || c.UpdatedAt != nil {
			t.Fatalf("got %+v, %v", c, err)
		}
	})
	t.Run("adds accumulate in order and removals drop one sku", func(t *testing.T) {
		t.Parallel()
		s := open(t, time.Hour)()
		before := time.Now().Add(-time.Second)
		mustAdd(t, s, "alice", "apple", 2)
		mustAdd(t, s, "alice", "pear", 1)
		c := mustAdd(t, s, "alice", "apple", 3)
		wantItems(t, c, []cart.Item{{"apple", 5}, {"pear", 1}})
		if c.UpdatedAt == nil || c.UpdatedAt.Before(before) {
			t.Fatalf("updated_at %v", c.UpdatedAt)
		}
		got, err := s.Get(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		wantItems(t, got, c.Items)
		if !got.UpdatedAt.Equal(*c.UpdatedAt) {
			t.Fatalf("Get updated_at %v, Add returned %v", got.UpdatedAt, c.UpdatedAt)
		}
		c, err = s.Remove(ctx, "alice", "apple")
		if err != nil {
			t.Fatal(err)
		}
		wantItems(t, c, []cart.Item{{"pear", 1}})
		c, err = s.Remove(ctx, "alice", "absent")
		if err != nil {
			t.Fatal(err)
		}
		wantItems(t, c, []cart.Item{{"pear", 1}})
		other, _ := s.Get(ctx, "bob")
		wantItems(t, other, []cart.Item{})
	})
	t.Run("removing from a cart never written leaves it never written", func(t *testing.T) {
		t.Parallel()
		s := open(t, time.Hour)()
		c, err := s.Remove(ctx, "frank", "apple")
		if err != nil || c.UpdatedAt != nil {
			t.Fatalf("Remove: %+v, %v; want an empty cart never updated", c, err)
		}
		wantItems(t, c, []cart.Item{})
		if c, err := s.Get(ctx, "frank"); err != nil || c.UpdatedAt != nil {
			t.Fatalf("Get after Remove: %+v, %v; want a cart never updated", c, err)
		}
	})
	t.Run("names that are reserved document ids still work", func(t *testing.T) {
		t.Parallel()
		s := open(t, time.Hour)()
		for _, user := range []string{".", "..", "__name__", "a.b-c_d"} {
			c := mustAdd(t, s, user, "__sku__", 1)
			wantItems(t, c, []cart.Item{{"__sku__", 1}})
		}
	})
	t.Run("out of range input is refused and changes nothing", func(t *testing.T) {
		t.Parallel()
		s := open(t, time.Hour)()
		mustAdd(t, s, "carol", "tea", 99)
		for _, tc := range []struct {
			user, sku string
			qty       int
		}{
			{"carol", "tea", 0}, {"carol", "tea", 100}, {"carol", "tea", -1}, {"carol", "", 1},
			{"carol", "bad sku", 1}, {"", "tea", 1}, {"carol/x", "tea", 1},
			{"carol", string(make([]byte, 65)), 1},
		} {
			if _, err := s.Add(ctx, tc.user, tc.sku, tc.qty); !errors.Is(err, cart.ErrInvalid) {
				t.Errorf("Add(%q,%q,%d): got %v, want ErrInvalid", tc.user, tc.sku, tc.qty, err)
			}
		}
		for range 9 { // 99 + 9*99 = 990
			mustAdd(t, s, "carol", "tea", 99)
		}
		mustAdd(t, s, "carol", "tea", 9) // 999
		if _, err := s.Add(ctx, "carol", "tea", 1); !errors.Is(err, cart.ErrInvalid) {
			t.Fatalf("1000th tea: got %v, want ErrInvalid", err)
		}
		c, _ := s.Get(ctx, "carol")
		wantItems(t, c, []cart.Item{{"tea", 999}})
	})
	t.Run("a cart expires ttl after its last change", func(t *testing.T) {
		t.Parallel()
		s := open(t, 300*time.Millisecond)()
		mustAdd(t, s, "dave", "milk", 1)
		time.Sleep(400 * time.Millisecond)
		c, err := s.Get(ctx, "dave")
		if err != nil {
			t.Fatal(err)
		}
		wantItems(t, c, []cart.Item{})
		c = mustAdd(t, s, "dave", "bread", 1)
		wantItems(t, c, []cart.Item{{"bread", 1}})
	})
	t.Run("concurrent adds from separate clients lose nothing", func(t *testing.T) {
		t.Parallel()
		openClient := open(t, time.Hour)
		const writers, adds = 3, 2
		stores := make([]cart.Store, writers)
		for i := range stores {
			stores[i] = openClient()
		}
		var wg sync.WaitGroup
		errs := make(chan error, writers*adds)
		for w, s := range stores {
			wg.Go(func() {
				for i := range adds {
					if _, err := s.Add(ctx, "erin", "shared", 1); err != nil {
						errs <- err
					}
					if i == 0 {
						if _, err := s.Add(ctx, "erin", fmt.Sprintf("own-%d", w), 1); err != nil {
							errs <- err
						}
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		c, err := stores[0].Get(ctx, "erin")
		if err != nil {
			t.Fatal(err)
		}
		total := map[string]int{}
		for _, it := range c.Items {
			total[it.SKU] = it.Qty
		}
		if total["shared"] != writers*adds || len(c.Items) != writers+1 {
			t.Fatalf("after %d concurrent adds: %+v", writers*adds, c.Items)
		}
	})
}

func mustAdd(t *testing.T, s cart.Store, user, sku string, qty int) cart.Cart {
	t.Helper()
	c, err := s.Add(context.Background(), user, sku, qty)
	if err != nil {
		t.Fatalf("Add(%q,%q,%d): %v", user, sku, qty, err)
	}
	return c
}

func wantItems(t *testing.T, c cart.Cart, want []cart.Item) {
	t.Helper()
	if c.Items == nil || len(c.Items) != len(want) {
		t.Fatalf("items %+v, want %+v", c.Items, want)
	}
	for i := range want {
		if c.Items[i] != want[i] {
			t.Fatalf("items %+v, want %+v", c.Items, want)
		}
	}
}
