// Package wasmtest builds the test edge functions under
// internal/functions/testdata for GOOS=wasip1 GOARCH=wasm, for the tests of
// internal/functions and its subpackages (and the functions benchmarks).
//
// Builds are cached outside the repository by a hash of the toolchain
// version, the guest's name and its sources, so a test run after the first
// costs a file read per guest. WazeroCacheDir is a shared on-disk wazero
// compilation cache for the same reason: compiling a Go guest takes about a
// second, loading it from the cache a tenth of that.
//
// Test-only: no production code imports it. It may import the standard
// library only.
package wasmtest
