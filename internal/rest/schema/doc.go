// Package schema is the REST API's schema cache: it introspects a tenant
// database (tables, views, columns, keys, foreign keys traced through simple
// views, functions) with one catalog query per kind into an immutable
// Snapshot, and resolves what PostgREST resolves against it: tables
// (PGRST205), embedding relationships (PGRST200/PGRST201) and RPC functions
// (PGRST202/PGRST203).
//
// It may import the standard library, pgx and internal/rest/query (for the
// shared PostgREST error type). A Snapshot is safe for concurrent use; a
// reload builds a new one.
package schema
