package storage_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// traversal lists object names that try to leave the object's space, as a
// URL path (escaped as a client could send it) and as a JSON string.
var traversal = []struct{ name, urlPath, key string }{
	{"dotdot", "../../../etc/passwd", "../../../etc/passwd"},
	{"inner dotdot", "a/../../b", "a/../../b"},
	{"dot", "a/./b", "a/./b"},
	{"percent-encoded", "%2e%2e/%2e%2e/etc/passwd", "..%2f..%2fetc"},
	{"encoded slash", "a%2F..%2F..%2Fb", "a/../b"},
	{"double-encoded", "%252e%252e/%252e%252e/etc/passwd", "%2e%2e/%2e%2e/etc/passwd"},
	{"absolute", "/etc/passwd", "/etc/passwd"},
	{"backslash", "..%5C..%5Cwindows", `..\..\windows`},
	{"drive letter", "C:/Windows/win.ini", "C:/Windows/win.ini"},
	{"drive letter backslash", "C:%5CWindows", `C:\Windows`},
	{"UNC", "%5C%5Cserver%5Cshare%5Cx", `\\server\share\x`},
	{"UNC slashes", "/%2Fserver/share", "//server/share"},
	{"NUL", "a%00b", "a\x00b"},
	{"trailing slash", "a/b/", "a/b/"},
}

func TestTraversalRejected(t *testing.T) {
	t.Parallel()
	eachBackend(t, testTraversal)
}

func testTraversal(t *testing.T, f *fixture) {
	svc := f.service()
	f.mustDo("POST", "/storage/v1/object/private/src.txt", f.service("Content-Type", "text/plain"), "source", 200)
	before := f.count(`select count(*) from storage.objects`)
	for _, tc := range traversal {
		t.Run(tc.name, func(t *testing.T) {
			// Upload with the name in the URL.
			res, body := f.do("POST", "/storage/v1/object/private/"+tc.urlPath, f.service("Content-Type", "text/plain"), "evil")
			switch res.StatusCode {
			case 400:
				wantErr(t, res, body, 400, "400", "InvalidKey")
			case 301, 307, 308:
				// net/http's ServeMux answers unclean paths (dot segments,
				// "//") with a redirect to the cleaned path before any
				// handler runs: either the same bucket or no storage route.
				loc := res.Header.Get("Location")
				if strings.Contains(loc, "/../") || strings.Contains(loc, "/./") {
					t.Errorf("redirect to %q", loc)
				}
				if !strings.HasPrefix(loc, "/storage/v1/object/private/") {
					if res, body := f.do("POST", loc, f.service("Content-Type", "text/plain"), "evil"); res.StatusCode == 200 {
						t.Errorf("redirect to %q stored: %s", loc, body)
					}
				}
			default:
				t.Errorf("upload: %d %s", res.StatusCode, body)
			}
			// Copy, move (destination and source) with the name in JSON.
			for _, body := range []map[string]any{
				{"bucketId": "private", "sourceKey": "src.txt", "destinationKey": tc.key},
				{"bucketId": "private", "sourceKey": tc.key, "destinationKey": "dst.txt"},
			} {
				for _, op := range []string{"copy", "move"} {
					res, b := f.do("POST", "/storage/v1/object/"+op, svc, body)
					if e := wantErr(t, res, b, 400, "400", "InvalidKey"); e.Code != "InvalidKey" {
						t.Errorf("%s %v", op, body)
					}
				}
			}
			// TUS creation with the name in Upload-Metadata.
			md := "bucketName " + base64.StdEncoding.EncodeToString([]byte("private")) + ",objectName " + base64.StdEncoding.EncodeToString([]byte(tc.key))
			res, b := f.do("POST", "/storage/v1/upload/resumable", f.service("Tus-Resumable", "1.0.0", "Upload-Length", "4", "Upload-Metadata", md), nil)
			if res.StatusCode != 400 || !strings.HasPrefix(string(b), "Invalid key") {
				t.Errorf("tus: %d %s", res.StatusCode, b)
			}
			// Signed upload URLs for such names are refused too.
			res, b = f.do("POST", "/storage/v1/object/upload/sign/private/"+tc.urlPath, svc, map[string]any{})
			if res.StatusCode == 200 {
				t.Errorf("upload sign: %d %s", res.StatusCode, b)
			}
		})
	}
	// Only redirects to cleaned names inside the bucket may be followed by
	// a client; this test follows none of them, so nothing new exists.
	if n := f.count(`select count(*) from storage.objects`); n != before {
		t.Errorf("%d rows after traversal attempts, want %d", n, before)
	}
	f.noOrphans(t)
	// Nothing was written outside the project's storage directory.
	var stray []string
	_ = filepath.Walk(f.env.Config.DataDir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			rel, _ := filepath.Rel(f.env.Config.DataDir, p)
			if !strings.HasPrefix(rel, filepath.Join("storage", f.p.Ref)+string(filepath.Separator)) {
				stray = append(stray, rel)
			}
		}
		return nil
	})
	if len(stray) > 0 {
		t.Errorf("files outside the project's space: %v", stray)
	}
	_ = json.Marshal
}
