package auth_test

import (
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/testutil/apitest"
)

func TestPasswordGrant(t *testing.T) {
	t.Parallel()
	v := newEnv(t, map[string]any{"autoconfirm": true, "password_min_length": 12}, false)
	v.patchAuth(map[string]any{"password_min_length": 6})
	v.signup("fred@example.com", "secret-pw")
	v.patchAuth(map[string]any{"password_min_length": 12})
	res, s := v.do("POST", "/auth/v1/token?grant_type=password", v.hdr(), map[string]any{"email": "FRED@example.com", "password": "secret-pw"})
	if res.StatusCode != 200 {
		t.Fatalf("login: %d %v", res.StatusCode, s)
	}
	wp, ok := s["weak_password"].(map[string]any)
	if !ok || wp["reasons"].([]any)[0] != "length" {
		t.Errorf("weak_password = %v", s["weak_password"])
	}
	v.patchAuth(map[string]any{"password_min_length": 6})
	s = v.login("fred@example.com", "secret-pw")
	if w, ok := s["weak_password"]; !ok || w != nil {
		t.Errorf("weak_password = %v (present: %v), want null", w, ok)
	}
	u := s["user"].(map[string]any)
	if u["last_sign_in_at"] == nil || u["confirmed_at"] == nil {
		t.Errorf("user = %v", u)
	}
	bad := map[string]any{"code": "invalid_credentials", "message": "Invalid login credentials"}
	apitest.Run(t, v.h, []apitest.Scenario{
		{Name: "wrong password", Method: "POST", Path: "/auth/v1/token?grant_type=password", Headers: v.hdr(),
			Body: map[string]any{"email": "fred@example.com", "password": "wrong-pw"}, ExpectedStatus: 400, ExpectedJSON: bad},
		{Name: "unknown email", Method: "POST", Path: "/auth/v1/token?grant_type=password", Headers: v.hdr(),
			Body: map[string]any{"email": "nobody@example.com", "password": "wrong-pw"}, ExpectedStatus: 400, ExpectedJSON: bad},
		{Name: "empty password", Method: "POST", Path: "/auth/v1/token?grant_type=password", Headers: v.hdr(),
			Body: map[string]any{"email": "fred@example.com", "password": ""}, ExpectedStatus: 400, ExpectedJSON: bad},
	})
	if n := len(v.query(`select 1 from auth.audit_log_entries where payload->>'action' = 'login'`)); n != 3 {
		t.Errorf("%d login audit entries, want 3 (signup + 2 logins)", n)
	}
}

