package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Collection and ExpireAtField are shared with the infrastructure, which puts a Firestore TTL
// policy on exactly this collection and field in multi-region stacks (infra.SessionsCollection).
const (
	Collection    = "sessions"
	ExpireAtField = "expireAt"
)

// DefaultCacheTTL is how long a region's Redis keeps its copy of a session read from or
// written to Firestore. It bounds how long a sign-out in one region leaves the session usable
// in another: at most this long after it.
const DefaultCacheTTL = 60 * time.Second

// NewFirestore keeps sessions in Firestore, the database every region shares, and caches
// them in the region's Redis: a read tries Redis first (one command, as with NewRedis) and on
// a miss reads Firestore and puts the session back into Redis; a commit writes Firestore
// first, so a session is acknowledged only once Firestore has it, then Redis; a delete
// removes both. Redis keeps each copy for o.CacheTTL at most (DefaultCacheTTL when 0), or
// the session's remaining lifetime if shorter. A failure of either tier fails the request
// (OnError), as a Redis failure does with NewRedis.
func NewFirestore(fs *firestore.Client, cache *redis.Client, o Options) *Manager {
	ttl := o.CacheTTL
	if ttl <= 0 {
		ttl = DefaultCacheTTL
	}
	s := &firestoreStore{docs: fs.Collection(Collection), cache: cache, cacheTTL: ttl}
	m := newManager(s, o)
	m.signedIn = s.signedIn
	return m
}

// firestoreStore is an scs.CtxStore over the two tiers.
type firestoreStore struct {
	docs     *firestore.CollectionRef
	cache    *redis.Client
	cacheTTL time.Duration
}

// sessionDoc is the stored shape: the codec's bytes and the session's end, on which the TTL
// policy deletes it (within about a day, so readers check expireAt themselves).
type sessionDoc struct {
	Data     []byte    `firestore:"data"`
	ExpireAt time.Time `firestore:"expireAt"`
}

// DocID is the Firestore document id of the session named token: the hex SHA-256 of the
// token. The token itself is a credential and is never stored in Firestore, whose data
// outlives the regions' Redis and is readable by more tools (exports, the console).
func DocID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// cacheKey is the Redis key, the same as NewRedis's, so one region's cached copies and a
// single-region deployment's sessions look alike.
func cacheKey(token string) string { return redisPrefix + token }

// cacheFor is how long Redis may keep a copy of a session ending at expiry; 0 when it ends
// within a millisecond (go-redis would read 0 as "never expires").
func (s *firestoreStore) cacheFor(expiry time.Time) time.Duration {
	ttl := min(s.cacheTTL, time.Until(expiry))
	if ttl < time.Millisecond {
		return 0
	}
	return ttl
}

func (s *firestoreStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	b, err := s.cache.Get(ctx, cacheKey(token)).Bytes()
	if err == nil {
		return b, true, nil
	}
	if !errors.Is(err, redis.Nil) {
		return nil, false, err
	}
	d, found, err := s.read(ctx, token)
	if err != nil || !found {
		return nil, false, err
	}
	if ttl := s.cacheFor(d.ExpireAt); ttl > 0 {
		// The session is found whether or not this copy is kept: a failure here only means the
		// next request reads Firestore again (and Redis failing shows on that request's GET).
		_ = s.cache.Set(ctx, cacheKey(token), d.Data, ttl).Err()
	}
	return d.Data, true, nil
}

// read returns the session from Firestore; an expired one, which the TTL policy has not
// deleted yet, is not found.
func (s *firestoreStore) read(ctx context.Context, token string) (sessionDoc, bool, error) {
	snap, err := s.docs.Doc(DocID(token)).Get(ctx)
	if status.Code(err) == codes.NotFound {
		return sessionDoc{}, false, nil
	}
	if err != nil {
		return sessionDoc{}, false, fmt.Errorf("read session from firestore: %w", err)
	}
	var d sessionDoc
	if err := snap.DataTo(&d); err != nil {
		return sessionDoc{}, false, fmt.Errorf("decode %s: %w", snap.Ref.Path, err)
	}
	if !time.Now().Before(d.ExpireAt) {
		return sessionDoc{}, false, nil
	}
	return d, true, nil
}

func (s *firestoreStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if _, err := s.docs.Doc(DocID(token)).Set(ctx, sessionDoc{Data: b, ExpireAt: expiry}); err != nil {
		return fmt.Errorf("write session to firestore: %w", err)
	}
	ttl := s.cacheFor(expiry)
	if ttl == 0 {
		return s.cache.Del(ctx, cacheKey(token)).Err()
	}
	return s.cache.Set(ctx, cacheKey(token), b, ttl).Err()
}

// DeleteCtx removes Firestore's copy first: removing Redis's first would let a read in
// between put the session straight back from Firestore.
func (s *firestoreStore) DeleteCtx(ctx context.Context, token string) error {
	if _, err := s.docs.Doc(DocID(token)).Delete(ctx); err != nil {
		return fmt.Errorf("delete session from firestore: %w", err)
	}
	return s.cache.Del(ctx, cacheKey(token)).Err()
}

// signedIn asks Firestore, not the region's cache: sockets that re-check their session see a
// sign-out made in another region at their next check.
func (s *firestoreStore) signedIn(ctx context.Context, token string) (bool, error) {
	_, found, err := s.read(ctx, token)
	return found, err
}

// scs calls the context-free methods only on stores without the Ctx ones; these exist so
// that the type is an scs.Store.
func (s *firestoreStore) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}
func (s *firestoreStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}
func (s *firestoreStore) Delete(token string) error {
	return s.DeleteCtx(context.Background(), token)
}
