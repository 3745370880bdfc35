package tenant

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/secret"
	"github.com/madbase/madbase/internal/testutil/pgtest"
	"github.com/madbase/madbase/internal/token"
)

var pg *pgtest.Cluster

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, &pg, func(ctx context.Context, c *pgtest.Cluster) error {
		if err := c.CreateTemplate(ctx, "tenant_tpl", func(ctx context.Context, url string) error {
			_, err := Bootstrap(ctx, url)
			return err
		}); err != nil {
			return err
		}
		return c.CreateTemplate(ctx, "control_tpl", func(ctx context.Context, url string) error {
			s, err := control.Open(ctx, url, testBox())
			if err != nil {
				return err
			}
			defer s.Close()
			_, err = s.Migrate(ctx)
			return err
		})
	}))
}

func testBox() *secret.Box {
	b, _ := secret.New(bytes.Repeat([]byte{7}, 32))
	return b
}

func newManager(t *testing.T, opt Options) *Manager {
	t.Helper()
	s, err := control.Open(t.Context(), pg.NewDB(t, "control_tpl"), testBox())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	m := NewManager(s, slog.New(slog.NewTextHandler(io.Discard, nil)), opt)
	t.Cleanup(m.Close)
	return m
}

func provision(t *testing.T, m *Manager, ref string) *control.Project {
	t.Helper()
	p, err := m.Provision(t.Context(), Spec{Ref: ref, Name: ref, DBURL: pg.NewDB(t, "tenant_tpl")})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBootstrapCreatesEverythingAndIsIdempotent(t *testing.T) {
	ctx := t.Context()
	url := pg.NewDB(t, "")
	n, err := Bootstrap(ctx, url)
	if err != nil || n == 0 {
		t.Fatalf("first bootstrap: n=%d err=%v", n, err)
	}
	n, err = Bootstrap(ctx, url)
	if err != nil || n != 0 {
		t.Fatalf("second bootstrap should be a no-op: n=%d err=%v", n, err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	checks := map[string]string{
		"roles":        `select count(*) = 3 from pg_roles where rolname in ('anon','authenticated','service_role')`,
		"bypassrls":    `select rolbypassrls from pg_roles where rolname = 'service_role'`,
		"schemas":      `select count(*) = 4 from pg_namespace where nspname in ('auth','storage','realtime','madbase')`,
		"users":        `select to_regclass('auth.users') is not null and to_regclass('auth.identities') is not null and to_regclass('auth.sessions') is not null and to_regclass('auth.refresh_tokens') is not null`,
		"functions":    `select count(*) = 4 from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'auth' and proname in ('uid','role','jwt','email')`,
		"storage":      `select relrowsecurity from pg_class where oid = 'storage.objects'::regclass`,
		"storage fns":  `select storage.foldername('a/b/c.png') = '{a,b}' and storage.filename('a/b/c.png') = 'c.png' and storage.extension('a/b/c.png') = 'png'`,
		"publication":  `select count(*) = 1 from pg_publication where pubname = 'supabase_realtime'`,
		"messages rls": `select relrowsecurity from pg_class where oid = 'realtime.messages'::regclass`,
		"default privs": `select count(*) > 0 from pg_default_acl d join pg_namespace n on n.oid = d.defaclnamespace
			where n.nspname = 'public' and d.defaclacl::text like '%anon%'`,
	}
	for name, q := range checks {
		var ok bool
		if err := conn.QueryRow(ctx, q).Scan(&ok); err != nil || !ok {
			t.Errorf("%s: ok=%v err=%v", name, ok, err)
		}
	}
	// A user migration written for Supabase applies unchanged.
	if _, err := conn.Exec(ctx, `create table public.profiles (id uuid primary key references auth.users(id) on delete cascade, name text);
		create function public.handle_new_user() returns trigger language plpgsql security definer as $$
		begin insert into public.profiles (id) values (new.id); return new; end $$;
		create trigger on_auth_user_created after insert on auth.users for each row execute function public.handle_new_user();
		create policy "own folder" on storage.objects for select to authenticated
		  using (bucket_id = 'avatars' and (storage.foldername(name))[1] = auth.uid()::text);`); err != nil {
		t.Fatalf("supabase-style migration: %v", err)
	}
	var granted bool
	if err := conn.QueryRow(ctx, `select has_table_privilege('anon', 'public.profiles', 'select')`).Scan(&granted); err != nil || !granted {
		t.Fatalf("default privileges not applied to new table: %v %v", granted, err)
	}
}

func TestProvisionRefusedDatabaseRegistersNothing(t *testing.T) {
	m := newManager(t, Options{})
	ctx := t.Context()
	url := pg.NewDB(t, "")
	// A login role that may not create roles.
	if err := pg.Exec(ctx, "postgres", `do $$ begin
		if not exists (select 1 from pg_roles where rolname = 'weak') then create role weak login; end if; end $$`); err != nil {
		t.Fatal(err)
	}
	db := url[strings.LastIndex(url, "/")+1 : strings.Index(url, "?")]
	if err := pg.Exec(ctx, "postgres", "grant all on database "+pgx.Identifier{db}.Sanitize()+" to weak"); err != nil {
		t.Fatal(err)
	}
	weakURL := strings.Replace(url, "postgres@", "weak@", 1)
	// Roles are cluster-wide and may already exist from other tests; use a fresh
	// cluster-less check: revoke nothing, but bootstrap must still fail on schema/grant privileges.
	_, err := m.Provision(ctx, Spec{Ref: "weakling", DBURL: weakURL})
	var he *httpx.Error
	if !errors.As(err, &he) || he.Status != http.StatusBadRequest {
		t.Fatalf("err = %v, want 400", err)
	}
	if _, err := m.Store().Project(ctx, "weakling"); !errors.Is(err, control.ErrNotFound) {
		t.Fatalf("half-made project registered: %v", err)
	}
	_, err = m.Provision(ctx, Spec{Ref: "nowhere", DBURL: "postgres://postgres@127.0.0.1:1/x?connect_timeout=2"})
	if !errors.As(err, &he) || he.Status != http.StatusBadGateway {
		t.Fatalf("unreachable: err = %v, want 502", err)
	}
	if _, err := m.Store().Project(ctx, "nowhere"); !errors.Is(err, control.ErrNotFound) {
		t.Fatalf("unreachable project registered: %v", err)
	}
	for _, bad := range []Spec{{Ref: "A1", DBURL: url}, {Ref: "ok-ref", DBURL: "mysql://x"}, {Ref: "ab", DBURL: url}} {
		if _, err := m.Provision(ctx, bad); !errors.As(err, &he) || he.Status != 400 || he.Details == nil {
			t.Errorf("%+v: err = %v, want 400 naming the field", bad, err)
		}
	}
}

func req(method, target string, hdr map[string]string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	return r
}

func TestResolvePrecedence(t *testing.T) {
	m := newManager(t, Options{DefaultProject: "gamma"})
	a, b, g := provision(t, m, "alpha"), provision(t, m, "beta"), provision(t, m, "gamma")
	tests := []struct {
		name string
		r    *http.Request
		want string
	}{
		{"header beats subdomain and key", req("GET", "http://beta.localhost/rest/v1/x", map[string]string{"X-Project-Ref": "alpha", "apikey": b.AnonKey}), "alpha"},
		{"subdomain beats key", req("GET", "http://beta.localhost:8000/rest/v1/x", map[string]string{"apikey": a.AnonKey}), "beta"},
		{"key ref", req("GET", "http://localhost:8000/rest/v1/x", map[string]string{"apikey": a.AnonKey}), "alpha"},
		{"host that names no project falls back to the key", req("GET", "http://api.example.com/rest/v1/x", map[string]string{"apikey": a.AnonKey}), "alpha"},
		{"opaque key", req("GET", "http://127.0.0.1:8000/rest/v1/x", map[string]string{"apikey": b.PublishableKey}), "beta"},
		{"query apikey", req("GET", "http://127.0.0.1:8000/realtime/v1/websocket?apikey="+a.AnonKey, nil), "alpha"},
		{"default", req("GET", "http://127.0.0.1:8000/rest/v1/x", nil), g.Ref},
	}
	for _, tt := range tests {
		p, err := m.Resolve(tt.r)
		if err != nil || p.Ref != tt.want {
			t.Errorf("%s: got %v, %v; want %s", tt.name, p, err, tt.want)
		}
	}
	// Unknown and disabled.
	_, err := m.Resolve(req("GET", "/", map[string]string{"X-Project-Ref": "nope"}))
	if e := httpx.As(err); e.Status != 404 {
		t.Errorf("unknown: %v", err)
	}
	a.Status = control.StatusDisabled
	if err := m.Store().Update(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	m.Invalidate("alpha")
	_, err = m.Resolve(req("GET", "/", map[string]string{"X-Project-Ref": "alpha"}))
	if e := httpx.As(err); e.Status != 503 {
		t.Errorf("disabled: %v", err)
	}
	a.Status = control.StatusDeleted
	_ = m.Store().Update(t.Context(), a)
	m.Invalidate("alpha")
	_, err = m.Resolve(req("GET", "/", map[string]string{"X-Project-Ref": "alpha"}))
	if e := httpx.As(err); e.Status != 404 {
		t.Errorf("deleted: %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	m := newManager(t, Options{})
	a, b := provision(t, m, "alpha"), provision(t, m, "beta")
	now := time.Now()
	sign := func(secret string, c token.Claims) string {
		s, err := token.Sign([]byte(secret), c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	user := sign(a.JWTSecret, token.Claims{"sub": "u1", "role": "authenticated", "exp": now.Add(time.Hour).Unix(), "aud": "authenticated"})
	tests := []struct {
		name   string
		hdr    map[string]string
		status int
		role   string
	}{
		{"no key", nil, 401, ""},
		{"anon key", map[string]string{"apikey": a.AnonKey}, 200, "anon"},
		{"service key", map[string]string{"apikey": a.ServiceRoleKey}, 200, "service_role"},
		{"publishable", map[string]string{"apikey": a.PublishableKey}, 200, "anon"},
		{"secret", map[string]string{"apikey": a.SecretKey}, 200, "service_role"},
		{"bearer sb_ publishable", map[string]string{"apikey": a.PublishableKey, "Authorization": "Bearer " + a.PublishableKey}, 200, "anon"},
		{"bearer sb_ secret", map[string]string{"apikey": a.SecretKey, "Authorization": "Bearer " + a.SecretKey}, 200, "service_role"},
		{"user token", map[string]string{"apikey": a.AnonKey, "Authorization": "Bearer " + user}, 200, "authenticated"},
		{"cross-project key", map[string]string{"apikey": b.AnonKey}, 401, ""},
		{"cross-project opaque", map[string]string{"apikey": b.PublishableKey}, 401, ""},
		{"cross-project token", map[string]string{"apikey": a.AnonKey, "Authorization": "Bearer " + sign(b.JWTSecret, token.Claims{"role": "authenticated", "exp": now.Add(time.Hour).Unix()})}, 401, ""},
		{"ref claim of other project", map[string]string{"apikey": a.AnonKey, "Authorization": "Bearer " + sign(a.JWTSecret, token.Claims{"role": "authenticated", "ref": "beta", "exp": now.Add(time.Hour).Unix()})}, 401, ""},
		{"expired", map[string]string{"apikey": a.AnonKey, "Authorization": "Bearer " + sign(a.JWTSecret, token.Claims{"role": "authenticated", "exp": now.Add(-time.Hour).Unix()})}, 401, ""},
		{"no exp", map[string]string{"apikey": a.AnonKey, "Authorization": "Bearer " + sign(a.JWTSecret, token.Claims{"role": "authenticated"})}, 401, ""},
		{"alg none", map[string]string{"apikey": a.AnonKey, "Authorization": "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJyb2xlIjoic2VydmljZV9yb2xlIiwiZXhwIjo5OTk5OTk5OTk5fQ."}, 401, ""},
		{"user token as apikey", map[string]string{"apikey": user}, 401, ""},
		{"garbage bearer", map[string]string{"apikey": a.AnonKey, "Authorization": "Basic abc"}, 401, ""},
	}
	for _, tt := range tests {
		got, err := Authenticate(req("GET", "/", tt.hdr), a, AuthOptions{RequireAPIKey: true})
		if tt.status != 200 {
			if e := httpx.As(err); e.Status != tt.status {
				t.Errorf("%s: err = %v, want %d", tt.name, err, tt.status)
			}
			continue
		}
		if err != nil || got.Role() != tt.role {
			t.Errorf("%s: role %v err %v, want %s", tt.name, got, err, tt.role)
		}
	}
	// Wrong audience when the project configures one.
	a.Settings["jwt"] = json.RawMessage(`{"aud":"my-app"}`)
	if _, err := Authenticate(req("GET", "/", map[string]string{"apikey": a.AnonKey, "Authorization": "Bearer " + user}), a, AuthOptions{}); err == nil {
		t.Error("wrong aud accepted")
	}
}

func TestRejectionsTakeNoConnection(t *testing.T) {
	m := newManager(t, Options{})
	a := provision(t, m, "alpha")
	var reached bool
	h := m.Guard("rest", slog.New(slog.NewTextHandler(io.Discard, nil)), httpx.AdminJSON, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = true
	}))
	bad := []string{"Bearer x.y.z", "Bearer " + a.AnonKey[:len(a.AnonKey)-2] + "xx", "Bearer eyJhbGciOiJub25lIn0.e30."}
	for _, authz := range bad {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req("GET", "/", map[string]string{"X-Project-Ref": "alpha", "apikey": a.AnonKey, "Authorization": authz}))
		if rec.Code != 401 || reached {
			t.Fatalf("%s: code %d reached %v", authz, rec.Code, reached)
		}
	}
	if n := len(m.PoolStats()); n != 0 {
		t.Fatalf("a pool was opened for rejected requests: %d", n)
	}
}
