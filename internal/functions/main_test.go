package functions_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/functions/wasmtest"
	"github.com/madbase/madbase/internal/testutil/apitest"
	"github.com/madbase/madbase/internal/testutil/pgtest"
	"github.com/madbase/madbase/internal/token"
)

var (
	pg    *pgtest.Cluster
	wasms map[string][]byte
)

var guestNames = []string{"echo", "env", "loop", "memhog", "flood", "trap", "badcgi", "mirror", "outbound"}

func TestMain(m *testing.M) {
	var err error
	if wasms, err = wasmtest.BuildAll(guestNames...); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(pgtest.Main(m, &pg, apitest.Setup))
}

// fixture is a server with project "alpha".
type fixture struct {
	env  *apitest.Env
	p    *apitest.Project
	h    http.Handler
	data string // MADBASE_DATA_DIR
}

// newFixture starts a server whose wazero cache is the one shared by test
// runs, so a guest compiled once is loaded, not recompiled, by later runs.
func newFixture(t *testing.T, extra map[string]string) *fixture {
	t.Helper()
	data := t.TempDir()
	if err := os.MkdirAll(filepath.Join(data, "functions"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(wasmtest.WazeroCacheDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(wasmtest.WazeroCacheDir(), filepath.Join(data, "functions", "cache")); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"MADBASE_DATA_DIR": data}
	for k, v := range extra {
		env[k] = v
	}
	e := apitest.New(t, pg, env)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server logs:\n%s", tail(e.Logs(), 6000))
		}
	})
	return &fixture{env: e, p: e.CreateProject(t, "alpha", nil), h: e.Handler, data: data}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// admin sends an admin API request; body is JSON-encoded unless []byte.
func (f *fixture) admin(method, path string, body any) (*http.Response, []byte) {
	var r io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		r, ct = bytes.NewReader(b), "application/wasm"
	default:
		j, _ := json.Marshal(b)
		r, ct = bytes.NewReader(j), "application/json"
	}
	req := httptest.NewRequest(method, path, r)
	req.Header.Set("Authorization", "Bearer "+apitest.AdminToken)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	return serve(f.h, req)
}

func serve(h http.Handler, req *http.Request) (*http.Response, []byte) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// deploy deploys guest as name (raw module, or multipart when manifest is
// not nil) and fails the test unless it answers 201.
func (f *fixture) deploy(t testing.TB, name, guest string, manifest map[string]any) map[string]any {
	t.Helper()
	res, body := f.deployRaw(name, wasms[guest], manifest, "")
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("deploy %s: %d %s", name, res.StatusCode, body)
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *fixture) deployRaw(name string, wasm []byte, manifest map[string]any, query string) (*http.Response, []byte) {
	path := "/admin/v1/projects/" + f.p.Ref + "/functions/" + name + query
	if manifest == nil {
		return f.admin("PUT", path, wasm)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mj, _ := json.Marshal(manifest)
	part, _ := mw.CreateFormField("manifest")
	part.Write(mj)
	fw, _ := mw.CreateFormFile("module", name+".wasm")
	fw.Write(wasm)
	mw.Close()
	req := httptest.NewRequest("PUT", path, &buf)
	req.Header.Set("Authorization", "Bearer "+apitest.AdminToken)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return serve(f.h, req)
}

// call invokes /functions/v1/<path> as the project (routed by header), with
// the anon key as bearer unless headers say otherwise ("" deletes a header).
func (f *fixture) call(method, path string, headers map[string]string, body []byte) (*http.Response, []byte) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, "/functions/v1/"+path, r)
	req.Header.Set("x-project-ref", f.p.Ref)
	req.Header.Set("Authorization", "Bearer "+f.p.AnonKey)
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	return serve(f.h, req)
}

// sign makes a project JWT with claims over a one-hour expiry.
func (f *fixture) sign(t testing.TB, claims token.Claims) string {
	t.Helper()
	c := token.Claims{"exp": float64(time.Now().Add(time.Hour).Unix()), "role": "authenticated", "ref": f.p.Ref}
	for k, v := range claims {
		c[k] = v
	}
	tok, err := token.Sign([]byte(f.p.JWTSecret), c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v: %.300s", err, b)
	}
	return m
}

func must(t testing.TB, res *http.Response, body []byte, status int) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("status %d, want %d: %.500s", res.StatusCode, status, body)
	}
}

func contains(t testing.TB, body []byte, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(string(body), s) {
			t.Errorf("body lacks %q: %.500s", s, body)
		}
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
