// Package metrics holds MadBase's Prometheus collectors on a registry of its
// own (no global state): HTTP requests by surface, route pattern, project and
// status, latency histograms, and per-project pool statistics. Surfaces
// register their own collectors on Registry. Labels come from route patterns,
// never from raw paths or user input.
//
// It imports client_golang, pgxpool and the standard library only.
package metrics
