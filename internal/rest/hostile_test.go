package rest_test

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/testutil/apitest"
	"github.com/madbase/madbase/internal/token"
)

// TestHostileInput sends malformed query strings, headers and bodies
// through the real server: every answer must be a client error (or a
// success) in PostgREST's dialect, never a 5xx. The query strings include
// the query library's fuzz corpus.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	queries := []string{
		"select=", "select=*,", "select=id::", "select=id::text;drop", "select=a->", "select=countries(", "select=...countries(*)",
		"select=count()", "select=id.sum()", "id=", "id=eq", "id=in.(1,2", "id=is.maybe", "or=()", "or=(id.eq.1", "and=(id.eq.1,or(",
		"order=", "order=id.sideways", "order=nope(id)", "limit=abc", "offset=-3", "cities.limit=2", "nope.id=eq.1",
		"id=eq.%00", "id=like.%25%25", "select=%22%22", "select=id:", "id=fts(eng!sh).x", "id=cs.{", "code=eq.\x00",
		"columns=", "on_conflict=", strings.Repeat("select=id&", 200), "id=eq." + strings.Repeat("9", 400),
	}
	if files, err := filepath.Glob("query/testdata/fuzz/*/*"); err == nil {
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "string("); ok {
					if s, err := strconv.Unquote(strings.TrimSuffix(v, ")")); err == nil {
						queries = append(queries, s)
					}
				}
			}
		}
	}
	t.Logf("%d query strings", len(queries))
	check := func(name string, status int, body []byte) {
		t.Helper()
		if status >= 500 {
			t.Errorf("%s: %d %s", name, status, body)
			return
		}
		if status >= 400 && !strings.HasPrefix(name, "HEAD ") {
			var eb map[string]any
			if err := json.Unmarshal(body, &eb); err != nil {
				t.Errorf("%s: error body is not JSON: %s", name, body)
				return
			}
			for _, k := range []string{"code", "details", "hint", "message"} {
				if _, ok := eb[k]; !ok {
					t.Errorf("%s: error body lacks %q: %s", name, k, body)
				}
			}
			if strings.Contains(string(body), "pgrst_source") || strings.Contains(string(body), "SELECT ") {
				t.Errorf("%s: SQL in the error body: %s", name, body)
			}
		}
	}
	for _, q := range queries {
		for _, path := range []string{"/rest/v1/countries", "/rest/v1/rpc/add"} {
			raw := path + "?" + (&url.URL{RawQuery: q}).RawQuery
			if strings.ContainsAny(q, " \x00\n") {
				raw = path + "?" + url.PathEscape(q)
			}
			for _, m := range []string{"GET", "DELETE"} {
				res, body := apitest.Do(e.Handler, m, raw, e.hdr("service", "Prefer", "tx=rollback"), nil)
				check(m+" "+raw, res.StatusCode, body)
			}
		}
	}
	bodies := []string{"", "{", "[", "[1,2]", `[{"id":1},{"name":"x"}]`, `{"id":"x"}`, `"str"`, "null", `{"id":1e400}`, `{"nope":1}`, strings.Repeat("[", 5000)}
	for _, b := range bodies {
		for _, p := range []string{"/rest/v1/countries", "/rest/v1/countries?id=eq.1", "/rest/v1/rpc/add", "/rest/v1/rpc/echo"} {
			for _, m := range []string{"POST", "PATCH", "PUT"} {
				res, body := apitest.Do(e.Handler, m, p, e.hdr("service", "Prefer", "tx=rollback"), b)
				check(m+" "+p+" "+b, res.StatusCode, body)
			}
		}
	}
	// RPC shapes × methods × content types.
	for _, fn := range []string{"add", "hello", "cities_of", "get_country", "touch", "echo", "words", "new_item", "over", "whoami", "nope"} {
		for _, ct := range []string{"application/json", "text/plain", "text/xml", "application/octet-stream", "application/x-www-form-urlencoded", "text/csv"} {
			for _, b := range []string{"", "{}", `{"a":1,"b":"x"}`, "a=1&b=2", "[]", "[1]"} {
				res, body := apitest.Do(e.Handler, "POST", "/rest/v1/rpc/"+fn+"?select=*", e.hdr("service", "Content-Type", ct, "Prefer", "tx=rollback"), b)
				check("POST rpc/"+fn+" "+ct+" "+b, res.StatusCode, body)
			}
		}
		for _, q := range []string{"", "?a=1", "?a=1&a=2", "?name=eq.x", "?select=nope", "?order=x&limit=1"} {
			for _, m := range []string{"GET", "HEAD"} {
				res, body := apitest.Do(e.Handler, m, "/rest/v1/rpc/"+fn+q, e.hdr("anon", "Accept", "application/vnd.pgrst.object+json"), nil)
				check(m+" rpc/"+fn+q, res.StatusCode, body)
			}
		}
	}
	headers := [][2]string{{"Prefer", "count=bogus,return=x,max-affected=-1"}, {"Accept", ";;;,q=x"}, {"Accept", "application/vnd.pgrst.plan"},
		{"Range", "99999999999999999999-"}, {"Accept-Profile", "\x01"}, {"Content-Type", "text/csv"}, {"Content-Type", "%%%"}}
	for _, h := range headers {
		res, body := apitest.Do(e.Handler, "GET", "/rest/v1/countries", e.hdr("anon", h[0], h[1]), nil)
		check(h[0]+": "+h[1], res.StatusCode, body)
		res, body = apitest.Do(e.Handler, "POST", "/rest/v1/countries", e.hdr("anon", h[0], h[1], "Prefer", "tx=rollback"), `{"id":77,"name":"x"}`)
		check("POST "+h[0]+": "+h[1], res.StatusCode, body)
	}
	// Tokens: other role, malformed, expired.
	other, _ := token.Sign([]byte(e.p.JWTSecret), token.Claims{"role": "postgres", "exp": time.Now().Add(time.Hour).Unix()})
	expired, _ := token.Sign([]byte(e.p.JWTSecret), token.Claims{"role": "authenticated", "exp": time.Now().Add(-time.Hour).Unix()})
	apitest.Run(t, e.Handler, []apitest.Scenario{
		{Name: "role not allowed", Method: "GET", Path: "/rest/v1/countries", Headers: e.hdr(other), ExpectedStatus: 403,
			ExpectedJSON: map[string]any{"code": "42501", "message": `permission denied to set role "postgres"`}},
		{Name: "two-part token", Method: "GET", Path: "/rest/v1/countries", Headers: e.hdr("a.b"), ExpectedStatus: 401,
			ExpectedJSON: map[string]any{"code": "PGRST301", "message": "Expected 3 parts in JWT; got 2"}},
		{Name: "expired token", Method: "GET", Path: "/rest/v1/countries", Headers: e.hdr(expired), ExpectedStatus: 401,
			ExpectedJSON:    map[string]any{"code": "PGRST303", "message": "JWT expired"},
			ExpectedHeaders: map[string]string{"WWW-Authenticate": `Bearer error="invalid_token", error_description="JWT expired"`}},
	})
}
