package auth_test

import (
	"testing"

	"github.com/madbase/madbase/internal/testutil/apitest"
)

func TestSettingsHealthJWKS(t *testing.T) {
	t.Parallel()
	v := newEnv(t, map[string]any{"autoconfirm": true, "anonymous_users": true}, false)
	apitest.Run(t, v.h, []apitest.Scenario{
		{Method: "GET", Path: "/auth/v1/settings", Headers: v.hdr(), ExpectedStatus: 200,
			ExpectedJSON:    map[string]any{"disable_signup": false, "mailer_autoconfirm": true, "phone_autoconfirm": false},
			ExpectedContent: []string{`"anonymous_users":true`, `"email":true`, `"github":false`}},
		{Method: "GET", Path: "/auth/v1/health", Headers: v.hdr(), ExpectedStatus: 200, ExpectedJSON: map[string]any{"name": "GoTrue"}},
		{Method: "GET", Path: "/auth/v1/.well-known/jwks.json", Headers: map[string]string{"Host": "alpha.auth.test"},
			ExpectedStatus: 200, ExpectedJSON: map[string]any{"keys": []any{}},
			ExpectedHeaders: map[string]string{"Cache-Control": "public, max-age=600"}},
		{Method: "GET", Path: "/auth/v1/authorize?provider=github", Headers: map[string]string{"Host": "alpha.auth.test"},
			ExpectedStatus: 400, ExpectedContent: []string{"Unsupported provider"}},
	})
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	v := newEnv(t, map[string]any{"autoconfirm": true, "rate_limit_verify": 2, "rate_limit_email_sent": 1, "max_frequency": 0,
		"rate_limit_token_refresh": 3}, true)
	v.signup("wes@example.com", "secret-pw")
	body := map[string]any{"token_hash": "nope", "type": "email"}
	v.must(403, "POST", "/auth/v1/verify", v.hdr(), body)
	v.must(403, "POST", "/auth/v1/verify", v.hdr(), body)
	_, m := v.do("POST", "/auth/v1/verify", v.hdr(), body)
	if m["code"] != "over_request_rate_limit" {
		t.Errorf("third verify: %v", m)
	}
	// Behind a trusted proxy each client IP has its own budget.
	v.patchAuth(map[string]any{"rate_limit_header": "X-Real-IP"})
	h := v.hdr()
	h["X-Real-IP"] = "10.0.0.9"
	v.must(403, "POST", "/auth/v1/verify", h, body)
	v.must(403, "POST", "/auth/v1/verify", h, body)
	v.must(429, "POST", "/auth/v1/verify", h, body)
	v.must(200, "POST", "/auth/v1/otp", v.hdr(), map[string]any{"email": "wes@example.com"})
	_, m = v.do("POST", "/auth/v1/otp", v.hdr(), map[string]any{"email": "wes@example.com"})
	if m["code"] != "over_email_send_rate_limit" {
		t.Errorf("second mail of a 1/h budget: %v", m)
	}
	v.login("wes@example.com", "secret-pw")
	v.login("wes@example.com", "secret-pw")
	v.login("wes@example.com", "secret-pw")
	_, m = v.do("POST", "/auth/v1/token?grant_type=password", v.hdr(), map[string]any{"email": "wes@example.com", "password": "secret-pw"})
	if m["code"] != "over_request_rate_limit" {
		t.Errorf("fourth token grant of 3: %v", m)
	}
	// A change of settings applies at once.
	v.patchAuth(map[string]any{"rate_limit_token_refresh": -1})
	v.login("wes@example.com", "secret-pw")
}
