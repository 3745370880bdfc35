// Package restbench measures /rest/v1 against a baseline in the same run: a
// minimal Go HTTP handler that runs the very SQL MadBase generates straight
// on a pgx pool (no role/claims setup, no parsing). It is not part of
// `make test`; run it with
//
//	go test -tags bench -run TestBench -v -timeout 20m ./bench/rest/
//
// BENCH_DURATION_MS (default 5000 per scenario and side, split into
// BENCH_ROUNDS short runs, default 10: each round runs every side once, in
// rotating order, and the ratio reported is the median of the rounds'
// ratios, so that drift on a shared machine hits both sides), BENCH_WORKERS
// (default 16 concurrent clients), BENCH_MAX_CONNS (default 10, both pools:
// the baseline's and MadBase's per-project pool) and BENCH_ONLY (a
// substring of the scenario names) tune it. Besides the ratio (and whether
// it meets the 0.8 target) it reports, as ratios to the baseline, the
// baseline wrapped in a transaction with a claims prelude (BEGIN and the
// prelude pipelined with the statement, COMMIT in a second round trip), the
// same in one round trip (the cost of any role/claims setup done right),
// the baseline without pgx's statement cache, and the Go CPU time per
// request of each side (client and server: both run in this process).
package restbench
