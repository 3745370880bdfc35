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
//     to a channel, left idle; RSS per connection from /proc/self/status
//     (VmRSS) against the same number of raw WebSocket connections to a
//     minimal echo server. Both figures include the client side, which
//     lives in the same process; their difference is what MadBase costs
//     over a bare WebSocket server.
//   - TestBenchBroadcast: one broadcast to BENCH_SUBS (default 5,000)
//     subscribers, BENCH_ROUNDS (default 20) times; p50/p99 delivery
//     latency against a plain Go server writing the same frame to the same
//     number of connections.
//   - TestBenchChanges: inserts into an RLS table with BENCH_RLS_SUBS
//     (default "100,1000") postgres_changes subscribers, BENCH_SUBS_PER_USER
//     (default 10) connections per user; BENCH_DELIVERIES (default 100,000)
//     deliveries per size. Reports delivered messages/s, p50/p99
//     commit-to-client latency and visibility queries per change (the
//     surface's madbase_realtime_rls_queries_total), against the same
//     subscribers joined with the service role (RLS bypassed).
//
// The process raises its own open-files limit (it holds both ends of every
// connection). Results of a run are in README.md.
package realtimebench
