package auth_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/testutil/apitest"
	"github.com/madbase/madbase/internal/testutil/pgtest"
	"github.com/madbase/madbase/internal/testutil/smtpsink"
	"github.com/madbase/madbase/internal/token"
)

var pg *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg, apitest.Setup)) }

// env is one server with one project.
type env struct {
	t    *testing.T
	e    *apitest.Env
	p    *apitest.Project
	h    http.Handler
	sink *smtpsink.Sink
}

const apiVersion = "2024-01-01"

// newEnv starts a server with project "alpha" whose auth settings are
// authSettings; withMail points its SMTP at a fresh sink.
func newEnv(t *testing.T, authSettings map[string]any, withMail bool) *env {
	t.Helper()
	e := apitest.New(t, pg, map[string]string{"MADBASE_PUBLIC_URL": "http://{ref}.auth.test"})
	if authSettings == nil {
		authSettings = map[string]any{}
	}
	v := &env{t: t, e: e, h: e.Handler}
	if withMail {
		v.sink = smtpsink.New(t, smtpsink.Options{})
		authSettings["smtp"] = map[string]any{"host": v.sink.Host(), "port": v.sink.Port(), "sender": "Alpha <noreply@alpha.test>"}
	}
	v.p = e.CreateProject(t, "alpha", map[string]any{"auth": authSettings})
	return v
}

// hdr: the anon key as apikey and bearer, as auth-js sends them.
func (v *env) hdr() map[string]string {
	// Host: httptest's default example.com would be read as project "example".
	return map[string]string{"apikey": v.p.AnonKey, "Authorization": "Bearer " + v.p.AnonKey, "X-Supabase-Api-Version": apiVersion,
		"Host": "localhost:8000"}
}

func (v *env) bearer(tok string) map[string]string {
	h := v.hdr()
	h["Authorization"] = "Bearer " + tok
	return h
}

func (v *env) service() map[string]string { return v.bearer(v.p.ServiceRoleKey) }

func (v *env) do(method, path string, headers map[string]string, body any) (*http.Response, map[string]any) {
	v.t.Helper()
	res, b := apitest.Do(v.h, method, path, headers, body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			v.t.Fatalf("%s %s: %d non-object body: %s", method, path, res.StatusCode, b)
		}
	}
	return res, m
}

// must is do that fails the test unless the status is want.
func (v *env) must(want int, method, path string, headers map[string]string, body any) map[string]any {
	v.t.Helper()
	res, m := v.do(method, path, headers, body)
	if res.StatusCode != want {
		v.t.Fatalf("%s %s: status %d, want %d: %v", method, path, res.StatusCode, want, m)
	}
	return m
}

// patchAuth changes the project's auth settings through the admin API.
func (v *env) patchAuth(settings map[string]any) {
	v.t.Helper()
	res, b := apitest.Do(v.h, "PATCH", "/admin/v1/projects/alpha",
		map[string]string{"Authorization": "Bearer " + apitest.AdminToken}, map[string]any{"auth": settings})
	if res.StatusCode != 200 {
		v.t.Fatalf("patch settings: %d %s", res.StatusCode, b)
	}
}

func (v *env) signup(email, pw string) map[string]any {
	v.t.Helper()
	return v.must(200, "POST", "/auth/v1/signup", v.hdr(), map[string]any{"email": email, "password": pw})
}

func (v *env) login(email, pw string) map[string]any {
	v.t.Helper()
	return v.must(200, "POST", "/auth/v1/token?grant_type=password", v.hdr(), map[string]any{"email": email, "password": pw})
}

func (v *env) refresh(rt string) (*http.Response, map[string]any) {
	v.t.Helper()
	return v.do("POST", "/auth/v1/token?grant_type=refresh_token", v.hdr(), map[string]any{"refresh_token": rt})
}

func (v *env) claims(access string) token.Claims {
	v.t.Helper()
	c, err := (&token.Verifier{Secrets: [][]byte{[]byte(v.p.JWTSecret)}}).Verify(access)
	if err != nil {
		v.t.Fatalf("access token does not verify: %v", err)
	}
	return c
}

// query runs SQL on the project's database as the platform.
func (v *env) query(sql string, args ...any) []map[string]any {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, v.p.DBURL)
	if err != nil {
		v.t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		v.t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToMap)
	if err != nil {
		v.t.Fatal(err)
	}
	return out
}

// mail waits for the next message to addr.
func (v *env) mail(addr string) smtpsink.Message {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := v.sink.WaitFor(ctx, addr)
	if err != nil {
		v.t.Fatalf("no mail to %s: %v", addr, err)
	}
	return m
}

var linkRE = regexp.MustCompile(`https?://[^\s"'<>]*/auth/v1/verify\?[^\s"'<>]+`)

// verifyLink is the /verify link of a message (the body also names the site URL).
func verifyLink(t *testing.T, m smtpsink.Message) string {
	t.Helper()
	for _, body := range []string{m.Text, html.UnescapeString(m.HTML)} {
		if l := linkRE.FindString(body); l != "" {
			return strings.TrimRight(l, ".,;:!?)]")
		}
	}
	t.Fatalf("no verify link in %q", m.HTML)
	return ""
}

// follow opens an emailed link as a browser would: no apikey, the
// project found by the link's subdomain.
func (v *env) follow(link string) *http.Response {
	v.t.Helper()
	u, err := url.Parse(link)
	if err != nil || u.Host != "alpha.auth.test" || !strings.HasPrefix(u.Path, "/auth/v1/") {
		v.t.Fatalf("link %q is not under the project's public URL", link)
	}
	res, _ := apitest.Do(v.h, "GET", u.RequestURI(), map[string]string{"Host": u.Host}, nil)
	return res
}

func str(m map[string]any, path ...string) string {
	var cur any = m
	for _, p := range path {
		mm, _ := cur.(map[string]any)
		cur = mm[p]
	}
	s, _ := cur.(string)
	return s
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("bad JSON %q: %v", s, err)
	}
}
