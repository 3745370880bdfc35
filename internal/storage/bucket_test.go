package storage_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/testutil/apitest"
)

func TestBuckets(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "file")
	svc, anon, alice := f.service(), f.anon(), f.as(f.alice)
	apitest.Run(t, f.h, []apitest.Scenario{
		{Name: "create with string size", Method: "POST", Path: "/storage/v1/bucket", Headers: svc,
			Body:           `{"id":"avatars","name":"avatars","public":false,"file_size_limit":"1MB","allowed_mime_types":["image/png","image/*",""]}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"name": "avatars"}},
		{Name: "get has exactly Supabase's keys", Method: "GET", Path: "/storage/v1/bucket/avatars", Headers: svc, ExpectedStatus: 200,
			Check: func(t *testing.T, _ *http.Response, body []byte) {
				var m map[string]any
				if err := json.Unmarshal(body, &m); err != nil {
					t.Fatal(err)
				}
				want := []string{"id", "name", "owner", "public", "created_at", "updated_at", "file_size_limit", "allowed_mime_types"}
				if len(m) != len(want) {
					t.Errorf("keys: %v", m)
				}
				for _, k := range want {
					if _, ok := m[k]; !ok {
						t.Errorf("missing %s: %s", k, body)
					}
				}
				if m["file_size_limit"] != float64(1000000) {
					t.Errorf("file_size_limit = %v", m["file_size_limit"])
				}
				if ts, _ := m["created_at"].(string); len(ts) != 24 || ts[23] != 'Z' {
					t.Errorf("created_at = %q, want JS ISO", ts)
				}
			}},
		{Name: "duplicate", Method: "POST", Path: "/storage/v1/bucket", Headers: svc, Body: `{"id":"avatars","name":"avatars"}`,
			Check: errCheck(400, "409", "BucketAlreadyExists")},
		{Name: "invalid name", Method: "POST", Path: "/storage/v1/bucket", Headers: svc, Body: `{"id":"bad/name","name":"bad/name"}`,
			Check: errCheck(400, "400", "InvalidBucketName")},
		{Name: "limit above global", Method: "POST", Path: "/storage/v1/bucket", Headers: svc, Body: `{"id":"huge","name":"huge","file_size_limit":"1GB"}`,
			Check: errCheck(400, "413", "EntityTooLarge")},
		{Name: "bad size string", Method: "POST", Path: "/storage/v1/bucket", Headers: svc, Body: `{"id":"x","name":"x","file_size_limit":"lots"}`,
			Check: errCheck(400, "400", "InvalidRequest")},
		{Name: "user create refused by RLS", Method: "POST", Path: "/storage/v1/bucket", Headers: alice, Body: `{"id":"mine","name":"mine"}`,
			Check: errCheck(400, "403", "AccessDenied")},
		{Name: "list with type", Method: "GET", Path: "/storage/v1/bucket?sortColumn=name&sortOrder=desc&limit=2", Headers: svc, ExpectedStatus: 200,
			Check: func(t *testing.T, _ *http.Response, body []byte) {
				var bs []map[string]any
				if err := json.Unmarshal(body, &bs); err != nil {
					t.Fatal(err)
				}
				if len(bs) != 2 || bs[0]["name"] != "public" || bs[1]["name"] != "private" || bs[0]["type"] != "STANDARD" {
					t.Errorf("list: %s", body)
				}
			}},
		{Name: "list search", Method: "GET", Path: "/storage/v1/bucket?search=AVA", Headers: svc, ExpectedStatus: 200, ExpectedContent: []string{`"avatars"`}, NotExpectedContent: []string{`"private"`}},
		{Name: "anon sees public buckets only (policy)", Method: "GET", Path: "/storage/v1/bucket", Headers: anon, ExpectedStatus: 200,
			ExpectedContent: []string{`"public"`}, NotExpectedContent: []string{`"private"`, `"avatars"`}},
		{Name: "missing", Method: "GET", Path: "/storage/v1/bucket/nope", Headers: svc, Check: errCheck(400, "404", "NoSuchBucket")},
		{Name: "hidden by RLS", Method: "GET", Path: "/storage/v1/bucket/private", Headers: alice, Check: errCheck(400, "404", "NoSuchBucket")},
		{Name: "update partial", Method: "PUT", Path: "/storage/v1/bucket/avatars", Headers: svc, Body: `{"id":"avatars","name":"avatars","public":true}`,
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"message": "Successfully updated"}},
		{Name: "update kept the limit", Method: "GET", Path: "/storage/v1/bucket/avatars", Headers: svc, ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"public": true, "file_size_limit": 1000000, "allowed_mime_types": []string{"image/png", "image/*"}}},
		{Name: "update clears with null", Method: "PUT", Path: "/storage/v1/bucket/avatars", Headers: svc, Body: `{"public":true,"file_size_limit":null}`, ExpectedStatus: 200},
		{Name: "update missing", Method: "PUT", Path: "/storage/v1/bucket/nope", Headers: svc, Body: `{"public":true}`, Check: errCheck(400, "404", "NoSuchBucket")},
		{Name: "update needs a field", Method: "PUT", Path: "/storage/v1/bucket/avatars", Headers: svc, Body: `{"id":"avatars"}`, Check: errCheck(400, "400", "InvalidRequest")},
		{Name: "upload to avatars", Method: "POST", Path: "/storage/v1/object/avatars/a.png", Headers: f.service("Content-Type", "image/png"), Body: "png", ExpectedStatus: 200},
		{Name: "delete non-empty", Method: "DELETE", Path: "/storage/v1/bucket/avatars", Headers: svc, Body: `{}`, Check: errCheck(400, "409", "ResourceNotEmpty")},
		{Name: "empty is service-only (real 403)", Method: "POST", Path: "/storage/v1/bucket/avatars/empty", Headers: alice, Body: `{}`, Check: errCheck(403, "403", "AccessDenied")},
		{Name: "empty", Method: "POST", Path: "/storage/v1/bucket/avatars/empty", Headers: svc, Body: `{}`, ExpectedStatus: 200, ExpectedContent: []string{"Empty bucket has been queued"}},
		{Name: "delete", Method: "DELETE", Path: "/storage/v1/bucket/avatars", Headers: svc, Body: `{}`, ExpectedStatus: 200, ExpectedJSON: map[string]any{"message": "Successfully deleted"}},
		{Name: "delete again", Method: "DELETE", Path: "/storage/v1/bucket/avatars", Headers: svc, Body: `{}`, Check: errCheck(400, "404", "NoSuchBucket")},
	})
	if n := f.blobCount(); n != 0 {
		t.Errorf("%d blobs left after emptying", n)
	}
}

func TestErrorsFromTheGate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "file")
	apitest.Run(t, f.h, []apitest.Scenario{
		{Name: "bad bearer", Method: "GET", Path: "/storage/v1/bucket", Headers: f.as("nope"), Check: func(t *testing.T, res *http.Response, body []byte) {
			if e := wantErr(t, res, body, 400, "403", "AccessDenied"); e.Message != "Invalid Compact JWS" {
				t.Errorf("message %q", e.Message)
			}
		}},
		{Name: "expired bearer", Method: "GET", Path: "/storage/v1/bucket", Headers: f.as(f.userToken(f.aliceID, -time.Minute)), Check: func(t *testing.T, res *http.Response, body []byte) {
			if e := wantErr(t, res, body, 400, "403", "AccessDenied"); e.Message != `"exp" claim timestamp check failed` {
				t.Errorf("message %q", e.Message)
			}
		}},
		{Name: "no apikey", Method: "GET", Path: "/storage/v1/bucket", Headers: map[string]string{"x-project-ref": f.p.Ref}, Check: errCheck(401, "401", "Unauthorized")},
		{Name: "publishable key as bearer is anon", Method: "GET", Path: "/storage/v1/bucket",
			Headers: map[string]string{"Host": "localhost", "apikey": f.p.PublishableKey, "Authorization": "Bearer " + f.p.PublishableKey}, ExpectedStatus: 200, ExpectedContent: []string{`"public"`}, NotExpectedContent: []string{`"private"`}},
		{Name: "secret key as bearer is service", Method: "GET", Path: "/storage/v1/bucket",
			Headers: map[string]string{"Host": "localhost", "apikey": f.p.SecretKey, "Authorization": "Bearer " + f.p.SecretKey}, ExpectedStatus: 200, ExpectedContent: []string{`"private"`}},
		{Name: "unknown route is a real 404", Method: "GET", Path: "/storage/v1/nothing", Headers: f.service(), Check: errCheck(404, "404", "InvalidRequest")},
		{Name: "image transformation not served", Method: "GET", Path: "/storage/v1/render/image/public/public/a.png?width=10", Headers: f.anon(), Check: errCheck(400, "400", "FeatureNotEnabled")},
	})
}
