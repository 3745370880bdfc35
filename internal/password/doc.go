// Package password hashes and verifies user passwords and checks them against
// a project's password policy.
//
// New hashes are argon2id PHC strings; verification also accepts bcrypt
// hashes (users imported from Supabase, whose GoTrue stores bcrypt) and
// reports when a stored hash should be replaced. Every hash and verify runs
// under a Hasher's concurrency bound, because one argon2id evaluation with
// the default parameters allocates 19 MiB and an unbounded login flood would
// otherwise exhaust memory.
//
// It may import only the standard library and golang.org/x/crypto; it is a
// leaf and imports no other MadBase package.
package password
