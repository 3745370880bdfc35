package storage_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"
	"testing"

	"github.com/madbase/madbase/internal/testutil/apitest"
)

// multipartBody builds what supabase-js sends for a Blob: string fields,
// then the file under an empty field name.
func multipartBody(t *testing.T, fields [][2]string, ct string, data []byte) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := w.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name=""; filename="blob"`)
	h.Set("Content-Type", ct)
	p, err := w.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = p.Write(data)
	_ = w.Close()
	return buf.String(), w.FormDataContentType()
}

// noOrphans checks that every row has its blob and no blob lacks a row.
func (f *fixture) noOrphans(t *testing.T) {
	t.Helper()
	rows := f.count(`select count(*) from storage.objects`)
	if blobs := f.blobCount(); blobs != rows {
		t.Errorf("%d blobs for %d object rows", blobs, rows)
	}
}

func TestObjects(t *testing.T) {
	t.Parallel()
	eachBackend(t, testObjects)
}

func testObjects(t *testing.T, f *fixture) {
	a, b := f.aliceID, f.bobID
	alice, bob := f.as(f.alice), f.as(f.bob)
	svc := f.service()
	meta := base64.StdEncoding.EncodeToString([]byte(`{"owner":"ann"}`))
	var firstID string
	mp, mpType := multipartBody(t, [][2]string{{"cacheControl", "3600"}, {"metadata", `{"kind":"blob"}`}}, "image/png", []byte("PNGDATA"))
	apitest.Run(t, f.h, []apitest.Scenario{
		{Name: "raw upload", Method: "POST", Path: "/storage/v1/object/private/" + a + "/cat.txt",
			Headers: f.as(f.alice, "Content-Type", "text/plain", "x-upsert", "false", "cache-control", "max-age=3600", "x-metadata", meta),
			Body:    "hello world", ExpectedStatus: 200, ExpectedJSON: map[string]any{"Key": "private/" + a + "/cat.txt"},
			Check: func(t *testing.T, _ *http.Response, body []byte) {
				var r struct{ Id string }
				_ = json.Unmarshal(body, &r)
				if len(r.Id) != 36 {
					t.Errorf("Id %q", r.Id)
				}
				firstID = r.Id
			}},
		{Name: "duplicate", Method: "POST", Path: "/storage/v1/object/private/" + a + "/cat.txt", Headers: f.as(f.alice, "Content-Type", "text/plain"),
			Body: "again", Check: errCheck(400, "409", "KeyAlreadyExists")},
		{Name: "into another user's folder", Method: "POST", Path: "/storage/v1/object/private/" + b + "/x.txt", Headers: f.as(f.alice, "Content-Type", "text/plain"),
			Body: "x", Check: errCheck(400, "403", "AccessDenied")},
		{Name: "anon upload", Method: "POST", Path: "/storage/v1/object/private/" + a + "/anon.txt", Headers: f.anon("Content-Type", "text/plain"),
			Body: "x", Check: errCheck(400, "403", "AccessDenied")},
		{Name: "unknown bucket", Method: "POST", Path: "/storage/v1/object/nope/" + a + "/x.txt", Headers: f.as(f.alice, "Content-Type", "text/plain"),
			Body: "x", Check: errCheck(400, "404", "NoSuchBucket")},
		{Name: "upsert without an UPDATE policy", Method: "POST", Path: "/storage/v1/object/private/" + a + "/cat.txt",
			Headers: f.as(f.alice, "Content-Type", "text/plain", "x-upsert", "true"), Body: "overwrite", Check: errCheck(400, "403", "AccessDenied")},
		{Name: "multipart (Blob) upload", Method: "POST", Path: "/storage/v1/object/private/" + a + "/pic.png",
			Headers: f.as(f.alice, "Content-Type", mpType), Body: mp, ExpectedStatus: 200},
		{Name: "download", Method: "GET", Path: "/storage/v1/object/private/" + a + "/cat.txt", Headers: alice, ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"Content-Type": "text/plain", "Cache-Control": "max-age=3600", "Content-Length": "11",
				"Accept-Ranges": "bytes", "X-Robots-Tag": "none"},
			Check: func(t *testing.T, res *http.Response, body []byte) {
				if string(body) != "hello world" {
					t.Errorf("body %q", body)
				}
				if et := res.Header.Get("ETag"); et != `"5eb63bbbe01eeed093cb22bb8f5acdc3"` {
					t.Errorf("ETag %q", et)
				}
				if res.Header.Get("Last-Modified") == "" {
					t.Error("no Last-Modified")
				}
			}},
		{Name: "download alias", Method: "GET", Path: "/storage/v1/object/authenticated/private/" + a + "/cat.txt", Headers: alice, ExpectedStatus: 200, ExpectedContent: []string{"hello world"}},
		{Name: "multipart stored the part's type and cacheControl", Method: "GET", Path: "/storage/v1/object/private/" + a + "/pic.png", Headers: alice, ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"Content-Type": "image/png", "Cache-Control": "max-age=3600"}, ExpectedContent: []string{"PNGDATA"}},
		{Name: "hidden from bob", Method: "GET", Path: "/storage/v1/object/private/" + a + "/cat.txt", Headers: bob, Check: errCheck(400, "404", "NoSuchKey")},
		{Name: "private without a token", Method: "GET", Path: "/storage/v1/object/private/" + a + "/cat.txt", Headers: map[string]string{"Host": "localhost", "apikey": f.p.AnonKey},
			Check: errCheck(400, "404", "NoSuchBucket")},
		{Name: "range", Method: "GET", Path: "/storage/v1/object/private/" + a + "/cat.txt", Headers: f.as(f.alice, "Range", "bytes=0-4"), ExpectedStatus: 206,
			ExpectedHeaders: map[string]string{"Content-Range": "bytes 0-4/11", "Content-Length": "5"}, Check: bodyIs("hello")},
		{Name: "suffix range", Method: "GET", Path: "/storage/v1/object/private/" + a + "/cat.txt", Headers: f.as(f.alice, "Range", "bytes=-5"), ExpectedStatus: 206, Check: bodyIs("world")},
		{Name: "open range", Method: "GET", Path: "/storage/v1/object/private/" + a + "/cat.txt", Headers: f.as(f.alice, "Range", "bytes=6-"), ExpectedStatus: 206, Check: bodyIs("world")},
		{Name: "unsatisfiable range", Method: "GET", Path: "/storage/v1/object/private/" + a + "/cat.txt", Headers: f.as(f.alice, "Range", "bytes=20-"),
			ExpectedHeaders: map[string]string{"Content-Range": "bytes */11"}, Check: errCheck(416, "416", "InvalidRange")},
		{Name: "if-none-match", Method: "GET", Path: "/storage/v1/object/private/" + a + "/cat.txt", Headers: f.as(f.alice, "If-None-Match", `"5eb63bbbe01eeed093cb22bb8f5acdc3"`), ExpectedStatus: 304, Check: bodyIs("")},
		{Name: "if-none-match other", Method: "GET", Path: "/storage/v1/object/private/" + a + "/cat.txt", Headers: f.as(f.alice, "If-None-Match", `"other"`), ExpectedStatus: 200},
		{Name: "if-modified-since", Method: "GET", Path: "/storage/v1/object/private/" + a + "/cat.txt", Headers: f.as(f.alice, "If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT"), ExpectedStatus: 304},
		{Name: "head", Method: "HEAD", Path: "/storage/v1/object/private/" + a + "/cat.txt", Headers: alice, ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"Content-Length": "11", "Content-Type": "text/plain"}, Check: bodyIs("")},
		{Name: "download name", Method: "GET", Path: "/storage/v1/object/private/" + a + "/cat.txt?download=my%20cat.txt", Headers: alice, ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"Content-Disposition": "attachment; filename=my%20cat.txt; filename*=UTF-8''my%20cat.txt"}},
		{Name: "download flag", Method: "GET", Path: "/storage/v1/object/private/" + a + "/cat.txt?download", Headers: alice, ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"Content-Disposition": "attachment;"}},
		{Name: "info", Method: "GET", Path: "/storage/v1/object/info/private/" + a + "/cat.txt", Headers: alice, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"name": a + "/cat.txt", "bucket_id": "private", "size": 11, "content_type": "text/plain",
				"cache_control": "max-age=3600", "etag": `"5eb63bbbe01eeed093cb22bb8f5acdc3"`, "metadata": map[string]any{"owner": "ann"}},
			NotExpectedContent: []string{"updated_at"}},
		{Name: "info missing (exists() → false)", Method: "GET", Path: "/storage/v1/object/info/private/" + a + "/none.txt", Headers: alice, Check: errCheck(400, "404", "NoSuchKey")},
		{Name: "info hidden", Method: "GET", Path: "/storage/v1/object/info/private/" + a + "/cat.txt", Headers: bob, Check: errCheck(400, "404", "NoSuchKey")},
	})
	if firstID == "" {
		t.Fatal("no upload id")
	}
	f.noOrphans(t)

	// Public buckets serve reads with no key at all.
	f.mustDo("POST", "/storage/v1/object/public/docs/readme.txt", f.service("Content-Type", "text/plain"), "public bytes", 200)
	apitest.Run(t, f.h, []apitest.Scenario{
		{Name: "public read without any key", Method: "GET", Path: "/storage/v1/object/public/public/docs/readme.txt", Headers: map[string]string{"Host": "localhost", "x-project-ref": f.p.Ref},
			ExpectedStatus: 200, ExpectedContent: []string{"public bytes"}, ExpectedHeaders: map[string]string{"Cache-Control": "no-cache"}},
		{Name: "public range", Method: "GET", Path: "/storage/v1/object/public/public/docs/readme.txt", Headers: map[string]string{"Host": "localhost", "x-project-ref": f.p.Ref, "Range": "bytes=0-5"},
			ExpectedStatus: 206, Check: bodyIs("public")},
		{Name: "public missing", Method: "GET", Path: "/storage/v1/object/public/public/none", Headers: map[string]string{"Host": "localhost", "x-project-ref": f.p.Ref}, Check: errCheck(400, "404", "NoSuchKey")},
		{Name: "public URL of a private bucket", Method: "GET", Path: "/storage/v1/object/public/private/" + a + "/cat.txt", Headers: map[string]string{"Host": "localhost", "x-project-ref": f.p.Ref},
			Check: errCheck(400, "404", "NoSuchBucket")},
		{Name: "private route without apikey", Method: "GET", Path: "/storage/v1/object/private/" + a + "/cat.txt", Headers: map[string]string{"Host": "localhost", "x-project-ref": f.p.Ref},
			Check: errCheck(401, "401", "Unauthorized")},
	})

	// Limits are enforced while streaming.
	f.mustDo("POST", "/storage/v1/bucket", svc, `{"id":"small","name":"small","file_size_limit":10,"allowed_mime_types":["text/plain","image/*"]}`, 200)
	big, bigType := multipartBody(t, nil, "text/plain", []byte("01234567890"))
	exact, exactType := multipartBody(t, nil, "image/gif", []byte("0123456789"))
	apitest.Run(t, f.h, []apitest.Scenario{
		{Name: "at the limit", Method: "POST", Path: "/storage/v1/object/small/ten.txt", Headers: f.service("Content-Type", "text/plain"), Body: "0123456789", ExpectedStatus: 200},
		{Name: "one byte over", Method: "POST", Path: "/storage/v1/object/small/eleven.txt", Headers: f.service("Content-Type", "text/plain"), Body: "01234567890", Check: errCheck(400, "413", "EntityTooLarge")},
		{Name: "multipart over", Method: "POST", Path: "/storage/v1/object/small/eleven.txt", Headers: f.service("Content-Type", bigType), Body: big, Check: errCheck(400, "413", "EntityTooLarge")},
		{Name: "multipart wildcard mime at the limit", Method: "POST", Path: "/storage/v1/object/small/ten.gif", Headers: f.service("Content-Type", exactType), Body: exact, ExpectedStatus: 200},
		{Name: "mime refused", Method: "POST", Path: "/storage/v1/object/small/x.json", Headers: f.service("Content-Type", "application/json"), Body: "{}", Check: errCheck(400, "415", "InvalidMimeType")},
		{Name: "charset is compared as sent", Method: "POST", Path: "/storage/v1/object/small/c.txt", Headers: f.service("Content-Type", "text/plain;charset=UTF-8"), Body: "x", Check: errCheck(400, "415", "InvalidMimeType")},
		{Name: "placeholder skips mime, limited to 0", Method: "POST", Path: "/storage/v1/object/small/dir/.emptyFolderPlaceholder", Headers: f.service("Content-Type", "application/x-nothing"), Body: "", ExpectedStatus: 200},
	})
	if n := f.count(`select count(*) from storage.objects where bucket_id = 'small'`); n != 3 {
		t.Errorf("small has %d rows, want 3", n)
	}
	f.noOrphans(t)

	// With an UPDATE policy the owner may upsert; the id stays and the old
	// version's bytes go.
	f.sql(`create policy own_update on storage.objects for update to authenticated
		using ((storage.foldername(name))[1] = auth.uid()::text) with check ((storage.foldername(name))[1] = auth.uid()::text)`)
	apitest.Run(t, f.h, []apitest.Scenario{
		{Name: "upsert", Method: "POST", Path: "/storage/v1/object/private/" + a + "/cat.txt", Headers: f.as(f.alice, "Content-Type", "text/plain", "x-upsert", "true"),
			Body: "new content", ExpectedStatus: 200, ExpectedJSON: map[string]any{"Id": firstID}},
		{Name: "update (PUT)", Method: "PUT", Path: "/storage/v1/object/private/" + a + "/cat.txt", Headers: f.as(f.alice, "Content-Type", "text/plain"),
			Body: "newer content", ExpectedStatus: 200, ExpectedJSON: map[string]any{"Id": firstID}},
		{Name: "reads the new bytes", Method: "GET", Path: "/storage/v1/object/private/" + a + "/cat.txt", Headers: alice, ExpectedStatus: 200, Check: bodyIs("newer content")},
		{Name: "update of bob's object refused", Method: "PUT", Path: "/storage/v1/object/private/" + b + "/cat.txt", Headers: f.as(f.alice, "Content-Type", "text/plain"),
			Body: "x", Check: errCheck(400, "403", "AccessDenied")},
	})
	f.noOrphans(t)

	// A policy that only the final row can fail (it reads the size, which
	// the pre-check does not know yet): the bytes already stored are
	// deleted and no row remains.
	f.mustDo("POST", "/storage/v1/bucket", svc, `{"id":"strict","name":"strict"}`, 200)
	f.sql(`create policy strict_insert on storage.objects for insert to authenticated
		with check (bucket_id = 'strict' and coalesce((metadata->>'size')::int, 0) < 5)`)
	blobs := f.blobCount()
	apitest.Run(t, f.h, []apitest.Scenario{
		{Name: "small passes", Method: "POST", Path: "/storage/v1/object/strict/s.txt", Headers: f.as(f.alice, "Content-Type", "text/plain"), Body: "1234", ExpectedStatus: 200},
		{Name: "refused after the bytes", Method: "POST", Path: "/storage/v1/object/strict/big.txt", Headers: f.as(f.alice, "Content-Type", "text/plain"), Body: "123456789", Check: errCheck(400, "403", "AccessDenied")},
	})
	if got := f.blobCount(); got != blobs+1 {
		t.Errorf("blobs %d, want %d: the refused upload left its bytes", got, blobs+1)
	}
	f.noOrphans(t)
}

func bodyIs(want string) func(t *testing.T, res *http.Response, body []byte) {
	return func(t *testing.T, _ *http.Response, body []byte) {
		t.Helper()
		if string(body) != want {
			t.Errorf("body %q, want %q", body, want)
		}
	}
}

var _ = strings.Repeat
