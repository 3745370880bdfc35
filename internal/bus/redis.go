package bus

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Redis is a Bus over Redis Pub/Sub. Every topic is a Redis channel named
// Prefix + topic, so that several deployments (or tests) can share one
// Redis.
type Redis struct {
	client *redis.Client
	prefix string

	mu     sync.Mutex
	subs   map[*redis.PubSub]struct{}
	closed bool
}

// NewRedis connects to the Redis at url (redis:// or rediss://) and
// checks that it answers. go-redis's own lines (failed dials while Redis is
// away, pub/sub reconnects) go to log, when not nil, as warnings; its
// logger is process-wide, so the last log given wins.
func NewRedis(ctx context.Context, url, prefix string, log *slog.Logger) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("bus: redis url: %w", err)
	}
	if log != nil {
		redis.SetLogger(redisLog{log})
	}
	c := redis.NewClient(opt)
	if err := c.Ping(ctx).Err(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("bus: redis ping: %w", err)
	}
	return &Redis{client: c, prefix: prefix, subs: map[*redis.PubSub]struct{}{}}, nil
}

// Publish implements Bus.
func (r *Redis) Publish(ctx context.Context, topic string, msg []byte) error {
	if err := r.client.Publish(ctx, r.prefix+topic, msg).Err(); err != nil {
		return fmt.Errorf("bus: publish %s: %w", topic, err)
	}
	return nil
}

// Subscribe implements Bus. go-redis resubscribes after a lost
// connection; messages published while it was away are lost.
func (r *Redis) Subscribe(ctx context.Context, topic string) (<-chan []byte, func(), error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, nil, ErrClosed
	}
	r.mu.Unlock()
	ps := r.client.Subscribe(ctx, r.prefix+topic)
	// Wait for the confirmation so that the subscription is active on return.
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return nil, nil, fmt.Errorf("bus: subscribe %s: %w", topic, err)
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		_ = ps.Close()
		return nil, nil, ErrClosed
	}
	r.subs[ps] = struct{}{}
	r.mu.Unlock()

	out := make(chan []byte, Buffer)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		in := ps.Channel(redis.WithChannelSize(Buffer))
		for {
			select {
			case <-sctx.Done():
				return
			case m, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- []byte(m.Payload):
				default: // a slow subscriber loses the message
				}
			}
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			r.mu.Lock()
			delete(r.subs, ps)
			r.mu.Unlock()
			_ = ps.Close()
			<-done
		})
	}
	context.AfterFunc(sctx, stop)
	return out, stop, nil
}

// Close implements Bus.
func (r *Redis) Close() error {
	r.mu.Lock()
	r.closed = true
	subs := r.subs
	r.subs = map[*redis.PubSub]struct{}{}
	r.mu.Unlock()
	for ps := range subs {
		_ = ps.Close()
	}
	return r.client.Close()
}

// redisLog puts go-redis's printf-style lines into the JSON log instead of
// its default plain-text logger on stderr.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "bus: "+strings.TrimSpace(fmt.Sprintf(format, v...)))
}
