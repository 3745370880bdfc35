package auth_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"github.com/madbase/madbase/internal/testutil/apitest"
)

func TestMagicLinkAndOTP(t *testing.T) {
	t.Parallel()
	v := newEnv(t, map[string]any{"autoconfirm": true, "max_frequency": 0, "site_url": "http://app.test",
		"redirect_urls": []string{"https://preview-*.app.test/**"}}, true)
	// Unknown address with create_user false.
	_, m := v.do("POST", "/auth/v1/otp", v.hdr(), map[string]any{"email": "ned@example.com", "create_user": false})
	if m["code"] != "otp_disabled" {
		t.Errorf("create_user false: %v", m)
	}
	// Unknown address: signed up (autoconfirm) and sent a magic link.
	if m := v.must(200, "POST", "/auth/v1/otp?redirect_to=https://preview-42.app.test/welcome", v.hdr(),
		map[string]any{"email": "ned@example.com", "data": map[string]any{}, "create_user": true, "code_challenge": nil}); len(m) != 0 {
		t.Errorf("otp answer = %v, want {}", m)
	}
	msg := v.mail("ned@example.com")
	if msg.Subject != "Your sign-in link" {
		t.Errorf("subject %q", msg.Subject)
	}
	link := verifyLink(t, msg)
	if !strings.Contains(link, "type=magiclink&redirect_to=https://preview-42.app.test/welcome") {
		t.Errorf("link = %s", link)
	}
	res := v.follow(link)
	loc := res.Header.Get("Location")
	if res.StatusCode != 303 || !strings.HasPrefix(loc, "https://preview-42.app.test/welcome#access_token=") {
		t.Fatalf("magic link: %d %s", res.StatusCode, loc)
	}
	frag, _ := url.ParseQuery(loc[strings.Index(loc, "#")+1:])
	c := v.claims(frag.Get("access_token"))
	if c["amr"].([]any)[0].(map[string]any)["method"] != "otp" {
		t.Errorf("amr = %v", c["amr"])
	}
	if res, _ := v.refresh(frag.Get("refresh_token")); res.StatusCode != 200 {
		t.Error("refresh token from the fragment does not work")
	}

	// The 6-digit code from the same kind of mail signs in via verifyOtp.
	v.must(200, "POST", "/auth/v1/otp?redirect_to=https://evil.test/", v.hdr(), map[string]any{"email": "ned@example.com"})
	msg = v.mail("ned@example.com")
	if l := verifyLink(t, msg); !strings.HasSuffix(l, "redirect_to=http://app.test") {
		t.Errorf("refused redirect not replaced by the site URL: %s", l)
	}
	code := msg.Code()
	if len(code) != 6 {
		t.Fatalf("no code in %q", msg.HTML)
	}
	apitest.Run(t, v.h, []apitest.Scenario{
		{Name: "wrong code", Method: "POST", Path: "/auth/v1/verify", Headers: v.hdr(),
			Body: map[string]any{"email": "ned@example.com", "token": "000000", "type": "email"}, ExpectedStatus: 403,
			ExpectedJSON: map[string]any{"code": "otp_expired", "message": "Token has expired or is invalid"}},
		{Name: "both token and hash", Method: "POST", Path: "/auth/v1/verify", Headers: v.hdr(),
			Body: map[string]any{"token": "1", "token_hash": "2", "type": "email"}, ExpectedStatus: 400},
		{Name: "hash with email", Method: "POST", Path: "/auth/v1/verify", Headers: v.hdr(),
			Body: map[string]any{"token_hash": "2", "type": "email", "email": "ned@example.com"}, ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"message": "Only the token_hash and type should be provided"}},
		{Name: "no type", Method: "GET", Path: "/auth/v1/verify?token=abc", Headers: map[string]string{"Host": "alpha.auth.test"},
			ExpectedStatus: 400, ExpectedJSON: map[string]any{"msg": "Verify requires a verification type"}},
		{Name: "code", Method: "POST", Path: "/auth/v1/verify", Headers: v.hdr(),
			Body:           map[string]any{"email": "ned@example.com", "token": code, "type": "email", "options": map[string]any{}},
			ExpectedStatus: 200, ExpectedContent: []string{`"access_token"`, `"refresh_token"`}},
		{Name: "code reused", Method: "POST", Path: "/auth/v1/verify", Headers: v.hdr(),
			Body: map[string]any{"email": "ned@example.com", "token": code, "type": "email"}, ExpectedStatus: 403},
	})
	// token_hash (the SSR pattern) works through POST too.
	v.must(200, "POST", "/auth/v1/otp", v.hdr(), map[string]any{"email": "ned@example.com"})
	hash := tokenOf(t, verifyLink(t, v.mail("ned@example.com")))
	v.must(200, "POST", "/auth/v1/verify", v.hdr(), map[string]any{"token_hash": hash, "type": "magiclink"})
	// Expired links fail.
	v.must(200, "POST", "/auth/v1/otp", v.hdr(), map[string]any{"email": "ned@example.com"})
	hash = tokenOf(t, verifyLink(t, v.mail("ned@example.com")))
	v.query(`update auth.users set recovery_sent_at = now() - interval '25 hours'`)
	v.must(403, "POST", "/auth/v1/verify", v.hdr(), map[string]any{"token_hash": hash, "type": "email"})
}

func tokenOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

func TestRecoveryAndSendWindow(t *testing.T) {
	t.Parallel()
	v := newEnv(t, map[string]any{"autoconfirm": true}, true)
	v.signup("olga@example.com", "secret-pw")
	if m := v.must(200, "POST", "/auth/v1/recover", v.hdr(), map[string]any{"email": "nobody@example.com"}); len(m) != 0 {
		t.Errorf("unknown address: %v", m)
	}
	v.must(200, "POST", "/auth/v1/recover", v.hdr(), map[string]any{"email": "olga@example.com", "code_challenge": nil})
	msg := v.mail("olga@example.com")
	if msg.Subject != "Reset your password" {
		t.Errorf("subject %q", msg.Subject)
	}
	// A magic link right after shares the per-user window: 429.
	_, m := v.do("POST", "/auth/v1/otp", v.hdr(), map[string]any{"email": "olga@example.com"})
	if m["code"] != "over_email_send_rate_limit" || !strings.HasPrefix(m["message"].(string), "For security purposes, you can only request this after") {
		t.Errorf("second mail inside 60 s: %v", m)
	}
	res := v.follow(verifyLink(t, msg))
	loc := res.Header.Get("Location")
	if res.StatusCode != 303 || !strings.Contains(loc, "type=recovery") {
		t.Fatalf("recovery link: %d %s", res.StatusCode, loc)
	}
	frag, _ := url.ParseQuery(loc[strings.Index(loc, "#")+1:])
	v.must(200, "PUT", "/auth/v1/user", v.bearer(frag.Get("access_token")), map[string]any{"password": "brand-new-pw"})
	v.login("olga@example.com", "brand-new-pw")
	if n := len(v.query(`select 1 from auth.audit_log_entries where payload->>'action' = 'user_recovery_requested'`)); n != 1 {
		t.Errorf("%d recovery audit entries", n)
	}
}

