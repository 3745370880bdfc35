package auth_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/madbase/madbase/internal/testutil/apitest"
)

func TestErrorDialect(t *testing.T) {
	t.Parallel()
	v := newEnv(t, map[string]any{"autoconfirm": true}, false)
	legacy := map[string]string{"apikey": v.p.AnonKey, "Host": "localhost"}
	creds := map[string]any{"email": "nobody@example.com", "password": "whatever-1"}
	apitest.Run(t, v.h, []apitest.Scenario{
		{Name: "2024 shape", Method: "POST", Path: "/auth/v1/token?grant_type=password", Headers: v.hdr(), Body: creds,
			ExpectedStatus:     400,
			ExpectedJSON:       map[string]any{"code": "invalid_credentials", "message": "Invalid login credentials"},
			ExpectedHeaders:    map[string]string{"X-Supabase-Api-Version": "2024-01-01", "X-Sb-Error-Code": "invalid_credentials"},
			NotExpectedContent: []string{`"msg"`, `"error_code"`}},
		{Name: "later date maps to 2024", Method: "POST", Path: "/auth/v1/token?grant_type=password",
			Headers: map[string]string{"apikey": v.p.AnonKey, "X-Supabase-Api-Version": "2026-05-01", "Host": "localhost"}, Body: creds,
			ExpectedStatus:  400,
			ExpectedHeaders: map[string]string{"X-Supabase-Api-Version": "2024-01-01"}},
		{Name: "legacy shape", Method: "POST", Path: "/auth/v1/token?grant_type=password", Headers: legacy, Body: creds,
			ExpectedStatus:  400,
			ExpectedJSON:    map[string]any{"code": 400, "error_code": "invalid_credentials", "msg": "Invalid login credentials"},
			ExpectedHeaders: map[string]string{"X-Supabase-Api-Version": "", "X-Sb-Error-Code": "invalid_credentials"}},
		{Name: "old version is legacy", Method: "POST", Path: "/auth/v1/token?grant_type=password",
			Headers: map[string]string{"apikey": v.p.AnonKey, "X-Supabase-Api-Version": "2023-12-31", "Host": "localhost"}, Body: creds,
			ExpectedStatus: 400, ExpectedJSON: map[string]any{"code": 400}},
		{Name: "no apikey", Method: "GET", Path: "/auth/v1/settings", Headers: map[string]string{"X-Supabase-Api-Version": apiVersion, "x-project-ref": "alpha"},
			ExpectedStatus: 401, ExpectedJSON: map[string]any{"code": "no_api_key"}},
		{Name: "bad bearer is 403 bad_jwt", Method: "GET", Path: "/auth/v1/user", Headers: v.bearer("not.a.jwt"),
			ExpectedStatus: 403, ExpectedJSON: map[string]any{"code": "bad_jwt"}},
		{Name: "anon key on /user", Method: "GET", Path: "/auth/v1/user", Headers: v.hdr(),
			ExpectedStatus: 403, ExpectedJSON: map[string]any{"code": "bad_jwt", "message": "invalid claim: missing sub claim"}},
		{Name: "bad json is 400", Method: "POST", Path: "/auth/v1/signup", Headers: v.hdr(), Body: "{nope",
			ExpectedStatus: 400, ExpectedJSON: map[string]any{"code": "bad_json"}},
		{Name: "unknown grant", Method: "POST", Path: "/auth/v1/token?grant_type=magic", Headers: v.hdr(), Body: "{}",
			ExpectedStatus: 400, ExpectedJSON: map[string]any{"code": "invalid_credentials", "message": "unsupported_grant_type"}},
		{Name: "missing refresh token is OAuth-shaped", Method: "POST", Path: "/auth/v1/token?grant_type=refresh_token",
			Headers: v.hdr(), Body: map[string]any{"refresh_token": nil},
			ExpectedStatus: 400, ExpectedJSON: map[string]any{"error": "invalid_request", "error_description": "refresh_token required"}},
		{Name: "unknown route", Method: "GET", Path: "/auth/v1/nope", Headers: v.hdr(), ExpectedStatus: 404,
			ExpectedJSON: map[string]any{"code": "not_found"}},
		{Name: "CORS exposes the version header", Method: "OPTIONS", Path: "/auth/v1/token",
			Headers:        map[string]string{"Origin": "http://app.test", "Access-Control-Request-Method": "POST"},
			ExpectedStatus: http.StatusNoContent},
		{Name: "open route needs no apikey", Method: "GET", Path: "/auth/v1/.well-known/jwks.json",
			Headers: map[string]string{"x-project-ref": "alpha"}, ExpectedStatus: 200, ExpectedContent: []string{`"keys":[]`}},
	})
	// No client mistake above was a 5xx.
	if logs := v.e.Logs(); strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("client errors logged as server errors:\n%s", logs)
	}
}
