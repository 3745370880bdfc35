// Package redistest gives a Go test a Redis server of its own: a
// redis-server process on a free port, with nothing kept on disk, stopped
// when the test ends. Tests that need Redis skip when redis-server is not
// installed, unless MADBASE_REQUIRE_REDIS is set (as `make test` does when
// it is), so that a broken installation fails instead of hiding.
package redistest
