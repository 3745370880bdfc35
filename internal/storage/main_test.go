package storage_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/madbase/madbase/internal/testutil/apitest"
	"github.com/madbase/madbase/internal/testutil/pgtest"
	"github.com/madbase/madbase/internal/token"
)

var pg *pgtest.Cluster

func TestMain(m *testing.M) {
	code := pgtest.Main(m, &pg, apitest.Setup)
	gw.stop()
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
	if backend == "s3" {
		s3 := s3Settings(t)
		gw.mu.Lock()
		gw.bucketOf[ref] = s3["bucket"].(string)
		gw.mu.Unlock()
		settings["storage"] = map[string]any{"backend": "s3", "s3": s3}
	}
	p := e.CreateProject(t, ref, settings)
	f := &fixture{t: t, backend: backend, env: e, p: p, h: e.Handler}
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
	c := gw.client(f.t)
	gw.mu.Lock()
	bucket := gw.bucketOf[f.p.Ref]
	gw.mu.Unlock()
	n := 0
	for o := range c.ListObjects(f.t.Context(), bucket, minio.ListObjectsOptions{Prefix: f.p.Ref + "/", Recursive: true}) {
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

var _ = bytes.NewReader
var _ = fmt.Sprintf

// --- versitygw, a real S3 server on loopback (see internal/storage/s3's tests) ---

const (
	gwAccess = "madbase-test-access"
	gwSecret = "madbase-test-secret-0123456789"
	gwRegion = "us-east-1"
)

type gateway struct {
	once     sync.Once
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan error
	addr     string
	dir      string
	err      error
	skip     bool
	bucketOf map[string]string
}

var gw = &gateway{bucketOf: map[string]string{}}

func (g *gateway) stop() {
	if g.cmd != nil {
		_ = g.cmd.Process.Kill()
		<-g.exited
	}
	if g.dir != "" {
		_ = os.RemoveAll(g.dir)
	}
}

func versitygwPath() (string, error) {
	cache := os.Getenv("MADBASE_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(home, ".cache", "madbase")
	}
	p := filepath.Join(cache, "bin", "versitygw")
	if _, err := os.Stat(p); err != nil {
		if lp, lerr := exec.LookPath("versitygw"); lerr == nil {
			return lp, nil
		}
		return "", fmt.Errorf("versitygw not found at %s nor on PATH (run scripts/versitygw.sh)", p)
	}
	return p, nil
}

func (g *gateway) start() {
	bin, err := versitygwPath()
	if err != nil {
		g.err, g.skip = err, true
		return
	}
	if g.dir, err = os.MkdirTemp("", "madbase-storage-gw-"); err != nil {
		g.err = err
		return
	}
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			g.err = err
			return
		}
		addr := l.Addr().String()
		_ = l.Close()
		cmd := exec.Command(bin, "--port", addr, "--region", gwRegion, "--quiet", "posix", g.dir)
		cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+gwAccess, "ROOT_SECRET_ACCESS_KEY="+gwSecret)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			g.err = err
			return
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		g.addr = addr
		if err := g.waitReady(exited); err != nil {
			_ = cmd.Process.Kill()
			<-exited
			g.err = fmt.Errorf("versitygw: %w; output:\n%s", err, out.String())
			continue
		}
		g.cmd, g.exited, g.err = cmd, exited, nil
		return
	}
}

func (g *gateway) raw() (*minio.Client, error) {
	return minio.New(g.addr, &minio.Options{Creds: credentials.NewStaticV4(gwAccess, gwSecret, ""), Region: gwRegion, BucketLookup: minio.BucketLookupPath})
}

func (g *gateway) waitReady(exited <-chan error) error {
	c, err := g.raw()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited early: %v", err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err = c.ListBuckets(ctx)
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready: %v", err)
}

func (g *gateway) client(t *testing.T) *minio.Client {
	t.Helper()
	g.once.Do(g.start)
	if g.err != nil {
		if g.skip && os.Getenv("MADBASE_REQUIRE_S3") == "" {
			t.Skipf("S3 backend skipped: %v; set MADBASE_REQUIRE_S3=1 to make this a failure", g.err)
		}
		t.Fatal(g.err)
	}
	c, err := g.raw()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// s3Settings makes a fresh S3 bucket and returns a project's s3 settings for it.
func s3Settings(t *testing.T) map[string]any {
	c := gw.client(t)
	bucket := "sb-" + hex.EncodeToString(randBytes(6))
	if err := c.MakeBucket(t.Context(), bucket, minio.MakeBucketOptions{Region: gwRegion}); err != nil {
		t.Fatal(err)
	}
	return map[string]any{"endpoint": "http://" + gw.addr, "region": gwRegion, "bucket": bucket,
		"access_key": gwAccess, "secret_key": gwSecret, "path_style": true}
}
