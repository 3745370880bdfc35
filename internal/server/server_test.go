package server_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/config"
	"github.com/madbase/madbase/internal/server"
	"github.com/madbase/madbase/internal/testutil/apitest"
	"github.com/madbase/madbase/internal/testutil/pgtest"
	"github.com/madbase/madbase/internal/testutil/redistest"
)

var pg *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg, apitest.Setup)) }

var admin = map[string]string{"Authorization": "Bearer " + apitest.AdminToken}

func TestHealthAndMetrics(t *testing.T) {
	e := apitest.New(t, pg, nil)
	apitest.Run(t, e.Handler, []apitest.Scenario{
		{Method: "GET", Path: "/health", ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "ok"}},
		{Name: "request id generated", Method: "GET", Path: "/health", ExpectedStatus: 200, Check: func(t *testing.T, res *http.Response, _ []byte) {
			if len(res.Header.Get("X-Request-Id")) < 16 {
				t.Errorf("X-Request-Id = %q", res.Header.Get("X-Request-Id"))
			}
		}},
		{Name: "request id honoured", Method: "GET", Path: "/health", Headers: map[string]string{"X-Request-Id": "abc-123"},
			ExpectedHeaders: map[string]string{"X-Request-Id": "abc-123"}},
		{Name: "unknown route", Method: "GET", Path: "/nope", ExpectedStatus: 404, ExpectedJSON: map[string]any{"code": 404.0}},
		{Method: "GET", Path: "/metrics", ExpectedStatus: 200, ExpectedContent: []string{
			`madbase_http_requests_total{project="",route="GET /health",status="200",surface="core"}`,
			"madbase_http_request_duration_seconds_bucket",
		}},
	})
	if !strings.Contains(e.Logs(), `"request_id":"abc-123"`) || !strings.Contains(e.Logs(), `"level":"DEBUG"`) {
		t.Errorf("logs lack the request id or debug lines:\n%s", e.Logs())
	}
}

