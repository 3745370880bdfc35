// Package realtime is MadBase's Supabase-compatible Realtime surface: the
// Phoenix WebSocket at /realtime/v1/websocket (serializers vsn 1.0.0 and
// 2.0.0), channels with broadcast, presence and postgres_changes, private
// channels authorised by RLS on realtime.messages, and the REST broadcast
// endpoints under /realtime/v1/api. Wire details follow
// shared/compat/realtime-storage.md part A.
//
// postgres_changes come from one logical replication stream per project
// (package pgoutput), started while the project has joined channels and kept
// warm briefly after. Delivery is at least once across crashes and restarts:
// a transaction's end LSN is confirmed to PostgreSQL (and persisted in
// control.realtime_slots) only after its events were queued to every
// subscribed connection, so a restart re-sends everything after the last
// confirmed position. Duplicates around a crash are possible; each event
// carries no extra id on the wire (realtime-js has no field for it), but
// (commit_timestamp, table, record) identify it.
//
// Imports: the standard library, coder/websocket, pgx, prometheus, and the
// MadBase packages control, tenant, httpx, token, pg and realtime/pgoutput.
// No other surface.
package realtime
