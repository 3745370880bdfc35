package auth_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/testutil/apitest"
)

func TestSignupAutoconfirm(t *testing.T) {
	t.Parallel()
	v := newEnv(t, map[string]any{"autoconfirm": true}, false)
	res, body := v.do("POST", "/auth/v1/signup", v.hdr(), map[string]any{"email": "Ann@Example.com", "password": "secret-pw",
		"data": map[string]any{"plan": "free"}, "code_challenge": nil, "gotrue_meta_security": map[string]any{}})
	if res.StatusCode != 200 {
		t.Fatalf("signup: %d %v", res.StatusCode, body)
	}
	for _, k := range []string{"access_token", "refresh_token", "user"} {
		if body[k] == nil {
			t.Fatalf("session lacks %s: %v", k, body)
		}
	}
	if body["token_type"] != "bearer" || body["expires_in"] != 3600.0 {
		t.Errorf("token_type/expires_in = %v/%v", body["token_type"], body["expires_in"])
	}
	if _, ok := body["weak_password"]; ok {
		t.Error("signup answer carries weak_password (only the password grant does)")
	}
	u := body["user"].(map[string]any)
	if u["email"] != "ann@example.com" || u["phone"] != "" || u["aud"] != "authenticated" || u["role"] != "authenticated" ||
		u["is_anonymous"] != false || u["email_confirmed_at"] == nil {
		t.Errorf("user = %v", u)
	}
	if ids, _ := u["identities"].([]any); len(ids) != 1 || ids[0].(map[string]any)["provider"] != "email" {
		t.Errorf("identities = %v", u["identities"])
	}
	if str(u, "app_metadata", "provider") != "email" || str(u, "user_metadata", "plan") != "free" ||
		u["user_metadata"].(map[string]any)["email_verified"] != true {
		t.Errorf("metadata = %v / %v", u["app_metadata"], u["user_metadata"])
	}
	for _, h := range []string{"Sb-Auth-User-Id", "Sb-Auth-Session-Id", "Sb-Auth-Refresh-Token-Prefix"} {
		if res.Header.Get(h) == "" {
			t.Errorf("missing header %s", h)
		}
	}
	c := v.claims(body["access_token"].(string))
	want := map[string]any{"iss": "http://alpha.auth.test/auth/v1", "sub": u["id"], "aud": "authenticated", "role": "authenticated",
		"email": "ann@example.com", "phone": "", "aal": "aal1", "is_anonymous": false, "ref": "alpha",
		"session_id": res.Header.Get("Sb-Auth-Session-Id")}
	for k, w := range want {
		if c[k] != w {
			t.Errorf("claim %s = %v, want %v", k, c[k], w)
		}
	}
	if amr, _ := c["amr"].([]any); len(amr) != 1 || amr[0].(map[string]any)["method"] != "password" {
		t.Errorf("amr = %v", c["amr"])
	}
	if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 3600 || time.Since(time.Unix(int64(iat), 0)) > time.Minute {
		t.Errorf("iat/exp = %v/%v", iat, exp)
	}
	if c["app_metadata"] == nil || c["user_metadata"] == nil {
		t.Error("metadata claims missing")
	}

	apitest.Run(t, v.h, []apitest.Scenario{
		{Name: "duplicate", Method: "POST", Path: "/auth/v1/signup", Headers: v.hdr(),
			Body: map[string]any{"email": "ann@example.com", "password": "secret-pw"}, ExpectedStatus: 422,
			ExpectedJSON: map[string]any{"code": "user_already_exists", "message": "User already registered"}},
		{Name: "weak password", Method: "POST", Path: "/auth/v1/signup", Headers: v.hdr(),
			Body: map[string]any{"email": "bob@example.com", "password": "abc"}, ExpectedStatus: 422,
			ExpectedJSON: map[string]any{"code": "weak_password", "message": "Password should be at least 6 characters.",
				"weak_password": map[string]any{"reasons": []string{"length"}}},
			ExpectedHeaders: map[string]string{"X-Sb-Error-Code": ""}},
		{Name: "too long", Method: "POST", Path: "/auth/v1/signup", Headers: v.hdr(),
			Body:           map[string]any{"email": "bob@example.com", "password": string(make([]byte, 73))},
			ExpectedStatus: 400, ExpectedJSON: map[string]any{"code": "validation_failed"}},
		{Name: "bad email", Method: "POST", Path: "/auth/v1/signup", Headers: v.hdr(),
			Body: map[string]any{"email": "not-an-email", "password": "secret-pw"}, ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "validation_failed", "message": "Unable to validate email address: invalid format"}},
		{Name: "no password", Method: "POST", Path: "/auth/v1/signup", Headers: v.hdr(),
			Body: map[string]any{"email": "bob@example.com"}, ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "validation_failed", "message": "Signup requires a valid password"}},
		{Name: "anonymous disabled", Method: "POST", Path: "/auth/v1/signup", Headers: v.hdr(),
			Body: map[string]any{"data": map[string]any{}}, ExpectedStatus: 422,
			ExpectedJSON: map[string]any{"code": "anonymous_provider_disabled"}},
	})

	// Settings changed through the admin API apply to the next request.
	v.patchAuth(map[string]any{"disable_signup": true, "password_min_length": 10,
		"password_required_characters": "abcdefghijklmnopqrstuvwxyz:0123456789"})
	v.must(422, "POST", "/auth/v1/signup", v.hdr(), map[string]any{"email": "carl@example.com", "password": "secret-pw"})
	v.patchAuth(map[string]any{"disable_signup": false})
	m := v.must(422, "POST", "/auth/v1/signup", v.hdr(), map[string]any{"email": "carl@example.com", "password": "secretpw"})
	if m["code"] != "weak_password" || len(m["weak_password"].(map[string]any)["reasons"].([]any)) != 2 {
		t.Errorf("policy answer = %v", m)
	}
	// A user trigger on auth.users sees the insert, and its change is in the answer.
	v.query(`create table public.profiles (id uuid primary key references auth.users(id) on delete cascade, email text)`)
	v.query(`create function public.handle_new_user() returns trigger language plpgsql security definer as $$
		begin
			insert into public.profiles (id, email) values (new.id, new.email);
			update auth.users set raw_app_meta_data = raw_app_meta_data || '{"plan":"trial"}' where id = new.id;
			return new;
		end $$`)
	v.query(`create trigger on_auth_user_created after insert on auth.users for each row execute function public.handle_new_user()`)
	s := v.signup("dora@example.com", "secret-pw99")
	if str(s, "user", "app_metadata", "plan") != "trial" {
		t.Errorf("trigger change not re-read: %v", s["user"])
	}
	if rows := v.query(`select email from public.profiles`); len(rows) != 1 || rows[0]["email"] != "dora@example.com" {
		t.Errorf("profiles = %v", rows)
	}
}

