package submissions

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// hub fans submission events out to this replica's WatchSubmission
// streams from one Redis connection: it subscribes to a submission's
// channel while at least one local stream watches it, instead of holding a
// connection per stream.
type hub struct {
	rdb *redis.Client
	log *slog.Logger

	mu       sync.Mutex
	ps       *redis.PubSub
	channels map[string]*hubChannel
}

type hubChannel struct {
	// ready is closed once Redis confirmed the subscription: events
	// published after that reach the watchers.
	ready    chan struct{}
	watchers map[chan []byte]struct{}
}

func newHub(rdb *redis.Client, log *slog.Logger) *hub {
	return &hub{rdb: rdb, log: log, channels: map[string]*hubChannel{}}
}

// watch subscribes to channel and returns the events as they come, and a
// function that ends the watch. It returns once the subscription is
// confirmed (or ctx ends).
func (h *hub) watch(ctx context.Context, channel string) (<-chan []byte, func(), error) {
	events := make(chan []byte, 16)
	h.mu.Lock()
	if h.ps == nil {
		h.ps = h.rdb.Subscribe(context.Background())
		go h.loop(h.ps)
	}
	c, ok := h.channels[channel]
	if !ok {
		c = &hubChannel{ready: make(chan struct{}), watchers: map[chan []byte]struct{}{}}
		h.channels[channel] = c
		if err := h.ps.Subscribe(ctx, channel); err != nil {
			delete(h.channels, channel)
			h.mu.Unlock()
			return nil, nil, err
		}
	}
	c.watchers[events] = struct{}{}
	h.mu.Unlock()
	stop := func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(c.watchers, events)
		if len(c.watchers) == 0 && h.channels[channel] == c {
			delete(h.channels, channel)
			if err := h.ps.Unsubscribe(context.Background(), channel); err != nil {
				h.log.Warn("unsubscribe", "channel", channel, "error", err)
			}
		}
	}
	select {
	case <-c.ready:
		return events, stop, nil
	case <-ctx.Done():
		stop()
		return nil, nil, ctx.Err()
	}
}

// loop delivers what the shared subscription receives. A slow watcher
// misses events rather than holding up the others (its stream re-reads the
// row periodically).
func (h *hub) loop(ps *redis.PubSub) {
	for m := range ps.ChannelWithSubscriptions(redis.WithChannelSize(1024)) {
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			h.mu.Lock()
			if c, ok := h.channels[m.Channel]; ok {
				select {
				case <-c.ready:
				default:
					close(c.ready)
				}
			}
			h.mu.Unlock()
		case *redis.Message:
			h.mu.Lock()
			if c, ok := h.channels[m.Channel]; ok {
				for w := range c.watchers {
					select {
					case w <- []byte(m.Payload):
					default:
					}
				}
			}
			h.mu.Unlock()
		}
	}
}

// close ends the shared subscription.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ps != nil {
		_ = h.ps.Close()
		h.ps = nil
	}
}

// watchSlots counts a user's open streams across replicas: a sorted set of
// stream ids scored by when their lease ends; leases of streams whose
// replica died run out on their own.
var takeWatchSlot = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`)

const watchLease = 2 * time.Minute

var errTooManyWatches = errors.New("too many open watches")

// takeWatch leases one of the user's stream slots and returns a function
// that gives it back. The lease is renewed while the stream lives.
func takeWatch(ctx context.Context, rdb *redis.Client, user uuid.UUID, limit int) (func(), error) {
	key := "watch:" + user.String()
	id := uuid.NewString()
	take := func(c context.Context) (bool, error) {
		now := time.Now()
		n, err := takeWatchSlot.Run(c, rdb, []string{key}, now.UnixMilli(), now.Add(watchLease).UnixMilli(), limit, id, watchLease.Milliseconds()).Int()
		return n == 1, err
	}
	ok, err := take(ctx)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errTooManyWatches
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(watchLease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				// Renew (the stream holds its slot already, so this
				// only moves its lease end).
				_ = rdb.ZAdd(context.Background(), key, redis.Z{Score: float64(time.Now().Add(watchLease).UnixMilli()), Member: id}).Err()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			_ = rdb.ZRem(context.Background(), key, id).Err()
		})
	}, nil
}

// channel is the Redis pub/sub channel of one submission's events.
func channel(id uuid.UUID) string { return "codequest:submission:" + id.String() }
