// Package live pushes cart changes to the user's open WebSockets on every instance: a change
// is published once (Redis pub/sub, or in-process when running on memory stores) and each
// instance forwards it to its own sockets for that user. In several regions, where a region's
// Redis reaches only its own instances, each instance instead follows the carts of the users
// with sockets on it in the database every region shares (Options.WatchCart).
package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/redisclient"
)

// Channel is the Redis pub/sub channel carrying cart changes between instances.
const Channel = "cart-changes"

// EndedChannel carries sign-outs between instances, as {"user","session"}: the sockets opened
// with that session close. A channel of its own, so instances that do not know it ignore it.
const EndedChannel = "session-ends"

// Options configure a Hub.
type Options struct {
	Instance string
	// Redis fans changes out to other instances; nil keeps them in this process.
	Redis *redis.Client
	// PingInterval keeps idle connections alive through proxies (default 25s).
	PingInterval time.Duration
	Log          *slog.Logger

	// WatchCart, when set, is where sockets get cart changes from instead of pub/sub: it
	// calls changed with user's cart now and after every change made anywhere, until ctx ends
	// (then returns nil) or it fails (it is then started again). The hub runs one per user
	// with sockets here, stopped when the user's last socket closes, and Publish sends
	// nothing: every instance's watch, this one's included, sees the change.
	WatchCart func(ctx context.Context, user string, changed func(cart any)) error
	// SignedIn, when set, is asked every Recheck whether a socket's session still exists; a
	// socket whose session is gone closes with 1008. Sign-outs reach other instances of the
	// region through Redis at once; this is for those made in another region.
	SignedIn func(ctx context.Context, session string) (bool, error)
	Recheck  time.Duration // default 60s
}

// Hub owns the WebSocket connections of this instance.
type Hub struct {
	opts     Options
	mu       sync.Mutex
	users    map[string]map[*conn]struct{}
	watches  map[string]*watch // with WatchCart: one per user in users
	closing  bool
	serving  sync.WaitGroup // one per connection being served
	watching sync.WaitGroup // one per watch goroutine
	ready    chan struct{}  // closed once the subscription is live
}

type conn struct {
	ws      *websocket.Conn
	send    chan []byte   // capacity 1: a newer cart replaces one not yet sent
	session string        // the session the socket was opened with; "" if none
	ended   chan struct{} // closed (under Hub.mu) when that session is signed out
}

