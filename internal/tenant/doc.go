// Package tenant answers "which project is this request for, and who is
// calling?", owns one bounded pgx pool per project, bootstraps tenant
// databases, and runs tenant.Tx: the transaction every surface uses, with the
// caller's role and JWT claims set transaction-locally so RLS policies
// written for Supabase decide what the caller sees and nothing leaks to the
// next user of a pooled connection.
//
// It may import config, control, httpx, migrate, pg, token; no surface.
package tenant
