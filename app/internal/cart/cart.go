// Package cart is the durable shopping cart: one interface, an in-memory store for local runs
// and a Firestore store for the cloud, both held to one contract (see contract_test.go).
package cart

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Limits of the HTTP contract.
const (
	MaxQtyPerAdd = 99
	MaxQtyPerSKU = 999
	MaxSKUs      = 100 // keeps a cart document far below Firestore's 1 MiB limit
	MaxNameLen   = 64
)

// DefaultTTL is how long an untouched cart lives.
const DefaultTTL = 30 * 24 * time.Hour

// Item is a quantity of one SKU.
type Item struct {
	SKU string `json:"sku" firestore:"sku"`
	Qty int    `json:"qty" firestore:"qty"`
}

// Cart is one user's cart. UpdatedAt is nil for a cart that was never written.
type Cart struct {
	Items     []Item     `json:"items"`
	UpdatedAt *time.Time `json:"updated_at"`
}

// Store keeps carts. Writes are atomic per user: concurrent adds from many instances lose
// nothing.
type Store interface {
	Get(ctx context.Context, user string) (Cart, error)
	// Add adds qty of sku and returns the cart after the change.
	Add(ctx context.Context, user, sku string, qty int) (Cart, error)
	// Remove drops sku (a no-op if absent) and returns the cart after the change.
	Remove(ctx context.Context, user, sku string) (Cart, error)
}

// ErrInvalid marks input outside the contract (names, quantities, limits).
var ErrInvalid = errors.New("invalid")

// ValidName reports whether s is a user name or SKU: 1-64 of [A-Za-z0-9._-].
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func checkUser(user string) error {
	if !ValidName(user) {
		return fmt.Errorf("%w: user must be 1-%d of [A-Za-z0-9._-]", ErrInvalid, MaxNameLen)
	}
	return nil
}

func checkAdd(user, sku string, qty int) error {
	if err := checkUser(user); err != nil {
		return err
	}
	if !ValidName(sku) {
		return fmt.Errorf("%w: sku must be 1-%d of [A-Za-z0-9._-]", ErrInvalid, MaxNameLen)
	}
	if qty < 1 || qty > MaxQtyPerAdd {
		return fmt.Errorf("%w: qty must be 1-%d", ErrInvalid, MaxQtyPerAdd)
	}
	return nil
}

// empty is a cart with a non-nil item list, so it encodes as "items":[].
func empty() Cart { return Cart{Items: []Item{}} }

// withAdded returns items with qty more of sku, or an ErrInvalid error past the limits.
func withAdded(items []Item, sku string, qty int) ([]Item, error) {
	out := slices.Clone(items)
	for i := range out {
		if out[i].SKU == sku {
			if out[i].Qty+qty > MaxQtyPerSKU {
				return nil, fmt.Errorf("%w: at most %d of sku %q per cart (has %d)", ErrInvalid, MaxQtyPerSKU, sku, out[i].Qty)
			}
			out[i].Qty += qty
			return out, nil
		}
	}
	if len(out) >= MaxSKUs {
		return nil, fmt.Errorf("%w: at most %d different skus per cart", ErrInvalid, MaxSKUs)
	}
	return append(out, Item{SKU: sku, Qty: qty}), nil
}

func withRemoved(items []Item, sku string) []Item {
	return slices.DeleteFunc(slices.Clone(items), func(it Item) bool { return it.SKU == sku })
}

// now is the store clock, truncated to what Firestore keeps (microseconds) so both stores
// return the same instant.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
