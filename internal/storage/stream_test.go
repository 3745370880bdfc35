package storage_test

import (
	"crypto/sha256"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/madbase/madbase/internal/storage/blob/blobtest"
	"github.com/madbase/madbase/internal/testutil/apitest"
)

// TestStreaming uploads and downloads 1 GiB through the real HTTP server
// and checks that the process's RSS grows by less than 64 MiB: neither
// direction holds the object in memory.
func TestStreaming(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 1 GiB")
	}
	const size = 1<<30 + 7
	f := newFixture(t, "file")
	res, b := apitest.Do(f.h, "PATCH", "/admin/v1/projects/"+f.p.Ref, map[string]string{"Authorization": "Bearer " + apitest.AdminToken},
		map[string]any{"storage": map[string]any{"file_size_limit": 2 << 30}})
	if res.StatusCode != 200 {
		t.Fatalf("raise limit: %d %s", res.StatusCode, b)
	}
	srv := f.httpServer()
	want := sha256.New()
	_, _ = io.Copy(want, blobtest.NewPattern(3, size))
	got := sha256.New()
	heap, rss := blobtest.PeakGrowth(t, func() {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.URL+"/storage/v1/object/private/big.bin", blobtest.NewPattern(3, size))
		for k, v := range f.service("Content-Type", "application/octet-stream") {
			req.Header.Set(k, v)
		}
		req.Host = "localhost"
		req.ContentLength = size
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("upload: %d %s", res.StatusCode, body)
		}
		res = f.req(srv, "GET", "/storage/v1/object/private/big.bin", f.service(), nil)
		n, err := io.Copy(got, res.Body)
		res.Body.Close()
		if err != nil || n != size || res.Header.Get("Content-Length") != strconv.Itoa(size) {
			t.Fatalf("download: %d bytes, %v", n, err)
		}
	})
	if string(got.Sum(nil)) != string(want.Sum(nil)) {
		t.Fatal("downloaded bytes differ")
	}
	t.Logf("1 GiB up and down: peak heap +%d MiB, RSS +%d MiB", heap>>20, rss>>20)
	if rss >= 64<<20 {
		t.Errorf("RSS grew by %d MiB, want < 64", rss>>20)
	}
}
