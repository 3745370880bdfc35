package auth_test

import (
	"testing"

	"github.com/madbase/madbase/internal/testutil/apitest"
)

func TestUserAndLogout(t *testing.T) {
	t.Parallel()
	v := newEnv(t, map[string]any{"autoconfirm": true}, false)
	a := v.signup("jo@example.com", "secret-pw")
	b := v.login("jo@example.com", "secret-pw")
	c := v.login("jo@example.com", "secret-pw")
	at := func(s map[string]any) string { return s["access_token"].(string) }
	rt := func(s map[string]any) string { return s["refresh_token"].(string) }

	u := v.must(200, "GET", "/auth/v1/user", v.bearer(at(a)), nil)
	if u["email"] != "jo@example.com" || u["phone"] != "" || len(u["identities"].([]any)) != 1 || u["confirmed_at"] == nil {
		t.Errorf("GET /user = %v", u)
	}
	u = v.must(200, "PUT", "/auth/v1/user", v.bearer(at(a)), map[string]any{"data": map[string]any{"plan": "pro"}})
	if str(u, "user_metadata", "plan") != "pro" || str(u, "user_metadata", "email") != "jo@example.com" {
		t.Errorf("metadata merge = %v", u["user_metadata"])
	}
	u = v.must(200, "PUT", "/auth/v1/user", v.bearer(at(a)), map[string]any{"data": map[string]any{"plan": nil}})
	if _, ok := u["user_metadata"].(map[string]any)["plan"]; ok {
		t.Error("null did not remove the key")
	}
	apitest.Run(t, v.h, []apitest.Scenario{
		{Name: "app_metadata needs admin", Method: "PUT", Path: "/auth/v1/user", Headers: v.bearer(at(a)),
			Body: map[string]any{"app_metadata": map[string]any{"x": 1}}, ExpectedStatus: 403, ExpectedJSON: map[string]any{"code": "not_admin"}},
		{Name: "same password", Method: "PUT", Path: "/auth/v1/user", Headers: v.bearer(at(a)),
			Body: map[string]any{"password": "secret-pw"}, ExpectedStatus: 422, ExpectedJSON: map[string]any{"code": "same_password"}},
		{Name: "weak new password", Method: "PUT", Path: "/auth/v1/user", Headers: v.bearer(at(a)),
			Body: map[string]any{"password": "abc"}, ExpectedStatus: 422, ExpectedJSON: map[string]any{"code": "weak_password"}},
		{Name: "logout needs a user token", Method: "POST", Path: "/auth/v1/logout", Headers: v.hdr(),
			ExpectedStatus: 403, ExpectedJSON: map[string]any{"code": "bad_jwt"}},
		{Name: "bad scope", Method: "POST", Path: "/auth/v1/logout?scope=all", Headers: v.bearer(at(a)),
			ExpectedStatus: 400, ExpectedJSON: map[string]any{"code": "validation_failed"}},
		{Name: "logout local", Method: "POST", Path: "/auth/v1/logout?scope=local", Headers: v.bearer(at(a)), ExpectedStatus: 204},
		{Name: "token of a deleted session", Method: "GET", Path: "/auth/v1/user", Headers: v.bearer(at(a)), ExpectedStatus: 403,
			ExpectedJSON: map[string]any{"code": "session_not_found", "message": "Session from session_id claim in JWT does not exist"}},
	})
	if _, m := v.refresh(rt(a)); m["code"] != "refresh_token_not_found" {
		t.Errorf("refresh of a logged-out session: %v", m)
	}
	// Other sessions survive a local logout.
	if res, _ := v.refresh(rt(b)); res.StatusCode != 200 {
		t.Error("local logout killed another session")
	}
	v.must(204, "POST", "/auth/v1/logout?scope=others", v.bearer(at(c)), nil)
	v.must(200, "GET", "/auth/v1/user", v.bearer(at(c)), nil)
	v.must(403, "GET", "/auth/v1/user", v.bearer(at(b)), nil)
	v.must(204, "POST", "/auth/v1/logout?scope=global", v.bearer(at(c)), nil)
	v.must(403, "GET", "/auth/v1/user", v.bearer(at(c)), nil)
	if n := len(v.query(`select 1 from auth.sessions`)); n != 0 {
		t.Errorf("%d sessions after global logout", n)
	}

	// A password change keeps the current session and ends the others.
	d := v.login("jo@example.com", "secret-pw")
	e := v.login("jo@example.com", "secret-pw")
	v.must(200, "PUT", "/auth/v1/user", v.bearer(at(d)), map[string]any{"password": "new-secret-pw"})
	v.must(200, "GET", "/auth/v1/user", v.bearer(at(d)), nil)
	v.must(403, "GET", "/auth/v1/user", v.bearer(at(e)), nil)
	v.must(400, "POST", "/auth/v1/token?grant_type=password", v.hdr(), map[string]any{"email": "jo@example.com", "password": "secret-pw"})
	v.login("jo@example.com", "new-secret-pw")
	actions := map[string]int{}
	for _, r := range v.query(`select payload->>'action' as a from auth.audit_log_entries`) {
		actions[r["a"].(string)]++
	}
	for _, a := range []string{"user_signedup", "login", "logout", "user_modified", "user_updated_password", "token_refreshed"} {
		if actions[a] == 0 {
			t.Errorf("no %s audit entry: %v", a, actions)
		}
	}
	// Another project refuses this project's access token.
	beta := v.e.CreateProject(t, "beta", nil)
	res, m := v.do("GET", "/auth/v1/user", map[string]string{"apikey": beta.AnonKey, "Host": "localhost",
		"Authorization": "Bearer " + at(d), "X-Supabase-Api-Version": apiVersion}, nil)
	if res.StatusCode != 403 || m["code"] != "bad_jwt" {
		t.Errorf("cross-project token: %d %v", res.StatusCode, m)
	}
}
