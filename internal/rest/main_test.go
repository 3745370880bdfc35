package rest_test

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/madbase/madbase/internal/testutil/apitest"
	"github.com/madbase/madbase/internal/testutil/pgtest"
	"github.com/madbase/madbase/internal/token"
)

var pg *pgtest.Cluster

//go:embed testdata/fixture.sql
var fixtureSQL string

const fixtureTemplate = "rest_fixture"

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, &pg, func(ctx context.Context, c *pgtest.Cluster) error {
		if err := apitest.Setup(ctx, c); err != nil {
			return err
		}
		return apitest.CreateFixture(ctx, c, fixtureTemplate, fixtureSQL)
	}))
}

// env is a whole server with one project on a database holding the fixture.
type env struct {
	*apitest.Env
	p *apitest.Project
}

func newEnv(t *testing.T, rest map[string]any) *env {
	t.Helper()
	e := apitest.New(t, pg, nil)
	dbURL := pg.NewDB(t, fixtureTemplate)
	body := map[string]any{"ref": "alpha", "name": "alpha", "db_url": dbURL}
	if rest != nil {
		body["rest"] = rest
	}
	b, _ := json.Marshal(body)
	req := httptest.NewRequest("POST", "/admin/v1/projects", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+apitest.AdminToken)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.Handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create project: %d %s", rec.Code, rec.Body.String())
	}
	var p apitest.Project
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	p.DBURL = dbURL
	return &env{Env: e, p: &p}
}

// user signs a token for an authenticated user with the given sub.
func (e *env) user(t *testing.T, sub string) string {
	t.Helper()
	tok, err := token.Sign([]byte(e.p.JWTSecret), token.Claims{"role": "authenticated", "sub": sub, "aud": "authenticated",
		"exp": time.Now().Add(time.Hour).Unix(), "ref": e.p.Ref})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// hdr returns request headers for a caller: "anon", "service" or a user token.
func (e *env) hdr(who string, extra ...string) map[string]string {
	h := map[string]string{"apikey": e.p.AnonKey, "x-project-ref": e.p.Ref}
	switch who {
	case "anon":
	case "service":
		h["apikey"] = e.p.ServiceRoleKey
		h["Authorization"] = "Bearer " + e.p.ServiceRoleKey
	default:
		h["Authorization"] = "Bearer " + who
	}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return h
}

// jsonEq asserts that body is the JSON value want.
func jsonEq(want string) func(t *testing.T, res *http.Response, body []byte) {
	return func(t *testing.T, res *http.Response, body []byte) {
		t.Helper()
		var got, exp any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("body is not JSON: %v: %q", err, body)
		}
		if err := json.Unmarshal([]byte(want), &exp); err != nil {
			t.Fatalf("bad expectation %q: %v", want, err)
		}
		if d := cmp.Diff(exp, got); d != "" {
			t.Errorf("body mismatch (-want +got):\n%s\nbody: %s", d, body)
		}
	}
}

// rows asserts the body is an array of n elements.
func rows(n int) func(t *testing.T, res *http.Response, body []byte) {
	return func(t *testing.T, res *http.Response, body []byte) {
		t.Helper()
		var got []any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("body is not a JSON array: %v: %q", err, body)
		}
		if len(got) != n {
			t.Errorf("%d rows, want %d: %s", len(got), n, body)
		}
	}
}
