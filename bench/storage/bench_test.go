//go:build bench

package storage

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/storage/blob/blobtest"
	"github.com/madbase/madbase/internal/storage/file"
	"github.com/madbase/madbase/internal/testutil/apitest"
	"github.com/madbase/madbase/internal/testutil/pgtest"
)

var pg *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg, apitest.Setup)) }

// target is one way to move bytes: MadBase or the plain handler.
type target struct {
	name     string
	srv      *httptest.Server
	upPath   string
	downPath string
	headers  map[string]string
}

// plainHandler is the baseline: PUT streams the body into a file store, GET
// streams it back, with no auth, no metadata and no database.
func plainHandler(t testing.TB) http.Handler {
	st, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPut:
			if _, err := st.Put(r.Context(), "obj", r.Body, r.ContentLength, r.Header.Get("Content-Type")); err != nil {
				http.Error(w, err.Error(), 500)
			}
		case http.MethodGet:
			rc, info, err := st.Get(r.Context(), "obj", nil)
			if err != nil {
				http.Error(w, err.Error(), 404)
				return
			}
			defer rc.Close()
			w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
			_, _ = io.Copy(w, rc)
		}
	})
}

func targets(t testing.TB) []*target {
	e := apitest.New(t, pg, map[string]string{"MADBASE_LOG_LEVEL": "error"})
	p := e.CreateProject(t, "bench", map[string]any{"storage": map[string]any{"file_size_limit": 1 << 30}})
	mb := httptest.NewServer(e.Handler)
	t.Cleanup(mb.Close)
	h := map[string]string{"apikey": p.ServiceRoleKey, "Authorization": "Bearer " + p.ServiceRoleKey}
	req, _ := http.NewRequest("POST", mb.URL+"/storage/v1/bucket", stringsReader(`{"id":"b","name":"b"}`))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range h {
		req.Header.Set(k, v)
	}
	res, err := mb.Client().Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("create bucket: %v %v", err, res)
	}
	res.Body.Close()
	plain := httptest.NewServer(plainHandler(t))
	t.Cleanup(plain.Close)
	up := map[string]string{"x-upsert": "true", "Content-Type": "application/octet-stream"}
	for k, v := range h {
		up[k] = v
	}
	return []*target{
		{name: "madbase", srv: mb, upPath: "/storage/v1/object/b/obj", downPath: "/storage/v1/object/b/obj", headers: up},
		{name: "plain", srv: plain, upPath: "/obj", downPath: "/obj", headers: map[string]string{"Content-Type": "application/octet-stream"}},
	}
}

func stringsReader(s string) io.Reader { return &onceReader{b: []byte(s)} }

type onceReader struct{ b []byte }

func (o *onceReader) Read(p []byte) (int, error) {
	if len(o.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, o.b)
	o.b = o.b[n:]
	return n, nil
}

func (tg *target) upload(ctx context.Context, size int64) error {
	method := "PUT"
	if tg.name == "madbase" {
		method = "POST"
	}
	req, _ := http.NewRequestWithContext(ctx, method, tg.srv.URL+tg.upPath, blobtest.NewPattern(1, size))
	req.ContentLength = size
	for k, v := range tg.headers {
		req.Header.Set(k, v)
	}
	res, err := tg.srv.Client().Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("%s upload: %d %s", tg.name, res.StatusCode, b)
	}
	return nil
}

func (tg *target) download(ctx context.Context, size int64) error {
	req, _ := http.NewRequestWithContext(ctx, "GET", tg.srv.URL+tg.downPath, nil)
	for k, v := range tg.headers {
		req.Header.Set(k, v)
	}
	res, err := tg.srv.Client().Do(req)
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err != nil || n != size {
		return fmt.Errorf("%s download: %d of %d bytes, %v", tg.name, n, size, err)
	}
	return nil
}

var sizes = []struct {
	name string
	size int64
	reps int
}{{"1MiB", 1 << 20, 200}, {"100MiB", 100 << 20, 6}}

// TestThroughput measures each size and direction for both targets and
// logs MB/s and the MadBase/plain ratio.
func TestThroughput(t *testing.T) {
	tgs := targets(t)
	ctx := t.Context()
	_, _ = rand.Read(make([]byte, 1))
	t.Logf("%-8s %-9s %12s %12s %7s", "size", "op", "madbase MB/s", "plain MB/s", "ratio")
	for _, sz := range sizes {
		for _, op := range []string{"upload", "download"} {
			var rate [2]float64
			for i, tg := range tgs {
				if err := tg.upload(ctx, sz.size); err != nil { // warm up and make the object
					t.Fatal(err)
				}
				start := time.Now()
				for range sz.reps {
					var err error
					if op == "upload" {
						err = tg.upload(ctx, sz.size)
					} else {
						err = tg.download(ctx, sz.size)
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				rate[i] = float64(sz.size) * float64(sz.reps) / time.Since(start).Seconds() / 1e6
			}
			t.Logf("%-8s %-9s %12.1f %12.1f %7.2f", sz.name, op, rate[0], rate[1], rate[0]/rate[1])
		}
	}
}

func BenchmarkStorage(b *testing.B) {
	tgs := targets(b)
	for _, sz := range sizes {
		for _, op := range []string{"upload", "download"} {
			for _, tg := range tgs {
				b.Run(sz.name+"/"+op+"/"+tg.name, func(b *testing.B) {
					if err := tg.upload(b.Context(), sz.size); err != nil {
						b.Fatal(err)
					}
					b.SetBytes(sz.size)
					b.ResetTimer()
					for b.Loop() {
						var err error
						if op == "upload" {
							err = tg.upload(b.Context(), sz.size)
						} else {
							err = tg.download(b.Context(), sz.size)
						}
						if err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
