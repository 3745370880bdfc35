// Package sqlgen turns a parsed request (internal/rest/query) and a schema
// cache snapshot (internal/rest/schema) into ONE SQL statement whose single
// result row carries the final response body, built by PostgreSQL itself
// (json_agg/row_to_json over LATERAL subqueries, as PostgREST does), plus the
// counts the handler needs for status codes and Content-Range.
//
// Identifiers are always quoted with pgx.Identifier; every value from the
// request is a bound parameter, sent untyped (text format) so PostgreSQL
// resolves and reports type errors itself (22P02, 42703). Type names of
// select casts are the only request text inlined, after validation against
// a strict identifier charset. The statement text depends only on the
// request's shape, so prepared statements can be cached per shape.
//
// It may import the standard library, pgx, internal/rest/query and
// internal/rest/schema. It does no I/O.
package sqlgen
