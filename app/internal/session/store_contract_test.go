package session

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/alexedwards/scs/goredisstore"
	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"github.com/redis/go-redis/v9"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/cart"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/localdeps"
	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// opener returns a way to open further stores on one fresh backing store, as separate
// instances of one region would.
type opener func(t *testing.T) func() scs.CtxStore

func memoryOpener(t *testing.T) func() scs.CtxStore {
	s := memstore.NewWithCleanupInterval(0) // no cleanup goroutine; Find checks expiry itself
	return func() scs.CtxStore { return ctxStore{s} }
}

func redisOpener(t *testing.T) func() scs.CtxStore {
	r := testenv.Redis(t)
	return func() scs.CtxStore { return goredisstore.NewWithPrefix(client(t, r), redisPrefix) }
}

func firestoreOpener(t *testing.T) func() scs.CtxStore {
	r := testenv.Redis(t)
	f := testenv.SharedFirestore(t)
	db := testenv.Database(t, f)
	return func() scs.CtxStore { return newFirestoreStore(t, f, db, client(t, r), time.Minute) }
}

func TestMemoryStoreContract(t *testing.T)    { t.Parallel(); runContract(t, memoryOpener) }
func TestRedisStoreContract(t *testing.T)     { t.Parallel(); runContract(t, redisOpener) }
func TestFirestoreStoreContract(t *testing.T) { t.Parallel(); runContract(t, firestoreOpener) }

func runContract(t *testing.T, open opener) {
	ctx := context.Background()
	t.Run("unknown token is not found", func(t *testing.T) {
		t.Parallel()
		if b, found, err := open(t)().FindCtx(ctx, "nobody"); found || err != nil || b != nil {
			t.Fatalf("got %q %v %v", b, found, err)
		}
	})
	t.Run("a commit is found by every instance, and a later one replaces it", func(t *testing.T) {
		t.Parallel()
		o := open(t)
		a, b := o(), o()
		until := time.Now().Add(time.Hour)
		mustCommit(t, a, "t1", "v1", until)
		wantFound(t, b, "t1", "v1")
		mustCommit(t, b, "t1", "v2", until)
		wantFound(t, a, "t1", "v2")
	})
	t.Run("a delete is seen by every instance; deleting nothing is no error", func(t *testing.T) {
		t.Parallel()
		o := open(t)
		a, b := o(), o()
		mustCommit(t, a, "t2", "v", time.Now().Add(time.Hour))
		wantFound(t, b, "t2", "v")
		if err := a.DeleteCtx(ctx, "t2"); err != nil {
			t.Fatal(err)
		}
		wantMissing(t, b, "t2")
		if err := b.DeleteCtx(ctx, "never"); err != nil {
			t.Fatalf("delete of an unknown token: %v", err)
		}
	})
	t.Run("a session ends at its expiry", func(t *testing.T) {
		t.Parallel()
		s := open(t)()
		mustCommit(t, s, "t3", "v", time.Now().Add(400*time.Millisecond))
		wantFound(t, s, "t3", "v")
		time.Sleep(500 * time.Millisecond)
		wantMissing(t, s, "t3")
	})
}

// Two regions: each its own Redis, both one Firestore database.
type region struct {
	redis *localdeps.Redis
	store *firestoreStore
}

func twoRegions(t *testing.T, cacheTTL time.Duration) (a, b region, f *localdeps.Firestore, db string) {
	f = testenv.SharedFirestore(t)
	db = testenv.Database(t, f)
	for _, r := range []*region{&a, &b} {
		r.redis = testenv.Redis(t)
		r.store = newFirestoreStore(t, f, db, client(t, r.redis), cacheTTL)
	}
	return a, b, f, db
}

func TestFirestoreSessionMovesToAnotherRegionAndIsCachedThereBriefly(t *testing.T) {
	t.Parallel()
	a, b, f, db := twoRegions(t, time.Minute)
	ctx := context.Background()
	const token = "tok-moves-region"
	mustCommit(t, a.store, token, "alice", time.Now().Add(time.Hour))

	wantFound(t, b.store, token, "alice")
	rb := client(t, b.redis)
	if ttl := rb.PTTL(ctx, cacheKey(token)).Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("region B's copy lives %v, want (0, 60s]: a cache, not a second store", ttl)
	}
	// A copy never outlives the session.
	mustCommit(t, a.store, "tok-short", "bob", time.Now().Add(5*time.Second))
	if ttl := client(t, a.redis).PTTL(ctx, cacheKey("tok-short")).Val(); ttl <= 0 || ttl > 5*time.Second {
		t.Fatalf("copy of a session ending in 5s lives %v", ttl)
	}

	// Region A loses its Redis (restarted empty): the session is still there.
	a.redis.Stop()
	if err := a.redis.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	wantFound(t, a.store, token, "alice")

	// Firestore holds the session under the token's hash, never the token itself.
	fs := dial(t, f, db)
	docs, err := fs.Collection(Collection).Documents(ctx).GetAll()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, d := range docs {
		ids[d.Ref.ID] = true
		if strings.Contains(d.Ref.ID, token) || strings.Contains(string(d.Data()["data"].([]byte)), token) {
			t.Fatalf("document %s holds the raw token", d.Ref.ID)
		}
		if _, ok := d.Data()[ExpireAtField].(time.Time); !ok {
			t.Fatalf("document %s has no %s timestamp for the TTL policy: %v", d.Ref.ID, ExpireAtField, d.Data())
		}
	}
	if !ids[DocID(token)] || len(DocID(token)) != 64 {
		t.Fatalf("no document %s (hex SHA-256 of the token) among %v", DocID(token), ids)
	}
}