// NewHub returns a hub; call Run to receive changes from other instances.
func NewHub(o Options) *Hub {
	if o.PingInterval <= 0 {
		o.PingInterval = 25 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Recheck <= 0 {
		o.Recheck = 60 * time.Second
	}
	h := &Hub{opts: o, users: map[string]map[*conn]struct{}{}, watches: map[string]*watch{},
		ready: make(chan struct{})}
	if o.Redis == nil {
		close(h.ready)
	}
	return h
}

type change struct {
	User string          `json:"user"`
	Cart json.RawMessage `json:"cart"`
}

type ended struct {
	User    string `json:"user"`
	Session string `json:"session"`
}

// Publish announces user's new cart (any JSON value) to every instance, this one included.
// With WatchCart it does nothing: the watches see the change in the database.
func (h *Hub) Publish(ctx context.Context, user string, cart any) error {
	if h.opts.WatchCart != nil {
		return nil
	}
	raw, err := json.Marshal(cart)
	if err != nil {
		return err
	}
	msg, err := json.Marshal(change{User: user, Cart: raw})
	if err != nil {
		return err
	}
	if h.opts.Redis == nil {
		h.deliver(msg)
		return nil
	}
	if err := h.opts.Redis.Publish(ctx, Channel, msg).Err(); err != nil {
		return fmt.Errorf("publish cart change: %w", err)
	}
	return nil
}

// EndSession closes, on every instance, the user's sockets opened with session: they must
// not go on receiving the cart of a user who signed out there.
func (h *Hub) EndSession(ctx context.Context, user, session string) error {
	msg, err := json.Marshal(ended{User: user, Session: session})
	if err != nil {
		return err
	}
	if h.opts.Redis == nil {
		h.deliverEnded(msg)
		return nil
	}
	if err := h.opts.Redis.Publish(ctx, EndedChannel, msg).Err(); err != nil {
		return fmt.Errorf("publish sign-out: %w", err)
	}
	return nil
}

// Run subscribes to changes from all instances and forwards them until ctx ends. A Redis
// that does not answer yet is retried with backoff (each failure logged as a warning) until it
// does: Ready and Check say when. Without Redis there is nothing to receive and it just waits.
func (h *Hub) Run(ctx context.Context) error {
	if h.opts.Redis == nil {
		<-ctx.Done()
		return nil
	}
	// Every attempt is bounded, so a path that drops packets is tried again soon rather than
	// waited on through all the dial retries of the pool.
	const attempt = 3 * time.Second
	sctx, cancel := context.WithTimeout(ctx, attempt)
	sub := h.opts.Redis.Subscribe(sctx, Channel, EndedChannel) // remembers the channels even if it fails
	cancel()
	defer sub.Close()
	// Receive the subscription confirmation first, so Ready means changes are flowing. Each
	// Receive after a failure dials again and re-sends the SUBSCRIBE.
	receive := func() (any, error) {
		rctx, cancel := context.WithTimeout(ctx, attempt)
		defer cancel()
		return sub.Receive(rctx)
	}
	_, err := backoff.Retry(ctx, receive,
		redisclient.RetryForever(ctx, h.opts.Log, "live updates: no Redis subscription yet; retrying", "channel", Channel)...)
	if err != nil {
		return nil // only ctx ends the retries
	}
	close(h.ready)
	// go-redis re-subscribes by itself after a broken connection.
	ch := sub.Channel(redis.WithChannelSize(256))
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-ch:
			if !ok {
				return nil
			}
			if m.Channel == EndedChannel {
				h.deliverEnded([]byte(m.Payload))
			} else {
				h.deliver([]byte(m.Payload))
			}
		}
	}
}

// ErrNotReady is returned by Check and Serve until changes from other instances are being
// received: a socket opened before would miss them.
var ErrNotReady = errors.New("live updates not ready: no Redis subscription yet")

// Check is nil once changes from other instances are being received, else ErrNotReady.
func (h *Hub) Check(context.Context) error {
	select {
	case <-h.ready:
		return nil
	default:
		return ErrNotReady
	}
}

// Ready is closed once changes from other instances are being received.
func (h *Hub) Ready() <-chan struct{} { return h.ready }

