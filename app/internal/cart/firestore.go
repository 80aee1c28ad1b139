package cart

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Collection and TTL field names are shared with the infrastructure, which puts a Firestore
// TTL policy on exactly this collection and field.
const (
	Collection    = "carts"
	ExpireAtField = "expireAt"
)

// Firestore keeps each user's cart in one document, carts/u-<user>, changed only inside
// transactions.
type Firestore struct {
	client *firestore.Client
	ttl    time.Duration
}

// cartDoc is the stored shape. ExpireAt carries the TTL policy; Firestore deletes expired
// documents only within about a day, so readers check it too.
type cartDoc struct {
	Items     []Item    `firestore:"items"`
	UpdatedAt time.Time `firestore:"updatedAt"`
	ExpireAt  time.Time `firestore:"expireAt"`
}

// NewFirestore returns a store on client whose carts expire ttl after their last change.
func NewFirestore(client *firestore.Client, ttl time.Duration) *Firestore {
	return &Firestore{client: client, ttl: ttl}
}

// DialFirestore opens a client for database in project (detected from the environment, e.g.
// the metadata server, when empty). With emulatorHost set it talks to
// the emulator there (plain gRPC, admin credentials) instead of Google, without relying on
// the process-wide FIRESTORE_EMULATOR_HOST, so one process can hold clients for both.
func DialFirestore(ctx context.Context, project, database, emulatorHost string) (*firestore.Client, error) {
	var opts []option.ClientOption
	if emulatorHost != "" {
		if project == "" {
			project = "demo-local"
		}
		conn, err := grpc.NewClient(emulatorHost,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithPerRPCCredentials(emulatorOwner{}))
		if err != nil {
			return nil, fmt.Errorf("firestore emulator at %s: %w", emulatorHost, err)
		}
		opts = append(opts, option.WithGRPCConn(conn))
	}
	if project == "" {
		project = firestore.DetectProjectID
	}
	if database == "" || database == firestore.DefaultDatabaseID {
		return firestore.NewClient(ctx, project, opts...)
	}
	return firestore.NewClientWithDatabase(ctx, project, database, opts...)
}

// emulatorOwner is the credential the emulator accepts as admin.
type emulatorOwner struct{}

func (emulatorOwner) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer owner"}, nil
}
func (emulatorOwner) RequireTransportSecurity() bool { return false }

func (f *Firestore) ref(user string) *firestore.DocumentRef {
	// The prefix keeps ids like "." or "__x__", valid user names, out of Firestore's
	// reserved document ids.
	return f.client.Collection(Collection).Doc("u-" + user)
}

// read decodes a snapshot; a missing or expired document is an empty cart. A missing document
// comes as NotFound from a get, as a snapshot that does not exist from a listener.
func read(snap *firestore.DocumentSnapshot, err error, at time.Time) (cartDoc, error) {
	if status.Code(err) == codes.NotFound || (err == nil && !snap.Exists()) {
		return cartDoc{}, nil
	}
	if err != nil {
		return cartDoc{}, err
	}
	var d cartDoc
	if err := snap.DataTo(&d); err != nil {
		return cartDoc{}, fmt.Errorf("decode %s: %w", snap.Ref.Path, err)
	}
	if !at.Before(d.ExpireAt) {
		return cartDoc{}, nil
	}
	return d, nil
}

func (d cartDoc) view() Cart {
	c := empty()
	c.Items = append(c.Items, d.Items...)
	if !d.UpdatedAt.IsZero() {
		at := d.UpdatedAt.UTC()
		c.UpdatedAt = &at
	}
	return c
}

func (f *Firestore) Get(ctx context.Context, user string) (Cart, error) {
	if err := checkUser(user); err != nil {
		return Cart{}, err
	}
	snap, err := f.ref(user).Get(ctx)
	d, err := read(snap, err, now())
	if err != nil {
		return Cart{}, fmt.Errorf("get cart: %w", err)
	}
	return d.view(), nil
}

func (f *Firestore) Add(ctx context.Context, user, sku string, qty int) (Cart, error) {
	if err := checkAdd(user, sku, qty); err != nil {
		return Cart{}, err
	}
	return f.update(ctx, user, func(items []Item) ([]Item, error) { return withAdded(items, sku, qty) })
}

func (f *Firestore) Remove(ctx context.Context, user, sku string) (Cart, error) {
	if err := checkUser(user); err != nil {
		return Cart{}, err
	}
	return f.update(ctx, user, func(items []Item) ([]Item, error) { return withRemoved(items, sku), nil })
}

// errStop ends a transaction without retrying when the change itself is invalid.
var errStop = errors.New("stop")

func (f *Firestore) update(ctx context.Context, user string, change func([]Item) ([]Item, error)) (Cart, error) {
	ref := f.ref(user)
	var out cartDoc
	var invalid error
	err := f.client.RunTransaction(ctx, func(ctx context.Context, tx *firestore.Transaction) error {
		t := now()
		snap, err := tx.Get(ref)
		d, err := read(snap, err, t)
		if err != nil {
			return err
		}
		items, err := change(d.Items)
		if err != nil {
			invalid = err
			return errStop
		}
		if len(items) == 0 && d.UpdatedAt.IsZero() {
			// Removing from a cart never written (or expired) changes nothing: write nothing,
			// so it stays "never written" as in the memory store.
			out = cartDoc{}
			return nil
		}
		if items == nil {
			items = []Item{}
		}
		out = cartDoc{Items: items, UpdatedAt: t, ExpireAt: t.Add(f.ttl)}
		return tx.Set(ref, out)
	}, firestore.MaxAttempts(maxAttempts))
	if invalid != nil {
		return Cart{}, invalid
	}
	if err != nil {
		return Cart{}, fmt.Errorf("update cart: %w", err)
	}
	return out.view(), nil
}

// maxAttempts is generous: under contention (many instances adding to one cart at once)
// aborted transactions are retried rather than surfacing as errors.
const maxAttempts = 20

// Ping checks that Firestore answers, for readiness.
func (f *Firestore) Ping(ctx context.Context) error {
	_, err := f.client.Collection(Collection).Doc("u-readyz-probe").Get(ctx)
	if err != nil && status.Code(err) != codes.NotFound {
		return err
	}
	return nil
}