// Unknown emails must cost what a wrong password does (a dummy argon2id
// evaluation), so accounts cannot be discovered by timing.
func TestLoginTimingUnknownEmail(t *testing.T) {
	v := newEnv(t, map[string]any{"autoconfirm": true, "rate_limit_token_refresh": -1}, false)
	v.signup("gus@example.com", "secret-pw")
	// Interleaved, so warm-up and load hit both alike.
	var wrongs, unknowns []time.Duration
	for i := range 16 {
		for _, email := range []string{"gus@example.com", "nobody@example.com"} {
			start := time.Now()
			res, _ := v.do("POST", "/auth/v1/token?grant_type=password", v.hdr(), map[string]any{"email": email, "password": "wrong-pw"})
			d := time.Since(start)
			if res.StatusCode != 400 {
				t.Fatalf("status %d", res.StatusCode)
			}
			if i < 2 {
				continue
			}
			if email == "gus@example.com" {
				wrongs = append(wrongs, d)
			} else {
				unknowns = append(unknowns, d)
			}
		}
	}
	median := func(ds []time.Duration) time.Duration {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[len(ds)/2]
	}
	wrong, unknown := median(wrongs), median(unknowns)
	t.Logf("median wrong password %v, unknown email %v", wrong, unknown)
	if r := float64(unknown) / float64(wrong); r < 0.5 || r > 2 {
		t.Errorf("unknown email takes %.2fx a wrong password (%v vs %v)", r, unknown, wrong)
	}
	if wrong < 5*time.Millisecond {
		t.Errorf("a wrong password answered in %v: is the hash evaluated at all?", wrong)
	}
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	v := newEnv(t, map[string]any{"autoconfirm": true, "refresh_reuse_interval": 0}, false)
	s0 := v.signup("hal@example.com", "secret-pw")
	rt0 := s0["refresh_token"].(string)
	res, s1 := v.refresh(rt0)
	if res.StatusCode != 200 || res.Header.Get("Sb-Auth-Refresh-Token-Reuse") != "false" {
		t.Fatalf("refresh: %d %v", res.StatusCode, s1)
	}
	rt1 := s1["refresh_token"].(string)
	if rt1 == rt0 || len(rt1) != len(rt0) {
		t.Fatalf("not rotated: %q → %q", rt0, rt1)
	}
	if v.claims(s1["access_token"].(string))["session_id"] != v.claims(s0["access_token"].(string))["session_id"] {
		t.Error("session_id changed on refresh")
	}
	// Stored hashed, never in clear.
	if rows := v.query(`select 1 from auth.refresh_tokens where token = $1 or token = $2`, rt0, rt1); len(rows) != 0 {
		t.Error("refresh tokens stored in clear")
	}
	// The direct parent of the active token gets the active token back,
	// even with reuse interval 0 (a client that lost the answer).
	res, again := v.refresh(rt0)
	if res.StatusCode != 200 || again["refresh_token"] != rt1 || res.Header.Get("Sb-Auth-Refresh-Token-Reuse") != "true" {
		t.Fatalf("parent reuse: %d %v", res.StatusCode, again)
	}
	_, s2 := v.refresh(rt1)
	rt2 := s2["refresh_token"].(string)
	// Two generations old, outside the interval: the family dies.
	res, m := v.refresh(rt0)
	if res.StatusCode != 400 || m["code"] != "refresh_token_already_used" || m["message"] != "Invalid Refresh Token: Already Used" {
		t.Fatalf("grandparent reuse: %d %v", res.StatusCode, m)
	}
	if _, m := v.refresh(rt2); m["code"] != "refresh_token_already_used" {
		t.Errorf("current token after family revocation: %v", m)
	}
	if _, m := v.refresh("garbage"); m["code"] != "validation_failed" || m["message"] != "Refresh token is not valid" {
		t.Errorf("garbage: %v", m)
	}
	if _, m := v.refresh("AAAAAAAAAAAAAAAAAAAAAAAA"); m["code"] != "refresh_token_not_found" {
		t.Errorf("unknown: %v", m)
	}
	if n := len(v.query(`select 1 from auth.audit_log_entries where payload->>'action' = 'token_revoked'`)); n != 1 {
		t.Errorf("%d token_revoked audit entries", n)
	}
}

func TestRefreshReuseInterval(t *testing.T) {
	t.Parallel()
	v := newEnv(t, map[string]any{"autoconfirm": true}, false) // default interval 10 s
	s0 := v.signup("ida@example.com", "secret-pw")
	rt0 := s0["refresh_token"].(string)
	// 10 concurrent refreshes with one token: all succeed with one child.
	const n = 10
	got := make([]string, n)
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, b := apitest.Do(v.h, "POST", "/auth/v1/token?grant_type=refresh_token", v.hdr(), map[string]any{"refresh_token": rt0})
			codes[i] = res.StatusCode
			got[i] = string(b)
		}()
	}
	wg.Wait()
	children := map[string]bool{}
	for i := range n {
		if codes[i] != 200 {
			t.Fatalf("concurrent refresh %d: %d %s", i, codes[i], got[i])
		}
		var m map[string]any
		mustJSON(t, got[i], &m)
		children[m["refresh_token"].(string)] = true
	}
	if len(children) != 1 {
		t.Fatalf("concurrent refreshes got %d different children", len(children))
	}
	var rt1 string
	for k := range children {
		rt1 = k
	}
	_, s2 := v.refresh(rt1)
	rt2 := s2["refresh_token"].(string)
	// Within the interval even the grandparent answers with the active token.
	res, m := v.refresh(rt0)
	if res.StatusCode != 200 || m["refresh_token"] != rt2 {
		t.Fatalf("grandparent within interval: %d %v", res.StatusCode, m)
	}
	// After the interval it revokes the family.
	v.query(`update auth.refresh_tokens set updated_at = now() - interval '11 seconds'`)
	if _, m := v.refresh(rt0); m["code"] != "refresh_token_already_used" {
		t.Errorf("grandparent after interval: %v", m)
	}
}