func TestPKCE(t *testing.T) {
	t.Parallel()
	v := newEnv(t, map[string]any{"site_url": "http://app.test"}, true)
	verifier := strings.Repeat("v3r1f13r-", 6)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	v.must(200, "POST", "/auth/v1/signup?redirect_to=http://app.test/cb", v.hdr(), map[string]any{"email": "pia@example.com",
		"password": "secret-pw", "code_challenge": challenge, "code_challenge_method": "s256"})
	link := verifyLink(t, v.mail("pia@example.com"))
	if !strings.Contains(link, "token=pkce_") {
		t.Fatalf("PKCE link without pkce_ token: %s", link)
	}
	res := v.follow(link)
	loc := res.Header.Get("Location")
	if res.StatusCode != 303 || !strings.HasPrefix(loc, "http://app.test/cb?code=") || strings.Contains(loc, "access_token") {
		t.Fatalf("PKCE verify: %d %s", res.StatusCode, loc)
	}
	code := loc[strings.Index(loc, "code=")+5:]
	apitest.Run(t, v.h, []apitest.Scenario{
		{Name: "missing verifier", Method: "POST", Path: "/auth/v1/token?grant_type=pkce", Headers: v.hdr(),
			Body: map[string]any{"auth_code": code}, ExpectedStatus: 400, ExpectedJSON: map[string]any{"code": "validation_failed"}},
		{Name: "wrong verifier", Method: "POST", Path: "/auth/v1/token?grant_type=pkce", Headers: v.hdr(),
			Body: map[string]any{"auth_code": code, "code_verifier": strings.Repeat("x", 43)}, ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "bad_code_verifier"}},
		{Name: "unknown code", Method: "POST", Path: "/auth/v1/token?grant_type=pkce", Headers: v.hdr(),
			Body: map[string]any{"auth_code": "00000000-0000-4000-8000-000000000000", "code_verifier": verifier}, ExpectedStatus: 404,
			ExpectedJSON: map[string]any{"code": "flow_state_not_found"}},
		{Name: "exchange", Method: "POST", Path: "/auth/v1/token?grant_type=pkce", Headers: v.hdr(),
			Body: map[string]any{"auth_code": code, "code_verifier": verifier}, ExpectedStatus: 200,
			ExpectedContent: []string{`"access_token"`, `"email":"pia@example.com"`}},
		{Name: "code used once", Method: "POST", Path: "/auth/v1/token?grant_type=pkce", Headers: v.hdr(),
			Body: map[string]any{"auth_code": code, "code_verifier": verifier}, ExpectedStatus: 404},
		{Name: "short challenge", Method: "POST", Path: "/auth/v1/otp", Headers: v.hdr(),
			Body:           map[string]any{"email": "pia@example.com", "code_challenge": "abc", "code_challenge_method": "S256"},
			ExpectedStatus: 400, ExpectedJSON: map[string]any{"message": "code challenge has to be between 43 and 128 characters"}},
	})
	// Recovery through PKCE; an expired flow is refused.
	v.query(`update auth.users set recovery_sent_at = null`)
	v.must(200, "POST", "/auth/v1/recover", v.hdr(), map[string]any{"email": "pia@example.com", "code_challenge": challenge,
		"code_challenge_method": "plain"})
	res = v.follow(verifyLink(t, v.mail("pia@example.com")))
	loc = res.Header.Get("Location")
	code = loc[strings.Index(loc, "code=")+5:]
	v.query(`update auth.flow_state set auth_code_issued_at = now() - interval '10 minutes'`)
	_, m := v.do("POST", "/auth/v1/token?grant_type=pkce", v.hdr(), map[string]any{"auth_code": code, "code_verifier": challenge})
	if m["code"] != "flow_state_expired" {
		t.Errorf("expired flow: %v", m)
	}
}

func TestEmailChangeAndReauthenticate(t *testing.T) {
	t.Parallel()
	v := newEnv(t, map[string]any{"autoconfirm": true, "update_password_require_reauthentication": true}, true)
	s := v.signup("quinn@example.com", "secret-pw")
	at := s["access_token"].(string)
	u := v.must(200, "PUT", "/auth/v1/user", v.bearer(at), map[string]any{"email": "quinn@new.example.com"})
	if u["email"] != "quinn@example.com" || u["new_email"] != "quinn@new.example.com" || u["email_change_sent_at"] == nil {
		t.Fatalf("after PUT email: %v", u)
	}
	toNew, toOld := v.mail("quinn@new.example.com"), v.mail("quinn@example.com")
	res := v.follow(verifyLink(t, toOld))
	if loc := res.Header.Get("Location"); !strings.Contains(loc, "#message=Confirmation+link+accepted") {
		t.Errorf("first half: %s", loc)
	}
	// The second half by code, via verifyOtp.
	s2 := v.must(200, "POST", "/auth/v1/verify", v.hdr(), map[string]any{"email": "quinn@new.example.com", "token": toNew.Code(), "type": "email_change"})
	if str(s2, "user", "email") != "quinn@new.example.com" {
		t.Errorf("after both halves: %v", s2["user"])
	}
	// Password change needs the reauthentication nonce here.
	_, m := v.do("PUT", "/auth/v1/user", v.bearer(at), map[string]any{"password": "another-pw"})
	if m["code"] != "reauthentication_needed" {
		t.Errorf("without nonce: %v", m)
	}
	v.must(200, "GET", "/auth/v1/reauthenticate", v.bearer(at), nil)
	nonce := v.mail("quinn@new.example.com").Code()
	v.must(422, "PUT", "/auth/v1/user", v.bearer(at), map[string]any{"password": "another-pw", "nonce": "000000"})
	v.must(200, "PUT", "/auth/v1/user", v.bearer(at), map[string]any{"password": "another-pw", "nonce": nonce})
	v.login("quinn@new.example.com", "another-pw")
	// Taken address.
	v.signup("rae@example.com", "secret-pw")
	_, m = v.do("PUT", "/auth/v1/user", v.bearer(at), map[string]any{"email": "rae@example.com"})
	if m["code"] != "email_exists" {
		t.Errorf("taken email: %v", m)
	}
}

