package pgtest

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// NewDB clones template ("" means template1) into a fresh, uniquely named
// database, drops it (WITH (FORCE)) when the test ends, and returns its URL.
// It is safe to call from parallel tests.
func (c *Cluster) NewDB(t testing.TB, template string) string {
	t.Helper()
	if template == "" {
		template = "template1"
	}
	name := dbName(c.seq.Add(1), t.Name())
	if err := c.createDB(t.Context(), name, template); err != nil {
		t.Fatalf("pgtest: clone %q: %v", template, err)
	}
	t.Cleanup(func() {
		// t.Context is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Exec(ctx, "postgres", "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop test database: %v", err)
		}
	})
	return c.URL(name)
}

// dbName makes a database name that is unique within the cluster and says
// which test it belongs to, within PostgreSQL's 63-byte identifier limit.
func dbName(seq uint64, test string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		if b.Len() >= 40 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return fmt.Sprintf("t%d_%s", seq, b.String())
}

// Fuzzing reports whether the test binary runs under go test -fuzz, as
// the coordinator or one of its workers; a package whose fuzz targets need
// no database can skip the cluster then. It parses the flags.
func Fuzzing() bool {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		return true
	}
	f := flag.Lookup("test.fuzzworker")
	return f != nil && f.Value.String() == "true"
}

// Main is for TestMain: it starts a cluster, stores it in *c, runs setup (may
// be nil), runs the tests and stops the cluster, returning the exit code for
// os.Exit. The cluster is stopped even if setup fails or panics. A test that
// panics kills the process before Main can stop anything; the server then
// shuts itself down on its parent's death and the next run removes its files.
//
//	var pg *pgtest.Cluster
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg, nil)) }
func Main(m *testing.M, c **Cluster, setup func(ctx context.Context, c *Cluster) error) (code int) {
	if _, err := BinDir(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: these tests need a local PostgreSQL server installation: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cluster, err := Start(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
	}()
	*c = cluster
	if setup != nil {
		if err := setup(ctx, cluster); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: TestMain setup: %v\n", err)
			return 1
		}
	}
	cancel() // setup's deadline must not reach into the tests
	return m.Run()
}
