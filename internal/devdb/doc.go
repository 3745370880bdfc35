// Package devdb runs the long-lived local PostgreSQL cluster behind
// `madbase dev`: it finds the system's server programs, initialises a data
// directory once (as the "postgres" OS user when running as root, since
// initdb and postgres refuse root), starts it on a fixed loopback port with
// wal_level=logical, creates databases, and stops it with pg_ctl's fast
// mode so the next run finds the data intact.
//
// Unlike internal/testutil/pgtest, nothing here is throwaway: the cluster
// keeps its data between runs and trusts no connection without a password.
//
// Imports: the standard library and pgx only.
package devdb
