package storage_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/madbase/madbase/internal/storage/blob/blobtest"
	"github.com/madbase/madbase/internal/testutil/apitest"
)

func tusMetadata(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

// failAfter yields n bytes of r, then fails, like a connection that drops.
type failAfter struct {
	r io.Reader
	n int64
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection dropped")
	}
	if int64(len(p)) > f.n {
		p = p[:f.n]
	}
	k, err := f.r.Read(p)
	f.n -= int64(k)
	return k, err
}

func TestTUS(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, f *fixture) { testTUS(t, f, 24<<20+123) })
}

// TestTUSLarge uploads several GiB with a dropped connection; it is opt-in
// (MADBASE_STORAGE_BIG=1) because it writes the object twice to disk.
func TestTUSLarge(t *testing.T) {
	if os.Getenv("MADBASE_STORAGE_BIG") == "" {
		t.Skip("set MADBASE_STORAGE_BIG=1 to upload 3 GiB through TUS")
	}
	f := newFixture(t, "file")
	f.sql(`update storage.buckets set file_size_limit = null`)
	testTUS(t, f, 3<<30+17)
}

func testTUS(t *testing.T, f *fixture, size int64) {
	a := f.aliceID
	srv := f.httpServer()
	if size > 50<<20 {
		// Raise the project's global limit for the big test.
		res, b := apitest.Do(f.h, "PATCH", "/admin/v1/projects/"+f.p.Ref, map[string]string{"Authorization": "Bearer " + apitest.AdminToken},
			map[string]any{"storage": map[string]any{"file_size_limit": 8 << 30}})
		if res.StatusCode != 200 {
			t.Fatalf("raise limit: %d %s", res.StatusCode, b)
		}
	}
	name := a + "/big.bin"
	create := f.as(f.alice, "Tus-Resumable", "1.0.0", "Upload-Length", strconv.FormatInt(size, 10),
		"Upload-Metadata", tusMetadata("bucketName", "private", "objectName", name, "contentType", "application/x-test", "cacheControl", "60", "metadata", `{"via":"tus"}`))
	res := f.req(srv, "POST", "/storage/v1/upload/resumable", create, nil)
	res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != 201 || !strings.HasPrefix(loc, "/storage/v1/upload/resumable/") {
		t.Fatalf("create: %d %q", res.StatusCode, loc)
	}
	// Only the upload URL is needed from here on: no apikey.
	patchHdr := func(off int64) map[string]string {
		return map[string]string{"Host": "localhost", "x-project-ref": f.p.Ref, "Tus-Resumable": "1.0.0",
			"Content-Type": "application/offset+octet-stream", "Upload-Offset": strconv.FormatInt(off, 10)}
	}
	head := func() int64 {
		t.Helper()
		res := f.req(srv, "HEAD", loc, map[string]string{"Host": "localhost", "x-project-ref": f.p.Ref, "Tus-Resumable": "1.0.0"}, nil)
		res.Body.Close()
		if res.StatusCode != 200 || res.Header.Get("Upload-Length") != strconv.FormatInt(size, 10) {
			t.Fatalf("head: %d %v", res.StatusCode, res.Header)
		}
		off, _ := strconv.ParseInt(res.Header.Get("Upload-Offset"), 10, 64)
		return off
	}
	if off := head(); off != 0 {
		t.Fatalf("fresh upload at %d", off)
	}
	// First PATCH drops after 40% of the bytes.
	pat := blobtest.NewPattern(7, size)
	cut := size * 2 / 5
	req, _ := http.NewRequestWithContext(t.Context(), "PATCH", srv.URL+loc, &failAfter{r: pat, n: cut})
	for k, v := range patchHdr(0) {
		req.Header.Set(k, v)
	}
	req.ContentLength = size
	if res, err := srv.Client().Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("dropped PATCH answered %d", res.StatusCode)
	}
	// Resume as a TUS client does: HEAD, then PATCH from the offset;
	// a 409 means the server was still appending the dropped chunk.
	var off int64
	for attempt := 0; ; attempt++ {
		off = head()
		if off > cut {
			t.Fatalf("offset %d beyond the %d bytes sent", off, cut)
		}
		rest := blobtest.NewPattern(7, size)
		if _, err := io.CopyN(io.Discard, rest, off); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequestWithContext(t.Context(), "PATCH", srv.URL+loc, rest)
		for k, v := range patchHdr(off) {
			req.Header.Set(k, v)
		}
		req.ContentLength = size - off
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == 409 && attempt < 20 {
			continue
		}
		if res.StatusCode != 204 || res.Header.Get("Upload-Offset") != strconv.FormatInt(size, 10) {
			t.Fatalf("resume from %d: %d %s", off, res.StatusCode, b)
		}
		break
	}
	t.Logf("resumed at offset %d of %d", off, size)
	// The finished upload is an object owned by its creator.
	res = f.req(srv, "GET", "/storage/v1/object/private/"+name, f.as(f.alice), nil)
	got := sha256.New()
	n, _ := io.Copy(got, res.Body)
	res.Body.Close()
	want := sha256.New()
	_, _ = io.Copy(want, blobtest.NewPattern(7, size))
	if res.StatusCode != 200 || n != size || string(got.Sum(nil)) != string(want.Sum(nil)) {
		t.Fatalf("download: %d, %d bytes, hash match %v", res.StatusCode, n, string(got.Sum(nil)) == string(want.Sum(nil)))
	}
	if ct, cc := res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"); ct != "application/x-test" || cc != "max-age=60" {
		t.Errorf("stored type %q cache %q", ct, cc)
	}
	if n := f.count(`select count(*) from storage.objects where name = $1 and owner_id = $2 and user_metadata->>'via' = 'tus'`, name, a); n != 1 {
		t.Errorf("row with owner and metadata: %d", n)
	}
	if res := f.req(srv, "HEAD", loc, map[string]string{"Host": "localhost", "x-project-ref": f.p.Ref, "Tus-Resumable": "1.0.0"}, nil); res.StatusCode != 404 {
		t.Errorf("finished upload still there: %d", res.StatusCode)
	}
	f.noOrphans(t)
	if size > 50<<20 {
		return
	}

	// Protocol errors and refusals, with TUS's real statuses.
	tus := func(extra ...string) map[string]string {
		return f.as(f.alice, append([]string{"Tus-Resumable", "1.0.0"}, extra...)...)
	}
	md := func(n string) string { return tusMetadata("bucketName", "private", "objectName", n) }
	res2, _ := apitest.Do(f.h, "POST", "/storage/v1/upload/resumable", tus("Upload-Length", "5", "Upload-Metadata", md(a+"/t.txt")), nil)
	loc2 := res2.Header.Get("Location")
	apitest.Run(t, f.h, []apitest.Scenario{
		{Name: "options", Method: "OPTIONS", Path: "/storage/v1/upload/resumable", Headers: map[string]string{"Host": "localhost", "x-project-ref": f.p.Ref}, ExpectedStatus: 204,
			ExpectedHeaders: map[string]string{"Tus-Version": "1.0.0", "Tus-Extension": "creation,creation-with-upload,termination"}},
		{Name: "no Tus-Resumable", Method: "POST", Path: "/storage/v1/upload/resumable", Headers: f.as(f.alice, "Upload-Length", "5", "Upload-Metadata", md(a+"/x")), ExpectedStatus: 412},
		{Name: "into bob's folder", Method: "POST", Path: "/storage/v1/upload/resumable", Headers: tus("Upload-Length", "5", "Upload-Metadata", md(f.bobID+"/x")), ExpectedStatus: 403,
			ExpectedContent: []string{"row-level security"}},
		{Name: "existing key", Method: "POST", Path: "/storage/v1/upload/resumable", Headers: tus("Upload-Length", "5", "Upload-Metadata", md(name)), ExpectedStatus: 409},
		{Name: "unknown bucket", Method: "POST", Path: "/storage/v1/upload/resumable", Headers: tus("Upload-Length", "5", "Upload-Metadata", tusMetadata("bucketName", "nope", "objectName", a+"/x")), ExpectedStatus: 404},
		{Name: "over the limit", Method: "POST", Path: "/storage/v1/upload/resumable", Headers: tus("Upload-Length", strconv.Itoa(51<<20), "Upload-Metadata", md(a+"/huge")), ExpectedStatus: 413},
		{Name: "no length", Method: "POST", Path: "/storage/v1/upload/resumable", Headers: tus("Upload-Metadata", md(a+"/x")), ExpectedStatus: 400},
		{Name: "wrong offset", Method: "PATCH", Path: loc2, Headers: tus("Content-Type", "application/offset+octet-stream", "Upload-Offset", "3"), Body: "abcde", ExpectedStatus: 409},
		{Name: "wrong content type", Method: "PATCH", Path: loc2, Headers: tus("Content-Type", "text/plain", "Upload-Offset", "0"), Body: "abcde", ExpectedStatus: 415},
		{Name: "too many bytes", Method: "PATCH", Path: loc2, Headers: tus("Content-Type", "application/offset+octet-stream", "Upload-Offset", "0"), Body: "abcdef", ExpectedStatus: 413},
		{Name: "another user's upload", Method: "HEAD", Path: loc2, Headers: f.as(f.bob, "Tus-Resumable", "1.0.0"), ExpectedStatus: 404},
		{Name: "unknown upload", Method: "HEAD", Path: "/storage/v1/upload/resumable/00000000-0000-4000-8000-000000000000", Headers: tus(), ExpectedStatus: 404},
		{Name: "terminate", Method: "DELETE", Path: loc2, Headers: tus(), ExpectedStatus: 204},
		{Name: "terminated", Method: "HEAD", Path: loc2, Headers: tus(), ExpectedStatus: 404},
		{Name: "creation with upload", Method: "POST", Path: "/storage/v1/upload/resumable",
			Headers: tus("Upload-Length", "5", "Upload-Metadata", md(a+"/one-shot.txt"), "Content-Type", "application/offset+octet-stream"), Body: "12345",
			ExpectedStatus: 201, ExpectedHeaders: map[string]string{"Upload-Offset": "5"}},
		{Name: "one-shot object", Method: "GET", Path: "/storage/v1/object/private/" + a + "/one-shot.txt", Headers: f.as(f.alice), ExpectedStatus: 200, Check: bodyIs("12345")},
	})

	// Signed TUS uploads: the x-signature token from createSignedUploadUrl
	// authorises, with no apikey, for its own path only.
	_, sb := f.do("POST", "/storage/v1/object/upload/sign/private/"+a+"/tus-signed.txt", f.as(f.alice), map[string]any{})
	var su struct{ Token string }
	_ = json.Unmarshal(sb, &su)
	bare := func(extra ...string) map[string]string {
		h := map[string]string{"Host": "127.0.0.1", "Tus-Resumable": "1.0.0"}
		for i := 0; i+1 < len(extra); i += 2 {
			h[extra[i]] = extra[i+1]
		}
		return h
	}
	rs, rb := apitest.Do(f.h, "POST", "/storage/v1/upload/resumable/sign", bare("x-signature", su.Token, "Upload-Length", "3", "Upload-Metadata", md(a+"/elsewhere.txt")), nil)
	if rs.StatusCode != 400 {
		t.Errorf("signed TUS for another path: %d %s", rs.StatusCode, rb)
	}
	rs, rb = apitest.Do(f.h, "POST", "/storage/v1/upload/resumable/sign", bare("x-signature", su.Token, "Upload-Length", "3", "Upload-Metadata", md(a+"/tus-signed.txt")), nil)
	sloc := rs.Header.Get("Location")
	if rs.StatusCode != 201 || !strings.HasPrefix(sloc, "/storage/v1/upload/resumable/sign/") {
		t.Fatalf("signed TUS create: %d %s", rs.StatusCode, rb)
	}
	rs, rb = apitest.Do(f.h, "PATCH", sloc, map[string]string{"Host": "localhost", "x-project-ref": f.p.Ref, "Tus-Resumable": "1.0.0",
		"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}, "abc")
	if rs.StatusCode != 204 {
		t.Fatalf("signed TUS patch: %d %s", rs.StatusCode, rb)
	}
	if n := f.count(`select count(*) from storage.objects where name = $1 and owner_id = $2`, a+"/tus-signed.txt", a); n != 1 {
		t.Errorf("signed TUS row: %d", n)
	}
	f.noOrphans(t)
}
