// Package ratelimit holds in-memory token buckets keyed by arbitrary strings
// (a project, an endpoint group and a client IP), for surfaces that must
// answer "too many requests" the way their reference server does.
//
// It is a leaf: it may import only the standard library. A Limiter's
// buckets live in one process; a cluster shares budgets through another
// Allower (the server's, over Redis).
package ratelimit
