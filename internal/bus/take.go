package bus

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// takeScript is a token bucket kept in one Redis hash: t tokens left at
// l (microseconds of Redis's own clock, so that the nodes' clocks need not
// agree). It refills at one token per ARGV[1] microseconds up to ARGV[2],
// takes one if it can, and answers {taken, tokens left as text}. The hash
// expires once it would be full again.
var takeScript = redis.NewScript(`
local every, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000000 + tonumber(now[2])
local b = redis.call('HMGET', KEYS[1], 't', 'l')
local tokens, last = tonumber(b[1]), tonumber(b[2])
if tokens == nil or last == nil then
  tokens, last = burst, now
end
tokens = math.min(burst, tokens + math.max(0, now - last) / every)
local taken = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'l', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * every / 1000) + 1000)
return {taken, tostring(tokens)}
`)

// Take spends one token of the bucket key, shared by every node on this
// Redis: burst tokens at once, then one per every. When it reports false,
// retry is how long until the next token. An error (Redis away) leaves the
// decision to the caller.
func (r *Redis) Take(ctx context.Context, key string, every time.Duration, burst int) (ok bool, retry time.Duration, err error) {
	res, err := takeScript.Run(ctx, r.client, []string{r.prefix + "bucket:" + key},
		max(every.Microseconds(), 1), burst).Slice()
	if err != nil {
		return false, 0, fmt.Errorf("bus: take %s: %w", key, err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("bus: take %s: unexpected reply %v", key, res)
	}
	taken, _ := res[0].(int64)
	s, _ := res[1].(string)
	left, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return false, 0, fmt.Errorf("bus: take %s: %w", key, err)
	}
	if taken == 1 {
		return true, 0, nil
	}
	return false, time.Duration(math.Ceil((1 - left) * float64(every))), nil
}
