// Package server is the composition root: it builds every part from the
// configuration, mounts every surface on one http.ServeMux, runs background
// workers and shuts down gracefully. Nothing imports it but cmd/madbase and
// tests.
package server