func (h *Hub) deliver(msg []byte) {
	var c change
	if err := json.Unmarshal(msg, &c); err != nil || c.User == "" {
		h.opts.Log.Warn("ignoring malformed cart change", "error", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sendLocked(c.User, cartFrame(c.Cart))
}

func cartFrame(cart json.RawMessage) []byte {
	frame, _ := json.Marshal(struct {
		Type string          `json:"type"`
		Cart json.RawMessage `json:"cart"`
	}{"cart", cart})
	return frame
}

// sendLocked queues frame on every socket of user; h.mu is held.
func (h *Hub) sendLocked(user string, frame []byte) {
	for cn := range h.users[user] {
		queue(cn, frame)
	}
}

// queue puts frame on the socket's queue, replacing a cart not yet sent: the newest wins.
func queue(cn *conn, frame []byte) {
	select {
	case cn.send <- frame:
	default: // an older cart is still queued: replace it
		select {
		case <-cn.send:
		default:
		}
		select {
		case cn.send <- frame:
		default:
		}
	}
}

func (h *Hub) deliverEnded(msg []byte) {
	var e ended
	if err := json.Unmarshal(msg, &e); err != nil || e.User == "" || e.Session == "" {
		h.opts.Log.Warn("ignoring malformed sign-out", "error", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for cn := range h.users[e.User] {
		if cn.session == e.Session {
			select {
			case <-cn.ended:
			default:
				close(cn.ended)
			}
		}
	}
}

// Open is the number of WebSockets this instance holds.
func (h *Hub) Open() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, cs := range h.users {
		n += len(cs)
	}
	return n
}

// ErrClosing is returned by Serve once CloseAll has begun.
var ErrClosing = errors.New("instance is shutting down")

// Serve upgrades the request for user and serves the socket until either side closes it.
// The caller has already checked the session and the origin. Before the hub is ready it
// returns ErrNotReady without upgrading.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, user string) error {
	return h.ServeSession(w, r, user, "", time.Time{})
}

// ServeSession is Serve for a socket opened with session, which lasts until until (zero: no
// end): the socket closes with 1008 (policy violation) when the session ends, by sign-out
// (EndSession) or expiry, so that it stops carrying the user's cart.
func (h *Hub) ServeSession(w http.ResponseWriter, r *http.Request, user, session string, until time.Time) error {
	if err := h.Check(r.Context()); err != nil {
		return err
	}
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		return ErrClosing
	}
	h.serving.Add(1)
	h.mu.Unlock()
	defer h.serving.Done()

	ws, err := websocket.Accept(w, r, nil) // also refuses an Origin whose host is not r.Host
	if err != nil {
		return err
	}
	defer ws.CloseNow()
	c := &conn{ws: ws, send: make(chan []byte, 1), session: session, ended: make(chan struct{})}
	if !h.add(user, c) {
		ws.Close(websocket.StatusGoingAway, "instance shutting down")
		return nil
	}
	defer h.remove(user, c)

	// Clients only send control frames; CloseRead answers pings and notices the close.
	ctx := ws.CloseRead(context.Background())
	hello, _ := json.Marshal(map[string]string{"type": "hello", "instance": h.opts.Instance, "user": user})
	if err := write(ctx, ws, hello); err != nil {
		return nil
	}
	ping := time.NewTicker(h.opts.PingInterval)
	defer ping.Stop()
	var expired <-chan time.Time
	if !until.IsZero() {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		expired = t.C
	}
	var recheck <-chan time.Time
	if h.opts.SignedIn != nil && session != "" {
		t := time.NewTicker(h.opts.Recheck)
		defer t.Stop()
		recheck = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.ended:
			ws.Close(websocket.StatusPolicyViolation, "signed out")
			return nil
		case <-expired:
			ws.Close(websocket.StatusPolicyViolation, "session expired")
			return nil
		case <-recheck:
			if !h.stillSignedIn(ctx, user, session) {
				ws.Close(websocket.StatusPolicyViolation, "signed out")
				return nil
			}
		case frame := <-c.send:
			if err := write(ctx, ws, frame); err != nil {
				return nil
			}
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := ws.Ping(pctx)
			cancel()
			if err != nil {
				ws.Close(websocket.StatusPolicyViolation, "ping timeout")
				return nil
			}
		}
	}
}

func write(ctx context.Context, ws *websocket.Conn, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return ws.Write(ctx, websocket.MessageText, msg)
}

func (h *Hub) add(user string, c *conn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return false
	}
	if h.users[user] == nil {
		h.users[user] = map[*conn]struct{}{}
	}
	h.users[user][c] = struct{}{}
	if h.opts.WatchCart != nil {
		if w := h.watches[user]; w == nil {
			h.startWatchLocked(user)
		} else if w.last != nil {
			queue(c, w.last) // the cart as the watch last saw it; later changes follow
		}
	}
	return true
}

func (h *Hub) remove(user string, c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.users[user], c)
	if len(h.users[user]) == 0 {
		delete(h.users, user)
		if w := h.watches[user]; w != nil {
			w.stop()
			delete(h.watches, user)
		}
	}
}

// CloseAll refuses new sockets and closes every open one with 1001 (going away), so clients
// reconnect at once, to another instance. It returns when all are closed or ctx ends.
func (h *Hub) CloseAll(ctx context.Context) {
	h.mu.Lock()
	h.closing = true
	var all []*conn
	for _, cs := range h.users {
		for c := range cs {
			all = append(all, c)
		}
	}
	h.mu.Unlock()

	var closing sync.WaitGroup
	for _, c := range all {
		closing.Go(func() { c.ws.Close(websocket.StatusGoingAway, "instance shutting down") })
	}
	done := make(chan struct{})
	go func() {
		closing.Wait()
		h.serving.Wait() // every socket removed: every watch told to stop
		h.watching.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		for _, c := range all {
			c.ws.CloseNow()
		}
	}
}