func TestAdminProjects(t *testing.T) {
	e := apitest.New(t, pg, nil)
	db := e.PG.NewDB(t, apitest.TenantTemplate)
	var created map[string]any
	apitest.Run(t, e.Handler, []apitest.Scenario{
		{Name: "no token", Method: "GET", Path: "/admin/v1/projects", ExpectedStatus: 401},
		{Name: "wrong token", Method: "GET", Path: "/admin/v1/projects", Headers: map[string]string{"Authorization": "Bearer nope-nope-nope-nope"}, ExpectedStatus: 401},
		{Name: "bad ref", Method: "POST", Path: "/admin/v1/projects", Headers: admin, Body: map[string]any{"ref": "Bad!", "db_url": db},
			ExpectedStatus: 400, ExpectedJSON: map[string]any{"code": 400.0, "details": map[string]any{"field": "ref"}}},
		{Name: "bad json", Method: "POST", Path: "/admin/v1/projects", Headers: admin, Body: "{", ExpectedStatus: 400, ExpectedContent: []string{`"error":`}},
		{Name: "unknown settings section", Method: "POST", Path: "/admin/v1/projects", Headers: admin, Body: map[string]any{"ref": "alpha", "db_url": db, "settings": 1},
			ExpectedStatus: 400},
		{Name: "create", Method: "POST", Path: "/admin/v1/projects", Headers: admin,
			Body:           map[string]any{"ref": "alpha", "name": "Alpha", "db_url": db, "auth": map[string]any{"autoconfirm": true}},
			ExpectedStatus: 201, ExpectedContent: []string{`"anon_key":"ey`, `"service_role_key":"ey`, `"publishable_key":"sb_publishable_`, `"secret_key":"sb_secret_`, `"jwt_secret":`},
			ExpectedJSON: map[string]any{"ref": "alpha", "name": "Alpha", "status": "active", "settings": map[string]any{"auth": map[string]any{"autoconfirm": true}}},
			Check:        func(t *testing.T, _ *http.Response, b []byte) { _ = json.Unmarshal(b, &created) }},
		{Name: "duplicate", Method: "POST", Path: "/admin/v1/projects", Headers: admin, Body: map[string]any{"ref": "alpha", "db_url": db}, ExpectedStatus: 409},
		{Name: "get", Method: "GET", Path: "/admin/v1/projects/alpha", Headers: admin, ExpectedStatus: 200, ExpectedJSON: map[string]any{"ref": "alpha"}},
		{Name: "get unknown", Method: "GET", Path: "/admin/v1/projects/zzz", Headers: admin, ExpectedStatus: 404},
		{Name: "list", Method: "GET", Path: "/admin/v1/projects", Headers: admin, ExpectedStatus: 200, ExpectedContent: []string{`"ref":"alpha"`}},
		{Name: "patch merges settings", Method: "PATCH", Path: "/admin/v1/projects/alpha", Headers: admin,
			Body: map[string]any{"auth": map[string]any{"jwt_exp": 600}, "name": "Alpha 2"}, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"name": "Alpha 2", "settings": map[string]any{"auth": map[string]any{"autoconfirm": true, "jwt_exp": 600.0}}}},
		{Name: "patch rejects ref", Method: "PATCH", Path: "/admin/v1/projects/alpha", Headers: admin, Body: map[string]any{"ref": "beta"}, ExpectedStatus: 400},
		{Name: "disable", Method: "POST", Path: "/admin/v1/projects/alpha/disable", Headers: admin, ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "disabled"}},
		{Name: "enable", Method: "POST", Path: "/admin/v1/projects/alpha/enable", Headers: admin, ExpectedStatus: 200, ExpectedJSON: map[string]any{"status": "active"}},
		{Name: "secrets set", Method: "POST", Path: "/admin/v1/projects/alpha/secrets", Headers: admin, Body: []map[string]string{{"name": "STRIPE_KEY", "value": "sk_live_x"}},
			ExpectedStatus: 200, ExpectedContent: []string{`"name":"STRIPE_KEY"`, `"digest":`}, NotExpectedContent: []string{"sk_live_x"}},
		{Name: "secrets reserved name", Method: "POST", Path: "/admin/v1/projects/alpha/secrets", Headers: admin, Body: []map[string]string{{"name": "SUPABASE_URL", "value": "x"}}, ExpectedStatus: 400},
		{Name: "secrets delete", Method: "DELETE", Path: "/admin/v1/projects/alpha/secrets", Headers: admin, Body: []string{"STRIPE_KEY"}, ExpectedStatus: 200, ExpectedContent: []string{"[]"}},
		{Name: "rotate", Method: "POST", Path: "/admin/v1/projects/alpha/rotate-keys", Headers: admin, Body: map[string]any{"grace_seconds": 60}, ExpectedStatus: 200,
			Check: func(t *testing.T, _ *http.Response, b []byte) {
				var p map[string]any
				_ = json.Unmarshal(b, &p)
				if p["anon_key"] == created["anon_key"] || p["jwt_secret"] == created["jwt_secret"] {
					t.Error("rotation kept the keys")
				}
			}},
		{Name: "db test", Method: "POST", Path: "/admin/v1/db/test", Headers: admin, Body: map[string]any{"db_url": db}, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"reachable": true, "logical_replication": true, "can_create_roles": true}},
		{Name: "db test unreachable", Method: "POST", Path: "/admin/v1/db/test", Headers: admin, Body: map[string]any{"db_url": "postgres://x@127.0.0.1:1/x?connect_timeout=1"}, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"reachable": false}},
		{Name: "soft delete", Method: "DELETE", Path: "/admin/v1/projects/alpha", Headers: admin, ExpectedStatus: 204},
		{Name: "soft deleted hidden from list", Method: "GET", Path: "/admin/v1/projects", Headers: admin, ExpectedStatus: 200, NotExpectedContent: []string{`"ref":"alpha"`}},
		{Name: "soft deleted listed on request", Method: "GET", Path: "/admin/v1/projects?include_deleted=true", Headers: admin, ExpectedStatus: 200, ExpectedContent: []string{`"status":"deleted"`}},
		{Name: "hard delete", Method: "DELETE", Path: "/admin/v1/projects/alpha?hard=true", Headers: admin, ExpectedStatus: 204},
		{Name: "gone", Method: "GET", Path: "/admin/v1/projects/alpha", Headers: admin, ExpectedStatus: 404},
	})
}

