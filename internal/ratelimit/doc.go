// Package ratelimit holds in-memory token buckets keyed by arbitrary strings
// (a project, an endpoint group and a client IP), for surfaces that must
// answer "too many requests" the way their reference server does.
//
// It is a leaf: it may import only the standard library. Buckets live in
// one process; a cluster of nodes gives each node its own budget.
package ratelimit
