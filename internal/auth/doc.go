// Package auth is MadBase's GoTrue-compatible /auth/v1: sign-up, password,
// refresh and PKCE grants, sessions and logout, email links and OTPs, the
// admin user API, and GoTrue's error dialect (errors.go holds its one
// renderer). Users live in the project's own database, in GoTrue's auth
// schema, so triggers, foreign keys and policies written for Supabase work.
//
// Every auth operation runs as the platform (the pool's connecting user) in
// transactions of its own, not through tenant.Tx: GoTrue writes auth.* as its
// own database role, and user triggers on auth.users expect that.
//
// It may import the leaf packages (httpx, tenant, control, token, password,
// mail, ratelimit, pg) and never another client surface.
package auth
