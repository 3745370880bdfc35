// Package migrate applies embedded, versioned SQL migrations: one
// transaction per file, serialised across processes by an advisory lock,
// with checksums so an edited, already-applied file is reported instead of
// silently ignored. Used by control (its own schema) and tenant (bootstrap).
// It imports pgx and the standard library only.
package migrate
