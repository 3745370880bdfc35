// Package functions benchmarks MadBase edge functions: the latency of the
// first invocation after a deploy (cold) and of later ones (warm), and
// invocations per second, for the echo test function against a native Go
// handler doing the same work over the same loopback HTTP, with their ratio.
//
// It is not part of `make test`: the tests carry the "bench" build tag.
//
//	go test -tags bench -run Latency -v ./bench/functions/
//	go test -tags bench -bench . -run ^$ ./bench/functions/
package functions
