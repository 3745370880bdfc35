package pgtest_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/madbase/madbase/internal/testutil/pgtest"
)

var pg *pgtest.Cluster

func TestMain(m *testing.M) {
	if os.Getenv("PGTEST_PANIC_HELPER") != "" {
		os.Exit(pgtest.Main(m, &pg, nil)) // TestHelperPanics needs no template
	}
	os.Exit(pgtest.Main(m, &pg, func(ctx context.Context, c *pgtest.Cluster) error {
		return c.CreateTemplate(ctx, "tmpl", func(ctx context.Context, url string) error {
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				return err
			}
			// Left open on purpose: CreateTemplate must cope with a setup that
			// forgets to disconnect.
			_, err = conn.Exec(ctx, "CREATE TABLE items (owner text NOT NULL); INSERT INTO items VALUES ('template')")
			return err
		})
	}))
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestURL(t *testing.T) {
	t.Parallel()
	want := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/app?sslmode=disable", pg.Port())
	if got := pg.URL("app"); got != want {
		t.Errorf("URL(app) = %q, want %q", got, want)
	}
	if pg.Port() <= 0 || pg.Port() > 65535 {
		t.Errorf("Port() = %d", pg.Port())
	}
}

func TestExec(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	if err := pg.Exec(ctx, "postgres", "CREATE TABLE exec_test (n int)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Exec(context.Background(), "postgres", "DROP TABLE exec_test") })
	if err := pg.Exec(ctx, "postgres", "INSERT INTO exec_test VALUES ($1)", 40); err != nil {
		t.Fatal(err)
	}
	if err := pg.Exec(ctx, "postgres", "UPDATE exec_test SET n = n + 1; UPDATE exec_test SET n = n + 1"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := connect(t, pg.URL("postgres")).QueryRow(ctx, "SELECT n FROM exec_test").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 42 {
		t.Errorf("n = %d, want 42", n)
	}
	if err := pg.Exec(ctx, "postgres", "SELEC 1"); err == nil {
		t.Error("Exec of invalid SQL returned nil error")
	}
	if err := pg.Exec(ctx, "no_such_db", "SELECT 1"); err == nil {
		t.Error("Exec in a missing database returned nil error")
	}
}

func TestSettings(t *testing.T) {
	t.Parallel()
	conn := connect(t, pg.URL("postgres"))
	for name, want := range map[string]string{
		"wal_level":             "logical",
		"max_replication_slots": "20",
		"max_wal_senders":       "20",
		"fsync":                 "off",
		"synchronous_commit":    "off",
		"full_page_writes":      "off",
		"max_connections":       "300",
		"listen_addresses":      "127.0.0.1",
		"server_encoding":       "UTF8",
		"is_superuser":          "on",
	} {
		var got string
		if err := conn.QueryRow(t.Context(), "SHOW "+name).Scan(&got); err != nil {
			t.Fatalf("SHOW %s: %v", name, err)
		}
		if got != want {
			t.Errorf("SHOW %s = %q, want %q", name, got, want)
		}
	}
}

// Realtime streams changes over a logical replication connection, so host
// replication connections must be trusted.
func TestReplicationConnection(t *testing.T) {
	t.Parallel()
	conn, err := pgconn.Connect(t.Context(), pg.URL("postgres")+"&replication=database")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	res, err := conn.Exec(t.Context(), "IDENTIFY_SYSTEM").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Rows) != 1 {
		t.Fatalf("IDENTIFY_SYSTEM returned %v", res)
	}
}

func TestTemplateRefusesConnections(t *testing.T) {
	t.Parallel()
	conn, err := pgx.Connect(t.Context(), pg.URL("tmpl"))
	if err == nil {
		conn.Close(context.Background())
		t.Fatal("connected to template database; want ALLOW_CONNECTIONS false")
	}
	if !strings.Contains(err.Error(), "not currently accepting connections") {
		t.Errorf("unexpected error: %v", err)
	}
}

// Each parallel test gets its own copy of the template: both see the row
// setup wrote, and neither sees the other's write.
func TestNewDBIsolation(t *testing.T) {
	t.Parallel()
	var wrote sync.WaitGroup
	wrote.Add(2)
	urls := make(chan string, 2)
	for _, owner := range []string{"a", "b"} {
		t.Run(owner, func(t *testing.T) {
			t.Parallel()
			var once sync.Once
			done := func() { once.Do(wrote.Done) }
			defer done() // never leave the other test waiting

			url := pg.NewDB(t, "tmpl")
			urls <- url
			conn := connect(t, url)
			if _, err := conn.Exec(t.Context(), "INSERT INTO items VALUES ($1)", owner); err != nil {
				t.Fatal(err)
			}
			done()
			wrote.Wait() // the other test's row is now committed in its database

			rows, err := conn.Query(t.Context(), "SELECT owner FROM items ORDER BY owner")
			if err != nil {
				t.Fatal(err)
			}
			got, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			want := []string{owner, "template"}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("rows = %v, want %v", got, want)
			}
		})
	}
	t.Cleanup(func() {
		close(urls)
		var got []string
		for u := range urls {
			got = append(got, u)
		}
		if len(got) == 2 && got[0] == got[1] {
			t.Errorf("both tests got database %s", got[0])
		}
	})
}

func TestNewDBDropsOnCleanup(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("inner", func(t *testing.T) {
		u, err := url.Parse(pg.NewDB(t, ""))
		if err != nil {
			t.Fatal(err)
		}
		name = strings.TrimPrefix(u.Path, "/")
		// An open session must not stop the drop.
		connect(t, u.String())
	})
	if name == "" {
		t.Fatal("inner test did not create a database")
	}
	var exists bool
	err := connect(t, pg.URL("postgres")).QueryRow(t.Context(),
		"SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %q still exists after its test ended", name)
	}
}

func TestNewDBDefaultTemplate(t *testing.T) {
	t.Parallel()
	conn := connect(t, pg.NewDB(t, ""))
	var items *string
	if err := conn.QueryRow(t.Context(), "SELECT to_regclass('items')::text").Scan(&items); err != nil {
		t.Fatal(err)
	}
	if items != nil {
		t.Errorf("template1 clone has table items; want an empty database")
	}
}

func TestCreateTemplateSetupError(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	err := pg.CreateTemplate(ctx, "broken", func(ctx context.Context, url string) error {
		return fmt.Errorf("migration failed")
	})
	if err == nil || !strings.Contains(err.Error(), "migration failed") {
		t.Fatalf("CreateTemplate error = %v, want the setup error", err)
	}
	var exists bool
	err = connect(t, pg.URL("postgres")).QueryRow(ctx,
		"SELECT EXISTS (SELECT FROM pg_database WHERE datname = 'broken')").Scan(&exists)
	if err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Error("database of a failed template setup was not dropped")
	}
}
