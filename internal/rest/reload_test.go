package rest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/testutil/apitest"
)

func execSQL(t *testing.T, url, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
}

// eventually polls path until it answers want, for at most 10 s.
func eventually(t *testing.T, h http.Handler, path string, hdr map[string]string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, body := apitest.Do(h, "GET", path, hdr, nil)
		if res.StatusCode == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: still %d (want %d): %s", path, res.StatusCode, want, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSchemaReloadOnNotify(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a := e.hdr("anon")
	// Load the cache, then change the schema behind its back.
	eventually(t, e.Handler, "/rest/v1/countries?limit=1", a, 200)
	execSQL(t, e.p.DBURL, `CREATE TABLE fresh (id int PRIMARY KEY); INSERT INTO fresh VALUES (1)`)
	res, body := apitest.Do(e.Handler, "GET", "/rest/v1/fresh", a, nil)
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("new table visible before reload (no per-request catalog queries expected): %d %s", res.StatusCode, body)
	}
	execSQL(t, e.p.DBURL, `NOTIFY pgrst, 'reload schema'`)
	eventually(t, e.Handler, "/rest/v1/fresh", a, 200)

	// Listener survives its connection being killed: it reconnects and reloads.
	execSQL(t, e.p.DBURL, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'madbase-rest-listener' AND datname = current_database()`)
	execSQL(t, e.p.DBURL, `CREATE TABLE fresher (id int PRIMARY KEY)`)
	eventually(t, e.Handler, "/rest/v1/fresher", a, 200)

	res, body = apitest.Do(e.Handler, "GET", "/metrics", nil, nil)
	if !strings.Contains(string(body), `madbase_rest_schema_loads_total{kind="reload",project="alpha",result="ok"}`) ||
		!strings.Contains(string(body), `madbase_rest_schema_loads_total{kind="load",project="alpha",result="ok"} 1`) {
		t.Errorf("schema load metrics missing (%d): %s", res.StatusCode, grepLines(string(body), "madbase_rest_"))
	}

	// Unrelated notifications are ignored.
	execSQL(t, e.p.DBURL, `CREATE TABLE ignored (id int PRIMARY KEY); NOTIFY pgrst, 'reload config'`)
	time.Sleep(300 * time.Millisecond)
	if res, _ := apitest.Do(e.Handler, "GET", "/rest/v1/ignored", a, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("reload config reloaded the schema: %d", res.StatusCode)
	}
}

func TestSchemaReloadOnDDL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]any{"reload_on_ddl": true})
	a := e.hdr("anon")
	eventually(t, e.Handler, "/rest/v1/countries?limit=1", a, 200)
	execSQL(t, e.p.DBURL, `CREATE TABLE by_ddl (id int PRIMARY KEY)`)
	eventually(t, e.Handler, "/rest/v1/by_ddl", a, 200)
	execSQL(t, e.p.DBURL, `DROP TABLE by_ddl`)
	eventually(t, e.Handler, "/rest/v1/by_ddl", a, 404)
}

func TestSettingsChangeDropsCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a := e.hdr("anon")
	eventually(t, e.Handler, "/rest/v1/widgets", a, 404)
	res, body := apitest.Do(e.Handler, "PATCH", "/admin/v1/projects/alpha", map[string]string{"Authorization": "Bearer " + apitest.AdminToken},
		map[string]any{"rest": map[string]any{"schemas": []string{"api"}}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("patch project: %d %s", res.StatusCode, body)
	}
	eventually(t, e.Handler, "/rest/v1/widgets", a, 200)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestListenerStopsWithProject checks that disabling a project (OnChange)
// drops its schema cache and closes its LISTEN connection.
func TestListenerStopsWithProject(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	eventually(t, e.Handler, "/rest/v1/countries?limit=1", e.hdr("anon"), 200)
	listeners := func() int {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, e.p.DBURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = 'madbase-rest-listener' AND datname = current_database()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for listeners() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%d listener connections, want %d", listeners(), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor(1)
	res, body := apitest.Do(e.Handler, "POST", "/admin/v1/projects/alpha/disable", map[string]string{"Authorization": "Bearer " + apitest.AdminToken}, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("disable: %d %s", res.StatusCode, body)
	}
	waitFor(0)
	if res, _ := apitest.Do(e.Handler, "GET", "/rest/v1/countries", e.hdr("anon"), nil); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("disabled project answered %d", res.StatusCode)
	}
}