func TestAnonymousSignIn(t *testing.T) {
	t.Parallel()
	v := newEnv(t, map[string]any{"anonymous_users": true}, false)
	res, body := v.do("POST", "/auth/v1/signup", v.hdr(), nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("anonymous: %d %v", res.StatusCode, body)
	}
	u := body["user"].(map[string]any)
	if u["is_anonymous"] != true || u["email"] != "" || u["phone"] != "" || len(u["identities"].([]any)) != 0 ||
		len(u["app_metadata"].(map[string]any)) != 0 {
		t.Errorf("anonymous user = %v", u)
	}
	c := v.claims(body["access_token"].(string))
	if c["is_anonymous"] != true || c["role"] != "authenticated" || c["amr"].([]any)[0].(map[string]any)["method"] != "anonymous" {
		t.Errorf("claims = %v", c)
	}
	// The anonymous user can refresh and read itself.
	v.must(200, "GET", "/auth/v1/user", v.bearer(body["access_token"].(string)), nil)
	if res, m := v.refresh(body["refresh_token"].(string)); res.StatusCode != 200 {
		t.Errorf("refresh: %d %v", res.StatusCode, m)
	}
}

// With confirmations on, a fresh sign-up gets a bare user and a mail, and a
// repeated one for a confirmed address an obfuscated user: no error, so the
// address's existence does not leak.
func TestSignupWithConfirmation(t *testing.T) {
	t.Parallel()
	v := newEnv(t, map[string]any{"site_url": "http://app.test"}, true)
	u := v.signup("eve@example.com", "secret-pw")
	if u["access_token"] != nil || u["id"] == nil || u["email_confirmed_at"] != nil || u["confirmation_sent_at"] == nil {
		t.Fatalf("signup answer = %v", u)
	}
	if len(u["identities"].([]any)) != 1 {
		t.Errorf("identities = %v", u["identities"])
	}
	m := v.mail("eve@example.com")
	if m.Subject != "Confirm your email address" {
		t.Errorf("subject %q", m.Subject)
	}
	link := verifyLink(t, m)
	v.must(400, "POST", "/auth/v1/token?grant_type=password", v.hdr(), map[string]any{"email": "eve@example.com", "password": "secret-pw"})
	_, b := v.do("POST", "/auth/v1/token?grant_type=password", v.hdr(), map[string]any{"email": "eve@example.com", "password": "secret-pw"})
	if b["code"] != "email_not_confirmed" {
		t.Errorf("unconfirmed login = %v", b)
	}
	// An immediate second sign-up re-sends, within the per-user window: 429.
	_, b = v.do("POST", "/auth/v1/signup", v.hdr(), map[string]any{"email": "eve@example.com", "password": "secret-pw"})
	if b["code"] != "over_email_send_rate_limit" {
		t.Errorf("resend inside the window = %v", b)
	}
	res := v.follow(link)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("verify link: %d", res.StatusCode)
	}
	loc := res.Header.Get("Location")
	if !hasPrefix(loc, "http://app.test#access_token=") || !containsAll(loc, "&sb=&token_type=bearer&type=signup", "refresh_token=", "expires_in=3600") {
		t.Errorf("Location = %s", loc)
	}
	v.login("eve@example.com", "secret-pw")
	// Following the link again: an error in the fragment, still a 303.
	res = v.follow(link)
	if loc := res.Header.Get("Location"); res.StatusCode != 303 ||
		loc != "http://app.test#error=access_denied&error_code=otp_expired&error_description=Email+link+is+invalid+or+has+expired&sb=" {
		t.Errorf("reused link: %d %s", res.StatusCode, loc)
	}
	fake := v.signup("eve@example.com", "other-pw1")
	if fake["id"] == u["id"] || len(fake["identities"].([]any)) != 0 || fake["access_token"] != nil {
		t.Errorf("repeated signup = %v", fake)
	}
	if n := len(v.query(`select 1 from auth.users`)); n != 1 {
		t.Errorf("%d users after a repeated signup", n)
	}
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		found := false
		for i := 0; i+len(sub) <= len(s); i++ {
			if s[i:i+len(sub)] == sub {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