// A sign-out in region A is seen by requests in region B once B's copy expires (the cache
// TTL), and by SignedIn at once.
func TestFirestoreSignOutReachesOtherRegionsWithinTheCacheTTL(t *testing.T) {
	t.Parallel()
	const ttl = 300 * time.Millisecond
	a, b, _, _ := twoRegions(t, ttl)
	ctx := context.Background()
	const token = "tok-signout"
	mustCommit(t, a.store, token, "alice", time.Now().Add(time.Hour))
	wantFound(t, b.store, token, "alice") // B caches it
	if err := a.store.DeleteCtx(ctx, token); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, a.store, token)
	if ok, err := b.store.signedIn(ctx, token); ok || err != nil {
		t.Fatalf("signedIn in B after sign-out in A: %v %v", ok, err)
	}
	time.Sleep(ttl + 100*time.Millisecond)
	wantMissing(t, b.store, token)
}

// The TTL policy deletes expired documents only within about a day: until then an expired
// session must read as absent, and must not be cached.
func TestFirestoreExpiredSessionIsNotFoundNorCached(t *testing.T) {
	t.Parallel()
	a, _, f, db := twoRegions(t, time.Minute)
	ctx := context.Background()
	const token = "tok-expired"
	fs := dial(t, f, db)
	if _, err := fs.Collection(Collection).Doc(DocID(token)).Set(ctx, sessionDoc{Data: []byte("x"), ExpireAt: time.Now().Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, a.store, token)
	if n := client(t, a.redis).Exists(ctx, cacheKey(token)).Val(); n != 0 {
		t.Fatal("an expired session was cached")
	}
}

// A session is acknowledged only once Firestore has it: when Firestore does not answer, the
// commit fails and Redis gets no copy that other instances would take for a session.
func TestFirestoreCommitFailsWithoutFirestoreAndCachesNothing(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	down := &localdeps.Firestore{Host: testenv.ClosedAddr(t), Project: "demo-local"} // nothing listens there
	s := newFirestoreStore(t, down, "gone", client(t, r), time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.CommitCtx(ctx, "tok-down", []byte("v"), time.Now().Add(time.Hour)); err == nil {
		t.Fatal("commit succeeded with Firestore down")
	}
	if n := client(t, r).Exists(context.Background(), cacheKey("tok-down")).Val(); n != 0 {
		t.Fatal("Redis holds a session Firestore does not")
	}
}

// A session found in the region's Redis costs one Redis command and no Firestore read, as
// with sessions in Redis only.
func TestFirestoreCachedReadCostsOneRedisCommand(t *testing.T) {
	t.Parallel()
	r := testenv.Redis(t)
	f := testenv.SharedFirestore(t)
	db := testenv.Database(t, f)
	c := client(t, r)
	var n atomic.Int64
	c.AddHook(countHook{&n})
	s := newFirestoreStore(t, f, db, c, time.Minute)
	mustCommit(t, s, "tok-cost", "v", time.Now().Add(time.Hour))
	before := n.Load()
	wantFound(t, s, "tok-cost", "v")
	if got := n.Load() - before; got != 1 {
		t.Fatalf("a cached read cost %d Redis commands, want 1", got)
	}
}

func newFirestoreStore(t *testing.T, f *localdeps.Firestore, db string, c *redis.Client, cacheTTL time.Duration) *firestoreStore {
	return &firestoreStore{docs: dial(t, f, db).Collection(Collection), cache: c, cacheTTL: cacheTTL}
}

func dial(t *testing.T, f *localdeps.Firestore, db string) *firestore.Client {
	c, err := cart.DialFirestore(context.Background(), f.Project, db, f.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func client(t *testing.T, r *localdeps.Redis) *redis.Client {
	c := r.Client()
	t.Cleanup(func() { c.Close() })
	return c
}

func mustCommit(t *testing.T, s scs.CtxStore, token, value string, until time.Time) {
	t.Helper()
	if err := s.CommitCtx(context.Background(), token, []byte(value), until); err != nil {
		t.Fatalf("commit %s: %v", token, err)
	}
}

func wantFound(t *testing.T, s scs.CtxStore, token, value string) {
	t.Helper()
	b, found, err := s.FindCtx(context.Background(), token)
	if err != nil || !found || string(b) != value {
		t.Fatalf("find %s: %q %v %v, want %q", token, b, found, err, value)
	}
}

func wantMissing(t *testing.T, s scs.CtxStore, token string) {
	t.Helper()
	if b, found, err := s.FindCtx(context.Background(), token); found || err != nil {
		t.Fatalf("find %s: %q %v %v, want not found", token, b, found, err)
	}
}

// ctxStore gives memstore, which has no Ctx methods, the CtxStore shape the contract uses.
type ctxStore struct{ *memstore.MemStore }

func (s ctxStore) FindCtx(_ context.Context, token string) ([]byte, bool, error) {
	return s.Find(token)
}
func (s ctxStore) CommitCtx(_ context.Context, token string, b []byte, e time.Time) error {
	return s.Commit(token, b, e)
}
func (s ctxStore) DeleteCtx(_ context.Context, token string) error { return s.Delete(token) }

type countHook struct{ n *atomic.Int64 }

func (h countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}
