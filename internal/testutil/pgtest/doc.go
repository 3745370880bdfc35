// Package pgtest runs throwaway PostgreSQL clusters for Go tests.
//
// Each test package starts its own cluster from TestMain (see Main) on a
// random free port in a fresh temporary directory, migrates a template
// database once (CreateTemplate), and gives every test a cheap clone of it
// (NewDB) so tests can run with t.Parallel() without seeing each other's rows.
//
// The server is the real PostgreSQL found by BinDir (initdb and postgres from
// PATH or /usr/lib/postgresql/<version>/bin). When the tests run as root it is
// run as the "postgres" OS user, because initdb and postgres refuse root.
//
// Imports: the standard library and pgx only. BinDir, Start and Stop do not
// depend on package testing (bindir.go, cluster.go) so that non-test code such
// as `madbase dev` can reuse them; only testing.go imports testing.
package pgtest
