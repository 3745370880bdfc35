// Package pgtest runs throwaway PostgreSQL clusters for Go tests.
//
// Each test package starts its own cluster from TestMain on a random free
// port in a fresh temporary directory, migrates a template database once,
// and gives every test a cheap clone of it, so tests can run with
// t.Parallel() without seeing each other's rows:
//
//	var pg *pgtest.Cluster
//
//	func TestMain(m *testing.M) {
//		os.Exit(pgtest.Main(m, &pg, func(ctx context.Context, c *pgtest.Cluster) error {
//			return c.CreateTemplate(ctx, "app", func(ctx context.Context, url string) error {
//				return migrate(ctx, url) // whatever the package needs in every database
//			})
//		}))
//	}
//
//	func TestThing(t *testing.T) {
//		t.Parallel()
//		url := pg.NewDB(t, "app") // dropped when the test ends
//		…
//	}
//
// The server is the real PostgreSQL found by BinDir (initdb and postgres on
// PATH or in /usr/lib/postgresql/<version>/bin). When the tests run as root
// it runs as the "postgres" OS user, because initdb and postgres refuse root.
// initdb runs once per machine into a cache that each Start copies; clusters
// live on /dev/shm when that is a roomy tmpfs. If the test process dies
// without stopping its cluster (a test panicked, or the binary was killed),
// the kernel signals the server to shut down, and the next Start removes the
// directory it left.
//
// Imports: the standard library, pgx and internal/devdb (for BinDir). BinDir,
// Start and Stop do not depend on package testing (bindir.go, cluster.go,
// initdb.go) so that non-test code such as `madbase dev` can reuse them; only
// testing.go imports testing.
package pgtest
