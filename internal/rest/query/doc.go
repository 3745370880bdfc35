// Package query parses the URL query string of a PostgREST-compatible request
// (select, filters, logic trees, order, limit/offset, columns, on_conflict and
// RPC read arguments) into an AST, reporting malformed input as PostgREST's
// PGRST100 errors.
//
// It also defines Error, the PostgREST error dialect ({code, details, hint,
// message} plus an HTTP status) shared by the schema and sqlgen packages, so
// the HTTP handler needs only one errors.As.
//
// It may import only the standard library. It does no I/O and never panics on
// any input (see FuzzParse).
package query
