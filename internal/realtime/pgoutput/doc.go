// Package pgoutput speaks PostgreSQL logical replication: it decodes the
// messages of the built-in "pgoutput" plugin (protocol version 1), drives the
// replication commands on a pgconn connection opened with
// replication=database, and runs a Stream that hands whole committed
// transactions to a callback and acknowledges their end LSN to the server only
// after that callback has returned.
//
// It exists because realtime's postgres_changes needs change capture that
// survives restarts without losing committed rows: the slot's confirmed_flush
// position is advanced only as far as the caller has durably handled.
//
// Values are left as the server sent them (type OID plus text, or binary
// bytes); converting them to JSON is the caller's job, because that needs
// type names and casts that belong to realtime.
//
// Imports: the standard library and pgx v5's pgconn and pgproto3 only. No
// other MadBase package.
package pgoutput
