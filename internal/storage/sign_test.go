package storage_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/testutil/apitest"
	"github.com/madbase/madbase/internal/token"
)

func TestSignedURLs(t *testing.T) {
	t.Parallel()
	eachBackend(t, testSignedURLs)
}

func testSignedURLs(t *testing.T, f *fixture) {
	a := f.aliceID
	alice, bob := f.as(f.alice), f.as(f.bob)
	noKey := map[string]string{"Host": "localhost", "x-project-ref": f.p.Ref}
	f.mustDo("POST", "/storage/v1/object/private/"+a+"/doc.txt", f.as(f.alice, "Content-Type", "text/plain"), "signed bytes", 200)
	f.mustDo("POST", "/storage/v1/object/private/"+a+"/other.txt", f.as(f.alice, "Content-Type", "text/plain"), "other bytes", 200)

	var signed string
	res, body := f.do("POST", "/storage/v1/object/sign/private/"+a+"/doc.txt", alice, map[string]any{"expiresIn": 60})
	if res.StatusCode != 200 {
		t.Fatalf("sign: %d %s", res.StatusCode, body)
	}
	var sr struct {
		SignedURL string `json:"signedURL"`
	}
	_ = json.Unmarshal(body, &sr)
	signed = sr.SignedURL
	if !strings.HasPrefix(signed, "/object/sign/private/"+a+"/doc.txt?token=") {
		t.Fatalf("signedURL %q", signed)
	}
	tok := signed[strings.Index(signed, "token=")+6:]
	forge := func(claims token.Claims, secret string) string {
		s, err := token.Sign([]byte(secret), claims)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	exp := time.Now().Add(time.Minute).Unix()
	expired := forge(token.Claims{"url": "private/" + a + "/doc.txt", "scope": "download", "exp": time.Now().Add(-time.Minute).Unix()}, f.p.JWTSecret)
	wrongKey := forge(token.Claims{"url": "private/" + a + "/doc.txt", "scope": "download", "exp": exp}, "not-the-project-secret-0123456789")
	uploadScope := forge(token.Claims{"url": "private/" + a + "/doc.txt", "scope": "upload", "exp": exp}, f.p.JWTSecret)
	msg := func(want string) func(t *testing.T, res *http.Response, body []byte) {
		return func(t *testing.T, res *http.Response, body []byte) {
			var e storageErr
			_ = json.Unmarshal(body, &e)
			if res.StatusCode != 400 || e.StatusCode != "400" || e.Message != want {
				t.Errorf("got %d %s", res.StatusCode, body)
			}
		}
	}
	apitest.Run(t, f.h, []apitest.Scenario{
		{Name: "signed GET needs no key", Method: "GET", Path: "/storage/v1" + signed, Headers: noKey, ExpectedStatus: 200, Check: func(t *testing.T, res *http.Response, body []byte) {
			if string(body) != "signed bytes" {
				t.Errorf("body %q", body)
			}
			if res.Header.Get("Cache-Control") != "" || res.Header.Get("Expires") == "" {
				t.Errorf("want Expires and no Cache-Control: %v", res.Header)
			}
		}},
		{Name: "signed GET on a host naming no project", Method: "GET", Path: "/storage/v1" + signed, Headers: map[string]string{"Host": "127.0.0.1:8000"}, ExpectedStatus: 200, Check: bodyIs("signed bytes")},
		{Name: "signed GET with download", Method: "GET", Path: "/storage/v1" + signed + "&download=a.txt", Headers: noKey, ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"Content-Disposition": "attachment; filename=a.txt; filename*=UTF-8''a.txt"}},
		{Name: "signed range", Method: "GET", Path: "/storage/v1" + signed, Headers: map[string]string{"Host": "localhost", "x-project-ref": f.p.Ref, "Range": "bytes=0-5"}, ExpectedStatus: 206, Check: bodyIs("signed")},
		{Name: "token for another object", Method: "GET", Path: "/storage/v1/object/sign/private/" + a + "/other.txt?token=" + tok, Headers: noKey, Check: func(t *testing.T, res *http.Response, body []byte) {
			if e := wantErr(t, res, body, 400, "400", "InvalidSignature"); e.Message != "Invalid signature" {
				t.Errorf("message %q", e.Message)
			}
		}},
		{Name: "token used for an upload", Method: "PUT", Path: "/storage/v1/object/upload/sign/private/" + a + "/doc.txt?token=" + tok, Headers: map[string]string{"Host": "localhost", "x-project-ref": f.p.Ref, "Content-Type": "text/plain"},
			Body: "overwrite", Check: errCheck(400, "400", "InvalidSignature")},
		{Name: "upload-scoped token used for a download", Method: "GET", Path: "/storage/v1/object/sign/private/" + a + "/doc.txt?token=" + uploadScope, Headers: noKey, Check: errCheck(400, "400", "InvalidSignature")},
		{Name: "tampered", Method: "GET", Path: "/storage/v1/object/sign/private/" + a + "/doc.txt?token=x" + tok, Headers: noKey, Check: msg("JWS Protected Header is invalid")},
		{Name: "wrong secret", Method: "GET", Path: "/storage/v1/object/sign/private/" + a + "/doc.txt?token=" + wrongKey, Headers: noKey, Check: msg("signature verification failed")},
		{Name: "expired", Method: "GET", Path: "/storage/v1/object/sign/private/" + a + "/doc.txt?token=" + expired, Headers: noKey, Check: msg(`"exp" claim timestamp check failed`)},
		{Name: "no token", Method: "GET", Path: "/storage/v1/object/sign/private/" + a + "/doc.txt", Headers: f.anon(), Check: msg("querystring must have required property 'token'")},
		{Name: "sign someone else's object", Method: "POST", Path: "/storage/v1/object/sign/private/" + a + "/doc.txt", Headers: bob, Body: map[string]any{"expiresIn": 60}, Check: errCheck(400, "404", "NoSuchKey")},
		{Name: "sign missing", Method: "POST", Path: "/storage/v1/object/sign/private/" + a + "/none.txt", Headers: alice, Body: map[string]any{"expiresIn": 60}, Check: errCheck(400, "404", "NoSuchKey")},
		{Name: "sign bad expiry", Method: "POST", Path: "/storage/v1/object/sign/private/" + a + "/doc.txt", Headers: alice, Body: map[string]any{"expiresIn": 0}, Check: errCheck(400, "400", "InvalidRequest")},
		{Name: "batch", Method: "POST", Path: "/storage/v1/object/sign/private", Headers: alice, Body: map[string]any{"expiresIn": 60, "paths": []string{a + "/doc.txt", a + "/none.txt"}}, ExpectedStatus: 200,
			Check: func(t *testing.T, _ *http.Response, body []byte) {
				var es []struct {
					Error     *string `json:"error"`
					Path      string  `json:"path"`
					SignedURL *string `json:"signedURL"`
				}
				if err := json.Unmarshal(body, &es); err != nil {
					t.Fatal(err)
				}
				if len(es) != 2 || es[0].SignedURL == nil || es[0].Error != nil || es[1].SignedURL != nil ||
					es[1].Error == nil || *es[1].Error != "Either the object does not exist or you do not have access to it" {
					t.Fatalf("batch: %s", body)
				}
				res, b := f.do("GET", "/storage/v1"+*es[0].SignedURL, noKey, nil)
				if res.StatusCode != 200 || string(b) != "signed bytes" {
					t.Errorf("batch URL: %d %s", res.StatusCode, b)
				}
			}},
	})

	// Signed upload URLs: made by someone allowed to insert there, usable
	// once without upsert, for that path only.
	res, body = f.do("POST", "/storage/v1/object/upload/sign/private/"+a+"/up.txt", alice, map[string]any{})
	if res.StatusCode != 200 {
		t.Fatalf("upload sign: %d %s", res.StatusCode, body)
	}
	var us struct{ URL, Token string }
	_ = json.Unmarshal(body, &us)
	u, err := url.Parse(us.URL)
	if err != nil || u.Query().Get("token") != us.Token || u.Path != "/object/upload/sign/private/"+a+"/up.txt" {
		t.Fatalf("upload sign answer %s", body)
	}
	put := map[string]string{"Host": "localhost", "x-project-ref": f.p.Ref, "Content-Type": "text/plain", "x-upsert": "true"}
	apitest.Run(t, f.h, []apitest.Scenario{
		{Name: "upload sign into bob's folder", Method: "POST", Path: "/storage/v1/object/upload/sign/private/" + f.bobID + "/x.txt", Headers: alice, Body: map[string]any{}, Check: errCheck(400, "403", "AccessDenied")},
		{Name: "upload sign on an existing key", Method: "POST", Path: "/storage/v1/object/upload/sign/private/" + a + "/doc.txt", Headers: alice, Body: map[string]any{}, Check: errCheck(400, "409", "KeyAlreadyExists")},
		{Name: "upload to signed URL", Method: "PUT", Path: "/storage/v1" + us.URL, Headers: put, Body: "via token", ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"Key": "private/" + a + "/up.txt"}},
		{Name: "owner comes from the token", Method: "GET", Path: "/storage/v1/object/private/" + a + "/up.txt", Headers: alice, ExpectedStatus: 200, Check: bodyIs("via token")},
		{Name: "second upload without upsert", Method: "PUT", Path: "/storage/v1" + us.URL, Headers: put, Body: "again", Check: errCheck(400, "409", "KeyAlreadyExists")},
		{Name: "token on another path", Method: "PUT", Path: "/storage/v1/object/upload/sign/private/" + a + "/elsewhere.txt?token=" + us.Token, Headers: put, Body: "x", Check: errCheck(400, "400", "InvalidSignature")},
		{Name: "upload token as a download", Method: "GET", Path: "/storage/v1/object/sign/private/" + a + "/up.txt?token=" + us.Token, Headers: noKey, Check: errCheck(400, "400", "InvalidSignature")},
	})
	if n := f.count(`select count(*) from storage.objects where name = $1 and owner_id = $2`, a+"/up.txt", a); n != 1 {
		t.Errorf("signed upload row with owner: %d", n)
	}
	f.noOrphans(t)
}