func TestInternalErrorsHideSQL(t *testing.T) {
	e := apitest.New(t, pg, nil)
	p := e.CreateProject(t, "alpha", nil)
	// Break the control plane under the admin API: the answer must be an
	// opaque 500 with the request id, the SQL detail only in the log.
	if err := pg.Exec(t.Context(), dbName(e.Config.DatabaseURL), "alter table control.projects rename column settings to settings_x"); err != nil {
		t.Fatal(err)
	}
	res, body := apitest.Do(e.Handler, "GET", "/admin/v1/projects/"+p.Ref, admin, nil)
	if res.StatusCode != 500 || strings.Contains(string(body), "settings") || strings.Contains(string(body), "column") {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	if !strings.Contains(e.Logs(), "settings") || !strings.Contains(e.Logs(), res.Header.Get("X-Request-Id")) {
		t.Fatalf("cause not logged with the request id:\n%s", e.Logs())
	}
}

func dbName(url string) string {
	s := url[strings.LastIndex(url, "/")+1:]
	name, _, _ := strings.Cut(s, "?")
	return name
}

func TestRedisURL(t *testing.T) {
	// Nodes of a deployment that cannot reach their bus would silently
	// split: an unreachable Redis stops the start with the variable named.
	cfg, err := config.FromEnv(map[string]string{
		"MADBASE_DATABASE_URL":   pg.NewDB(t, apitest.ControlTemplate),
		"MADBASE_ENCRYPTION_KEY": apitest.EncryptionKey,
		"MADBASE_ADMIN_TOKEN":    apitest.AdminToken,
		"MADBASE_DATA_DIR":       t.TempDir(),
		"MADBASE_REDIS_URL":      "redis://127.0.0.1:1/0",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	srv, err := server.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err == nil {
		srv.Close()
		t.Fatal("server started with an unreachable Redis")
	}
	if !strings.Contains(err.Error(), "MADBASE_REDIS_URL") {
		t.Errorf("error %q does not name MADBASE_REDIS_URL", err)
	}
}

// TestUncleanPaths: a path with "//", "." or ".." segments reaches the
// surface as sent, which refuses it in its own dialect, instead of a
// redirect to the cleaned path (another object or table than the client
// named).
func TestUncleanPaths(t *testing.T) {
	e := apitest.New(t, pg, nil)
	p := e.CreateProject(t, "alpha", nil)
	svc := map[string]string{"apikey": p.ServiceRoleKey, "Authorization": "Bearer " + p.ServiceRoleKey}
	if res, body := apitest.Do(e.Handler, "POST", "/storage/v1/bucket", svc, map[string]any{"name": "b"}); res.StatusCode != 200 {
		t.Fatalf("create bucket: %d %s", res.StatusCode, body)
	}
	invalidKey := map[string]any{"error": "InvalidKey", "statusCode": "400"}
	noTable := map[string]any{"code": "PGRST125"}
	apitest.Run(t, e.Handler, []apitest.Scenario{
		{Method: "POST", Path: "/storage/v1/object/b/a//c", Headers: svc, Body: "x", ExpectedStatus: 400, ExpectedJSON: invalidKey},
		{Method: "POST", Path: "/storage/v1/object/b/a/../c", Headers: svc, Body: "x", ExpectedStatus: 400, ExpectedJSON: invalidKey},
		{Method: "PUT", Path: "/storage/v1/object/b/./c", Headers: svc, Body: "x", ExpectedStatus: 400, ExpectedJSON: invalidKey},
		{Method: "GET", Path: "/storage/v1/object/info/b/a/../c", Headers: svc, ExpectedStatus: 400, ExpectedJSON: map[string]any{"error": "not_found"}},
		{Method: "GET", Path: "/rest/v1/x/../posts", Headers: svc, ExpectedStatus: 404, ExpectedJSON: noTable},
		{Method: "POST", Path: "/rest/v1//posts", Headers: svc, Body: map[string]any{}, ExpectedStatus: 404, ExpectedJSON: noTable},
		{Method: "POST", Path: "/functions/v1/x/../y", Headers: svc, ExpectedStatus: 404, ExpectedJSON: map[string]any{"code": "NOT_FOUND"}},
		// The bare prefix still redirects to the prefix.
		{Method: "GET", Path: "/rest/v1", Headers: svc, ExpectedStatus: 307, ExpectedHeaders: map[string]string{"Location": "/rest/v1/"}},
	})
}

// TestClusterRateLimits: with MADBASE_REDIS_URL the nodes share one
// rate-limit budget per client, as a single GoTrue would: a client cannot
// multiply its allowance by spreading requests over the nodes.
func TestClusterRateLimits(t *testing.T) {
	rs := redistest.Start(t)
	url := rs.URL
	a := apitest.New(t, pg, map[string]string{"MADBASE_REDIS_URL": url})
	b := apitest.New(t, pg, map[string]string{"MADBASE_REDIS_URL": url, "MADBASE_DATABASE_URL": a.Config.DatabaseURL})
	p := a.CreateProject(t, "alpha", map[string]any{"auth": map[string]any{"rate_limit_token_refresh": 3}})
	h := map[string]string{"apikey": p.AnonKey}
	login := map[string]any{"email": "nobody@example.com", "password": "wrong-password"}
	for i, node := range []*apitest.Env{a, b, a, b} {
		res, body := apitest.Do(node.Handler, "POST", "/auth/v1/token?grant_type=password", h, login)
		want := http.StatusBadRequest
		if i == 3 {
			want = http.StatusTooManyRequests
		}
		if res.StatusCode != want {
			t.Fatalf("login %d: %d %s, want %d", i+1, res.StatusCode, body, want)
		}
	}
	// With Redis away each node keeps a budget of its own, and answers
	// without waiting long for Redis.
	rs.Stop()
	start := time.Now()
	if res, body := apitest.Do(b.Handler, "POST", "/auth/v1/token?grant_type=password", h, login); res.StatusCode != http.StatusBadRequest {
		t.Fatalf("login with Redis away: %d %s", res.StatusCode, body)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("login with Redis away took %s", d)
	}
	if !strings.Contains(b.Logs(), "using this node's own buckets") {
		t.Error("the fallback was not logged")
	}
}
