// Package realtimebench measures the Realtime surface (internal/realtime)
// against minimal baselines measured in the same run, over loopback with
// the server in-process and a real PostgreSQL from pgtest. It is not part
// of `make test`; run it with
//
//	go test -tags bench -run TestBench -v -timeout 15m ./bench/realtime/
//
// Scenarios (BENCH_ONLY, a substring of the test names, picks some):
//
//   - TestBenchIdle: BENCH_CONNS (default 10,000) connections, each joined
//     to one of 100 channels, left idle; the server's RSS growth per
//     connection (VmRSS of /proc/self/status) against the same number of
//     raw WebSocket connections to a minimal echo server. The clients run
//     in a child process (the test binary re-executed), so the figures are
//     the server side only; the client side's growth is reported apart.
//   - TestBenchBroadcast: one broadcast to BENCH_SUBS (default 5,000)
//     subscribers, BENCH_ROUNDS (default 20) times; p50/p99 delivery
//     latency against a plain Go server writing the same frame to the same
//     number of connections.
//   - TestBenchChanges: inserts into an RLS table with BENCH_RLS_SUBS
//     (default "100,1000") postgres_changes subscribers, BENCH_SUBS_PER_USER
//     (default 10) connections per user. Two phases per size: a burst of
//     BENCH_DELIVERIES/size (default 100,000 deliveries) single-row insert
//     transactions from 4 writers as fast as they go, then BENCH_PACED_S
//     (default 5) seconds paced at half the burst's rate (latency without
//     a backlog). Reports delivered messages/s, p50/p99 commit-to-client
//     latency and visibility queries per change (the surface's
//     madbase_realtime_rls_queries_total), against the same subscribers
//     joined with the service role (RLS bypassed).
//
// The processes raise their own open-files limits.
package realtimebench
