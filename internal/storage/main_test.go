package storage_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"

	"github.com/madbase/madbase/internal/testutil/apitest"
	"github.com/madbase/madbase/internal/testutil/pgtest"
	"github.com/madbase/madbase/internal/testutil/s3test"
	"github.com/madbase/madbase/internal/token"
)

var pg *pgtest.Cluster

func TestMain(m *testing.M) {
	code := pgtest.Main(m, &pg, apitest.Setup)
	gw.Stop()
	os.Exit(code)
}

// fixture is a server with one project on one backend, its keys, two users
// and buckets "private" and "public" made by the service role.
type fixture struct {
	t       *testing.T
	backend string
	env     *apitest.Env
	p       *apitest.Project
	h       http.Handler
	alice   string // user tokens
	bob     string
	aliceID string
	bobID   string
	bucket  string // the S3 bucket of an s3 fixture
}

var backendNames = []string{"file", "s3"}

// eachBackend runs fn once per backend, skipping S3 when versitygw is not
// installed (unless MADBASE_REQUIRE_S3 is set).
func eachBackend(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, b := range backendNames {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, newFixture(t, b))
		})
	}
}

func newFixture(t *testing.T, backend string) *fixture {
	t.Helper()
	e := apitest.New(t, pg, nil)
	settings := map[string]any{}
	ref := "st" + strings.ToLower(hex.EncodeToString(randBytes(4)))
	var bucket string
	if backend == "s3" {
		bucket = gw.NewBucket(t, "sb-")
		settings["storage"] = map[string]any{"backend": "s3", "s3": map[string]any{
			"endpoint": "http://" + gw.Addr(t), "region": s3test.Region, "bucket": bucket,
			"access_key": s3test.Access, "secret_key": s3test.Secret, "path_style": true}}
	}
	p := e.CreateProject(t, ref, settings)
	f := &fixture{t: t, backend: backend, env: e, p: p, h: e.Handler, bucket: bucket}
	f.aliceID, f.bobID = uuid(), uuid()
	f.alice, f.bob = f.userToken(f.aliceID, time.Hour), f.userToken(f.bobID, time.Hour)
	f.sql(`
		create policy own_insert on storage.objects for insert to authenticated
			with check ((storage.foldername(name))[1] = auth.uid()::text);
		create policy own_select on storage.objects for select to authenticated
			using ((storage.foldername(name))[1] = auth.uid()::text);
		create policy own_delete on storage.objects for delete to authenticated
			using ((storage.foldername(name))[1] = auth.uid()::text);
		create policy public_bucket_read on storage.buckets for select to anon, authenticated using (public);`)
	f.mustDo("POST", "/storage/v1/bucket", f.service(), `{"id":"private","name":"private","public":false}`, 200)
	f.mustDo("POST", "/storage/v1/bucket", f.service(), `{"id":"public","name":"public","public":true}`, 200)
	return f
}

func (f *fixture) sql(q string) {
	f.t.Helper()
	conn, err := pgx.Connect(f.t.Context(), f.p.DBURL)
	if err != nil {
		f.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(f.t.Context(), q); err != nil {
		f.t.Fatalf("sql: %v\n%s", err, q)
	}
}

func (f *fixture) count(q string, args ...any) int {
	f.t.Helper()
	conn, err := pgx.Connect(f.t.Context(), f.p.DBURL)
	if err != nil {
		f.t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(f.t.Context(), q, args...).Scan(&n); err != nil {
		f.t.Fatalf("count: %v", err)
	}
	return n
}

func (f *fixture) userToken(sub string, ttl time.Duration) string {
	tok, err := token.Sign([]byte(f.p.JWTSecret), token.Claims{"role": "authenticated", "aud": "authenticated",
		"sub": sub, "exp": time.Now().Add(ttl).Unix(), "iat": time.Now().Unix()})
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

// headers for a request as supabase-js sends it.
func (f *fixture) as(bearer string, extra ...string) map[string]string {
	// Host: httptest's example.com would be read as project "example".
	h := map[string]string{"apikey": f.p.AnonKey, "Host": "localhost"}
	if bearer != "" {
		h["Authorization"] = "Bearer " + bearer
	}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return h
}

func (f *fixture) service(extra ...string) map[string]string {
	h := f.as(f.p.ServiceRoleKey, extra...)
	h["apikey"] = f.p.ServiceRoleKey
	return h
}

func (f *fixture) anon(extra ...string) map[string]string { return f.as(f.p.AnonKey, extra...) }

func (f *fixture) do(method, path string, h map[string]string, body any) (*http.Response, []byte) {
	return apitest.Do(f.h, method, path, h, body)
}

func (f *fixture) mustDo(method, path string, h map[string]string, body any, want int) []byte {
	f.t.Helper()
	res, b := f.do(method, path, h, body)
	if res.StatusCode != want {
		f.t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, b)
	}
	return b
}

// upload stores raw bytes as the bearer's user.
func (f *fixture) upload(bearer, bucket, name, body string, extra ...string) (*http.Response, []byte) {
	h := f.as(bearer, append([]string{"Content-Type", "text/plain"}, extra...)...)
	if bearer == f.p.ServiceRoleKey {
		h["apikey"] = bearer
	}
	return f.do("POST", "/storage/v1/object/"+bucket+"/"+name, h, body)
}

// blobCount counts the object files a file backend holds, or the keys of
// the project's S3 prefix.
func (f *fixture) blobCount() int {
	f.t.Helper()
	if f.backend == "file" {
		n := 0
		root := filepath.Join(f.env.Config.DataDir, "storage", f.p.Ref)
		_ = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() && strings.HasSuffix(p, ".b") {
				n++
			}
			return nil
		})
		return n
	}
	n := 0
	for o := range gw.Client(f.t).ListObjects(f.t.Context(), f.bucket, minio.ListObjectsOptions{Prefix: f.p.Ref + "/", Recursive: true}) {
		if o.Err != nil {
			f.t.Fatal(o.Err)
		}
		n++
	}
	return n
}

// storageErr decodes a Storage error body.
type storageErr struct {
	StatusCode string `json:"statusCode"`
	Code       string `json:"code"`
	Error      string `json:"error"`
	Message    string `json:"message"`
}

func wantErr(t *testing.T, res *http.Response, body []byte, httpStatus int, statusCode, code string) storageErr {
	t.Helper()
	var e storageErr
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("not a Storage error (%d): %s", res.StatusCode, body)
	}
	if res.StatusCode != httpStatus || e.StatusCode != statusCode || e.Code != code {
		t.Fatalf("got %d %s/%s (%s), want %d %s/%s", res.StatusCode, e.StatusCode, e.Code, e.Message, httpStatus, statusCode, code)
	}
	return e
}

func errCheck(httpStatus int, statusCode, code string) func(t *testing.T, res *http.Response, body []byte) {
	return func(t *testing.T, res *http.Response, body []byte) {
		wantErr(t, res, body, httpStatus, statusCode, code)
	}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func uuid() string {
	h := hex.EncodeToString(randBytes(16))
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:]
}

// httpServer serves f over real TCP, for tests that need a client.
func (f *fixture) httpServer() *httptest.Server {
	srv := httptest.NewServer(f.h)
	f.t.Cleanup(srv.Close)
	return srv
}

func (f *fixture) req(srv *httptest.Server, method, path string, h map[string]string, body io.Reader) *http.Response {
	f.t.Helper()
	req, err := http.NewRequestWithContext(f.t.Context(), method, srv.URL+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

var gw s3test.Gateway // a real S3 server for the s3 backend; stopped by TestMain
