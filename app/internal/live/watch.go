package live

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/redisclient"
)

// Several regions: each region's Redis reaches only its own instances, so cart changes come
// from a watch on the shared database (Options.WatchCart) and sign-outs made in another
// region from re-checking each socket's session (Options.SignedIn).

// watch is the cart listener of one user's sockets on this instance.
type watch struct {
	stop context.CancelFunc
	last []byte // the newest cart frame, for sockets that open later; guarded by Hub.mu
}

// startWatchLocked runs WatchCart for user until the user's last socket here closes,
// starting it again with backoff when it fails. h.mu is held.
func (h *Hub) startWatchLocked(user string) {
	ctx, stop := context.WithCancel(context.Background())
	w := &watch{stop: stop}
	h.watches[user] = w
	changed := func(cart any) {
		raw, err := json.Marshal(cart)
		if err != nil {
			h.opts.Log.Warn("live updates: cart not encodable", "user", user, "error", err)
			return
		}
		frame := cartFrame(raw)
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.watches[user] != w {
			return // stopped: a newer watch, if any, serves the user's sockets
		}
		w.last = frame
		h.sendLocked(user, frame)
	}
	h.watching.Go(func() {
		_, _ = backoff.Retry(ctx, func() (struct{}, error) {
			err := h.opts.WatchCart(ctx, user, changed)
			if ctx.Err() != nil {
				return struct{}{}, nil
			}
			if err == nil {
				err = errors.New("watch ended")
			}
			return struct{}{}, err
		}, redisclient.RetryForever(ctx, h.opts.Log, "live updates: cart watch failed; restarting it", "user", user)...)
	})
}

// stillSignedIn asks SignedIn about session. A check that fails keeps the socket open: the
// store being unreachable is not a sign-out, and the next check asks again.
func (h *Hub) stillSignedIn(ctx context.Context, user, session string) bool {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ok, err := h.opts.SignedIn(cctx, session)
	if err != nil {
		if ctx.Err() == nil { // not just the socket closing meanwhile
			h.opts.Log.Warn("live updates: cannot re-check a socket's session; keeping it open", "user", user, "error", err)
		}
		return true
	}
	return ok
}
