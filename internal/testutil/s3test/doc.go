// Package s3test runs versitygw, a real S3 server, on loopback for Go
// tests: one process per test package, started by the first test that
// asks for it and stopped from TestMain. Tests skip when versitygw is not
// installed (scripts/versitygw.sh builds it), unless MADBASE_REQUIRE_S3 is
// set, as `make test` does.
package s3test
