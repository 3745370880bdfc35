package rest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/madbase/madbase/internal/testutil/apitest"
)

const (
	subA = "00000000-0000-0000-0000-00000000000a"
	subB = "00000000-0000-0000-0000-00000000000b"
)

// TestAuthorizationMatrix runs policy × role × operation through the
// server. notes: readable when public or owned, writable by the owner
// (authenticated only); vault: no privileges for anon/authenticated.
// Rows in the fixture: 1 = A private, 2 = A public, 3 = B private.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	callers := map[string]map[string]string{
		"anon":    e.hdr("anon"),
		"A":       e.hdr(e.user(t, subA)),
		"B":       e.hdr(e.user(t, subB)),
		"service": e.hdr("service"),
	}
	rep := "return=representation"
	matrix := []struct {
		who, method, path string
		body              any
		status            int
		rows              int // -1: body not an array of rows
		code              string
	}{
		{"anon", "GET", "/rest/v1/notes?select=id", nil, 200, 1, ""},
		{"A", "GET", "/rest/v1/notes?select=id", nil, 200, 2, ""},
		{"B", "GET", "/rest/v1/notes?select=id", nil, 200, 2, ""},
		{"service", "GET", "/rest/v1/notes?select=id", nil, 200, 3, ""},
		{"anon", "POST", "/rest/v1/notes", map[string]any{"body": "anon note"}, 401, -1, "42501"},
		{"A", "POST", "/rest/v1/notes", map[string]any{"body": "A note"}, 201, 1, ""},
		{"A", "POST", "/rest/v1/notes", map[string]any{"body": "forged", "owner": subB}, 403, -1, "42501"},
		{"service", "POST", "/rest/v1/notes", map[string]any{"body": "for B", "owner": subB}, 201, 1, ""},
		{"anon", "PATCH", "/rest/v1/notes?id=eq.1", map[string]any{"body": "x"}, 200, 0, ""},
		{"B", "PATCH", "/rest/v1/notes?id=eq.1", map[string]any{"body": "x"}, 200, 0, ""},
		{"A", "PATCH", "/rest/v1/notes?id=eq.1", map[string]any{"body": "edited"}, 200, 1, ""},
		{"A", "PATCH", "/rest/v1/notes?id=eq.2", map[string]any{"owner": subB}, 403, -1, "42501"},
		{"A", "DELETE", "/rest/v1/notes?id=eq.3", nil, 200, 0, ""},
		{"anon", "DELETE", "/rest/v1/notes?id=eq.3", nil, 200, 0, ""},
		{"B", "DELETE", "/rest/v1/notes?id=eq.3", nil, 200, 1, ""},
		{"A", "GET", "/rest/v1/notes?select=id", nil, 200, 3, ""},
		{"service", "GET", "/rest/v1/notes?select=id", nil, 200, 4, ""},
		{"anon", "GET", "/rest/v1/vault", nil, 401, -1, "42501"},
		{"A", "GET", "/rest/v1/vault", nil, 403, -1, "42501"},
		{"A", "DELETE", "/rest/v1/vault?id=eq.1", nil, 403, -1, "42501"},
		{"service", "GET", "/rest/v1/vault?select=secret", nil, 200, 1, ""},
	}
	for i, m := range matrix {
		h := map[string]string{}
		for k, v := range callers[m.who] {
			h[k] = v
		}
		if m.method != "GET" {
			h["Prefer"] = rep
		}
		res, body := apitest.Do(e.Handler, m.method, m.path, h, m.body)
		name := fmt.Sprintf("%d %s %s %s", i, m.who, m.method, m.path)
		if res.StatusCode != m.status {
			t.Errorf("%s: status %d, want %d: %s", name, res.StatusCode, m.status, body)
			continue
		}
		if m.code != "" {
			var eb struct{ Code string }
			_ = json.Unmarshal(body, &eb)
			if eb.Code != m.code {
				t.Errorf("%s: code %q, want %q: %s", name, eb.Code, m.code, body)
			}
			if m.status == http.StatusUnauthorized && res.Header.Get("WWW-Authenticate") != "Bearer" {
				t.Errorf("%s: WWW-Authenticate %q", name, res.Header.Get("WWW-Authenticate"))
			}
		}
		if m.rows >= 0 {
			var got []any
			if err := json.Unmarshal(body, &got); err != nil || len(got) != m.rows {
				t.Errorf("%s: %d rows (%v), want %d: %s", name, len(got), err, m.rows, body)
			}
		}
	}
}

