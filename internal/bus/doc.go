// Package bus is a small topic-based publish/subscribe abstraction that lets
// the nodes of one MadBase deployment exchange messages. Two
// implementations: Memory (one process; the default, and what tests of a
// single node use) and Redis (Redis Pub/Sub, for several nodes).
//
// Delivery is best effort and at most once, in publish order per
// publisher and topic: a subscriber that is too slow loses messages (its
// buffer is bounded) and a subscriber that is disconnected from Redis
// misses what was published meanwhile. Callers needing more build it on
// top (realtime resumes postgres_changes from the replication slot).
//
// Redis also keeps token buckets the nodes share (Redis.Take), for
// cluster-wide rate limits.
//
// Imports: the standard library and go-redis. No MadBase package.
package bus
