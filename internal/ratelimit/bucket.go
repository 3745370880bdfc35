package ratelimit

import (
	"sync"
	"time"
)

// Limit is a refill rate and a bucket size: Burst requests at once, then
// one every Every.
type Limit struct {
	Every time.Duration
	Burst int
}

// PerWindow spreads n requests over window, with a burst of burst (n when
// burst <= 0), e.g. PerWindow(150, 5*time.Minute, 30) for GoTrue's token
// limit.
func PerWindow(n int, window time.Duration, burst int) Limit {
	if n <= 0 {
		return Limit{}
	}
	if burst <= 0 {
		burst = n
	}
	return Limit{Every: window / time.Duration(n), Burst: burst}
}

// Unlimited reports whether l lets everything through.
func (l Limit) Unlimited() bool { return l.Burst <= 0 || l.Every <= 0 }

// Allower decides whether one more request under l may go ahead; retry,
// when not, is how long until it could. *Limiter is the in-process one.
type Allower interface {
	Allow(key string, l Limit) (ok bool, retry time.Duration)
}

type bucket struct {
	tokens float64
	last   time.Time
}

// Limiter is a set of token buckets. It is safe for concurrent use.
type Limiter struct {
	now func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	sweep   time.Time
}

// New returns an empty Limiter; now is the clock (time.Now when nil).
func New(now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{now: now, buckets: map[string]*bucket{}}
}

// Allow takes one token from key's bucket under limit l and reports
// whether there was one. When it returns false, retry is how long until
// the next token.
func (lm *Limiter) Allow(key string, l Limit) (ok bool, retry time.Duration) {
	if l.Unlimited() {
		return true, 0
	}
	now := lm.now()
	lm.mu.Lock()
	defer lm.mu.Unlock()
	lm.maybeSweep(now, l)
	b := lm.buckets[key]
	if b == nil {
		b = &bucket{tokens: float64(l.Burst), last: now}
		lm.buckets[key] = b
	}
	b.tokens = min(float64(l.Burst), b.tokens+float64(now.Sub(b.last))/float64(l.Every))
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) * float64(l.Every))
}

// maybeSweep forgets buckets idle long enough to be full again, so the map
// does not grow with every client IP ever seen. It runs at most once a
// minute and only when the map is large.
func (lm *Limiter) maybeSweep(now time.Time, l Limit) {
	if len(lm.buckets) < 1024 || now.Sub(lm.sweep) < time.Minute {
		return
	}
	lm.sweep = now
	idle := time.Duration(l.Burst) * l.Every
	if idle < time.Hour {
		idle = time.Hour
	}
	for k, b := range lm.buckets {
		if now.Sub(b.last) > idle {
			delete(lm.buckets, k)
		}
	}
}

// Len is the number of buckets held, for tests and metrics.
func (lm *Limiter) Len() int {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	return len(lm.buckets)
}