func TestInviteResendAndGenerateLink(t *testing.T) {
	t.Parallel()
	v := newEnv(t, nil, true)
	inv := v.must(200, "POST", "/auth/v1/invite", v.service(), map[string]any{"email": "sam@example.com", "data": map[string]any{"team": "a"}})
	if inv["invited_at"] == nil || inv["email_confirmed_at"] != nil {
		t.Errorf("invite = %v", inv)
	}
	v.must(403, "POST", "/auth/v1/invite", v.hdr(), map[string]any{"email": "x@example.com"})
	msg := v.mail("sam@example.com")
	if msg.Subject != "You've been invited" {
		t.Errorf("subject %q", msg.Subject)
	}
	res := v.follow(verifyLink(t, msg))
	if !strings.Contains(res.Header.Get("Location"), "type=invite") {
		t.Errorf("invite link: %s", res.Header.Get("Location"))
	}
	_, m := v.do("POST", "/auth/v1/invite", v.service(), map[string]any{"email": "sam@example.com"})
	if m["code"] != "email_exists" {
		t.Errorf("re-invite of a confirmed user: %v", m)
	}
	// Resend for an unconfirmed sign-up, {} without a mail for anyone else.
	v.signup("tia@example.com", "secret-pw")
	v.mail("tia@example.com")
	v.query(`update auth.users set confirmation_sent_at = now() - interval '2 minutes'`)
	v.must(200, "POST", "/auth/v1/resend", v.hdr(), map[string]any{"email": "tia@example.com", "type": "signup"})
	v.mail("tia@example.com")
	v.must(200, "POST", "/auth/v1/resend", v.hdr(), map[string]any{"email": "nobody@example.com", "type": "signup"})
	v.must(400, "POST", "/auth/v1/resend", v.hdr(), map[string]any{"email": "tia@example.com", "type": "magic"})

	// generate_link sends nothing and hands out link and code.
	before := len(v.sink.Messages())
	gl := v.must(200, "POST", "/auth/v1/admin/generate_link", v.service(), map[string]any{"type": "magiclink", "email": "uma@example.com"})
	for _, k := range []string{"action_link", "email_otp", "hashed_token", "verification_type", "redirect_to", "id", "email"} {
		if gl[k] == nil || gl[k] == "" {
			t.Errorf("generate_link lacks %s: %v", k, gl)
		}
	}
	if len(v.sink.Messages()) != before {
		t.Error("generate_link sent a mail")
	}
	v.must(200, "POST", "/auth/v1/verify", v.hdr(), map[string]any{"email": "uma@example.com", "token": gl["email_otp"], "type": "magiclink"})
	gl = v.must(200, "POST", "/auth/v1/admin/generate_link", v.service(), map[string]any{"type": "recovery", "email": "uma@example.com"})
	if res := v.follow(gl["action_link"].(string)); res.StatusCode != 303 || !strings.Contains(res.Header.Get("Location"), "access_token=") {
		t.Errorf("generated recovery link: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	v.must(404, "POST", "/auth/v1/admin/generate_link", v.service(), map[string]any{"type": "recovery", "email": "nobody@example.com"})
	gl = v.must(200, "POST", "/auth/v1/admin/generate_link", v.service(), map[string]any{"type": "signup", "email": "val@example.com", "password": "secret-pw"})
	v.must(200, "POST", "/auth/v1/verify", v.hdr(), map[string]any{"token_hash": gl["hashed_token"], "type": "signup"})
	v.login("val@example.com", "secret-pw")
	v.must(403, "POST", "/auth/v1/admin/generate_link", v.hdr(), map[string]any{"type": "signup", "email": "w@example.com", "password": "secret-pw"})
}
