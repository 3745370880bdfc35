// Package e2e drives the real @supabase/supabase-js, on Node 22, against a
// freshly built madbase binary.
//
// TestMain builds the binary, starts two throwaway PostgreSQL clusters
// (the control plane and project alpha on one, project beta on the other, so
// projects really live on different servers), runs `madbase serve` as a
// subprocess on a free port, and creates projects alpha and beta through the
// admin API. TestSupabaseJS then runs every tests/**/*.test.mjs file with
// `node --test`, passing the URL and keys in the environment (see
// tests/helpers.mjs). Surface issues add test files there; nothing here
// needs to change for them.
//
// Node and supabase-js come from e2e/node_modules: run `npm ci` in e2e/
// first (make test does).
//
// Imports (tests only): the standard library, pgx and internal/testutil/pgtest.
package e2e
