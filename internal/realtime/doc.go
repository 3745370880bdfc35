// Package realtime is MadBase's Supabase-compatible Realtime surface: the
// Phoenix WebSocket at /realtime/v1/websocket (serializers vsn 1.0.0 and
// 2.0.0), channels with broadcast, presence and postgres_changes, private
// channels authorised by RLS on realtime.messages, and the REST broadcast
// endpoints under /realtime/v1/api. Wire details follow
// shared/compat/realtime-storage.md part A.
//
// postgres_changes come from one logical replication stream per project
// (package pgoutput) on the persistent slot madbase_<ref>, reading the
// publications supabase_realtime and madbase_realtime_messages (inserts into
// realtime.messages, delivered as broadcasts). The stream runs while the
// project has joined channels and for Options.WarmFor after the last one
// left; the slot is created (and positioned) before a join with bindings is
// answered, so no change committed after SUBSCRIBED is missed, and it is
// dropped when the project is deleted.
//
// Delivery guarantee: at least once across crashes and restarts, no gaps.
// A transaction's end LSN is confirmed to PostgreSQL only after its events
// were queued to every subscribed connection, and the position is
// persisted in control.realtime_slots; a restart resumes from there (after
// Options.ResumeDelay, so clients can rejoin) and re-sends what a crash cut
// short. Duplicates around a crash are possible; an event is identified by
// (commit_timestamp, table, primary key, type). Changes committed while a
// project had no subscriber at all (stream stopped after the warm period)
// are skipped, not replayed to later subscribers, as on Supabase. A
// connection dropped as a slow consumer loses what was queued for it.
//
// Delivery runs in batches: the stream hands transactions to a queue and
// reads on; the deliverer takes what has queued up (up to 1,000 row
// changes), delivers it in commit order and only then confirms its end.
//
// RLS: INSERT/UPDATE rows on RLS-enabled tables are re-read by primary key
// under each subscriber's role and claims, with one query per (table,
// claims) group per batch through tenant.Tx, once the batch's transactions
// are visible to new snapshots (a commit is streamed before it is);
// DELETEs are never checked and carry only the primary key on RLS tables.
//
// Several nodes (Options.Bus, see cluster.go): broadcast and presence reach
// every node's clients; one node per project leads (PostgreSQL advisory
// lock) and streams, and the others follow its transactions over the bus.
// The guarantee above holds for the leader's clients; the bus (Redis
// Pub/Sub) is at most once, so a follower that loses its Redis connection
// misses what was published meanwhile.
//
// Not done: column-privilege trimming of payloads; the `select` binding
// option and the like/ilike/match filter operators.
//
// Imports: the standard library, coder/websocket, pgx, prometheus, and the
// MadBase packages bus, control, tenant, httpx, token, pg and
// realtime/pgoutput. No other surface.
package realtime
