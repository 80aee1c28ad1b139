package telemetry

import (
	"context"
	"time"

	"github.com/alexedwards/scs/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/cart"
)

var (
	opFind, opCommit, opDelete = attrs(attribute.String("operation", "find")), attrs(attribute.String("operation", "commit")), attrs(attribute.String("operation", "delete"))
	opGet, opAdd, opRemove     = attrs(attribute.String("operation", "get")), attrs(attribute.String("operation", "add")), attrs(attribute.String("operation", "remove"))
)

func record(ctx context.Context, h metric.Float64Histogram, start time.Time, op metric.MeasurementOption) {
	h.Record(ctx, time.Since(start).Seconds(), op)
}

// SessionStore times every call to an scs store. The result passes contexts on when the store
// takes them (goredisstore does), so Redis spans join the request's trace.
func (in *Instruments) SessionStore(s scs.Store) scs.Store {
	ctxStore, _ := s.(scs.CtxStore)
	return &timedSessions{s: s, ctx: ctxStore, h: in.sessionStore}
}

type timedSessions struct {
	s   scs.Store
	ctx scs.CtxStore // nil when s takes no context
	h   metric.Float64Histogram
}

var _ scs.CtxStore = (*timedSessions)(nil)

func (t *timedSessions) Find(token string) ([]byte, bool, error) {
	return t.FindCtx(context.Background(), token)
}

func (t *timedSessions) Commit(token string, b []byte, expiry time.Time) error {
	return t.CommitCtx(context.Background(), token, b, expiry)
}

func (t *timedSessions) Delete(token string) error {
	return t.DeleteCtx(context.Background(), token)
}

func (t *timedSessions) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	defer record(ctx, t.h, time.Now(), opFind)
	if t.ctx != nil {
		return t.ctx.FindCtx(ctx, token)
	}
	return t.s.Find(token)
}

func (t *timedSessions) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	defer record(ctx, t.h, time.Now(), opCommit)
	if t.ctx != nil {
		return t.ctx.CommitCtx(ctx, token, b, expiry)
	}
	return t.s.Commit(token, b, expiry)
}

func (t *timedSessions) DeleteCtx(ctx context.Context, token string) error {
	defer record(ctx, t.h, time.Now(), opDelete)
	if t.ctx != nil {
		return t.ctx.DeleteCtx(ctx, token)
	}
	return t.s.Delete(token)
}

// Carts times every call of a cart store; main wraps the Firestore store with it.
func (in *Instruments) Carts(s cart.Store) cart.Store { return timedCarts{s, in.firestore} }

type timedCarts struct {
	s cart.Store
	h metric.Float64Histogram
}

func (t timedCarts) Get(ctx context.Context, user string) (cart.Cart, error) {
	defer record(ctx, t.h, time.Now(), opGet)
	return t.s.Get(ctx, user)
}

func (t timedCarts) Add(ctx context.Context, user, sku string, qty int) (cart.Cart, error) {
	defer record(ctx, t.h, time.Now(), opAdd)
	return t.s.Add(ctx, user, sku, qty)
}

func (t timedCarts) Remove(ctx context.Context, user, sku string) (cart.Cart, error) {
	defer record(ctx, t.h, time.Now(), opRemove)
	return t.s.Remove(ctx, user, sku)
}
