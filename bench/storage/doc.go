// Package storage benchmarks MadBase's /storage/v1 upload and download
// throughput against a plain Go handler that moves the same bytes to and
// from the same kind of blob store, and reports the ratio.
//
// It is not part of `make test`: the tests carry the "bench" build tag.
//
//	go test -tags bench -run Throughput -v ./bench/storage/
//	go test -tags bench -bench . -run ^$ ./bench/storage/
package storage