// TestNoLeakOnPooledConnections provokes every kind of failure and then
// checks each pooled connection: no role, claims or request GUCs may
// survive a request.
func TestNoLeakOnPooledConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]any{"pre_request": "pre_req"})
	user := e.hdr(e.user(t, subA))
	reqs := []struct {
		method, path string
		h            map[string]string
		body         any
	}{
		{"GET", "/rest/v1/vault", e.hdr("anon"), nil},
		{"GET", "/rest/v1/vault", user, nil},
		{"POST", "/rest/v1/notes", user, map[string]any{"owner": subB}},
		{"POST", "/rest/v1/rpc/fail", user, nil},
		{"POST", "/rest/v1/rpc/pay", user, nil},
		{"POST", "/rest/v1/rpc/teapot", user, nil},
		{"GET", "/rest/v1/rpc/new_item?name=x", user, nil},
		{"GET", "/rest/v1/countries", e.hdr(e.user(t, subA), "Accept", "application/vnd.pgrst.object+json"), nil},
		{"GET", "/rest/v1/countries", e.hdr("anon", "X-Block", "1"), nil},
		{"PATCH", "/rest/v1/cities?country_id=eq.1", e.hdr("service", "Prefer", "handling=strict,max-affected=1"), map[string]any{"population": 1}},
		{"POST", "/rest/v1/items", user, map[string]any{"amount": -5}},
		{"GET", "/rest/v1/countries?id=eq.x", user, nil},
		{"DELETE", "/rest/v1/cities?id=eq.5", e.hdr("service", "Prefer", "tx=rollback"), nil},
		{"POST", "/rest/v1/rpc/set_response", user, nil},
	}
	// Concurrent callers spread the requests over several connections.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for _, r := range reqs {
				res, body := apitest.Do(e.Handler, r.method, r.path, r.h, r.body)
				if res.StatusCode >= 500 {
					t.Errorf("%s %s: %d %s", r.method, r.path, res.StatusCode, body)
				}
			}
		})
	}
	wg.Wait()
	ctx := context.Background()
	tm := e.Server.Tenants()
	p, err := tm.Project(ctx, e.p.Ref)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := tm.Pool(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	checkPool(t, pool)
}

func checkPool(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	n := int(pool.Stat().TotalConns())
	if n == 0 {
		t.Fatal("no pooled connections to check")
	}
	var held []*pgxpool.Conn
	defer func() {
		for _, c := range held {
			c.Release()
		}
	}()
	for range n {
		c, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		var user, role, claims, headers, status, search string
		err = c.QueryRow(ctx, `select current_user, current_setting('role'),
			coalesce(current_setting('request.jwt.claims', true), ''), coalesce(current_setting('request.headers', true), ''),
			coalesce(current_setting('response.status', true), ''), current_setting('search_path')`).Scan(&user, &role, &claims, &headers, &status, &search)
		if err != nil {
			t.Fatal(err)
		}
		if role != "none" || user == "anon" || user == "authenticated" || user == "service_role" || claims != "" || headers != "" || status != "" ||
			search != `"$user", public` {
			t.Errorf("leak on a pooled connection: user=%s role=%s claims=%q headers=%q status=%q search_path=%q", user, role, claims, headers, status, search)
		}
	}
	t.Logf("checked %d pooled connections", n)
}
