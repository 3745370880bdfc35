// Package restbench measures /rest/v1 against a baseline in the same run: a
// minimal Go HTTP handler that runs the very SQL MadBase generates straight
// on a pgx pool (no role/claims setup, no parsing). It is not part of
// `make test`; run it with
//
//	go test -tags bench -run TestBench -v -timeout 20m ./bench/rest/
//
// BENCH_DURATION (default 5s per measurement) and BENCH_WORKERS (default
// 16 concurrent clients) tune it.
package restbench
