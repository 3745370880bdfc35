// Package rest is MadBase's PostgREST-compatible /rest/v1 surface: the HTTP
// handler that turns a request (path, query string, Prefer, Accept, Range,
// Accept-Profile/Content-Profile, body) into one SQL statement built by
// internal/rest/sqlgen, runs it in the caller's RLS transaction
// (tenant.Manager.Tx) and writes PostgreSQL's own JSON body back with
// PostgREST's status codes and headers; the renderer of PostgREST's error
// dialect {code, details, hint, message}; and the per-project schema cache,
// loaded lazily and reloaded on NOTIFY pgrst.
//
// It may import the standard library, pgx, internal/httpx, internal/tenant,
// internal/control, internal/token, internal/pg, the Prometheus client and
// its own subpackages (query, schema, sqlgen). It never imports another
// client surface.
package rest
