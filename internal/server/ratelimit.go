package server

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/madbase/madbase/internal/bus"
	"github.com/madbase/madbase/internal/ratelimit"
)

// takeTimeout bounds the wait for Redis on a rate-limited request; past it
// the node decides alone.
const takeTimeout = 250 * time.Millisecond

// sharedLimiter keeps the rate-limit budgets in Redis, one for the whole
// cluster, as a single GoTrue would. While Redis cannot answer, each node
// falls back to buckets of its own, so limits still hold per node.
type sharedLimiter struct {
	redis *bus.Redis
	local *ratelimit.Limiter
	log   *slog.Logger
	// warned is when the fallback was last logged (unix nanoseconds).
	warned atomic.Int64
}

func newSharedLimiter(r *bus.Redis, log *slog.Logger) *sharedLimiter {
	return &sharedLimiter{redis: r, local: ratelimit.New(nil), log: log}
}

func (s *sharedLimiter) Allow(key string, l ratelimit.Limit) (bool, time.Duration) {
	if l.Unlimited() {
		return true, 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), takeTimeout)
	defer cancel()
	ok, retry, err := s.redis.Take(ctx, "ratelimit:"+key, l.Every, l.Burst)
	if err != nil {
		if last := s.warned.Load(); time.Since(time.Unix(0, last)) > time.Minute && s.warned.CompareAndSwap(last, time.Now().UnixNano()) {
			s.log.Warn("rate limits: Redis unavailable, using this node's own buckets", "err", err)
		}
		return s.local.Allow(key, l)
	}
	return ok, retry
}
