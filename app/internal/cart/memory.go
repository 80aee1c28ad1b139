package cart

import (
	"context"
	"sync"
	"time"
)

// Memory keeps carts in this process: for local runs only, since an instance that goes away
// takes them along.
type Memory struct {
	mu    sync.Mutex
	ttl   time.Duration
	carts map[string]memoryCart
}

type memoryCart struct {
	items     []Item
	updatedAt time.Time
	expireAt  time.Time
}

// NewMemory returns an empty store whose carts expire ttl after their last change.
func NewMemory(ttl time.Duration) *Memory {
	return &Memory{ttl: ttl, carts: map[string]memoryCart{}}
}

func (m *Memory) live(user string, at time.Time) (memoryCart, bool) {
	c, ok := m.carts[user]
	if !ok || !at.Before(c.expireAt) {
		delete(m.carts, user)
		return memoryCart{}, false
	}
	return c, true
}

func (c memoryCart) view() Cart {
	out := empty()
	out.Items = append(out.Items, c.items...)
	at := c.updatedAt
	out.UpdatedAt = &at
	return out
}

func (m *Memory) Get(ctx context.Context, user string) (Cart, error) {
	if err := checkUser(user); err != nil {
		return Cart{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.live(user, now())
	if !ok {
		return empty(), nil
	}
	return c.view(), nil
}

func (m *Memory) Add(ctx context.Context, user, sku string, qty int) (Cart, error) {
	if err := checkAdd(user, sku, qty); err != nil {
		return Cart{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := now()
	c, _ := m.live(user, t)
	items, err := withAdded(c.items, sku, qty)
	if err != nil {
		return Cart{}, err
	}
	c = memoryCart{items: items, updatedAt: t, expireAt: t.Add(m.ttl)}
	m.carts[user] = c
	return c.view(), nil
}

func (m *Memory) Remove(ctx context.Context, user, sku string) (Cart, error) {
	if err := checkUser(user); err != nil {
		return Cart{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := now()
	c, ok := m.live(user, t)
	if !ok {
		return empty(), nil
	}
	c = memoryCart{items: withRemoved(c.items, sku), updatedAt: t, expireAt: t.Add(m.ttl)}
	m.carts[user] = c
	return c.view(), nil
}
