package auth_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/madbase/madbase/internal/testutil/apitest"
)

func TestAdminUsers(t *testing.T) {
	t.Parallel()
	v := newEnv(t, map[string]any{"autoconfirm": true}, false)
	created := v.must(200, "POST", "/auth/v1/admin/users", v.service(),
		map[string]any{"email": "kim@example.com", "password": "secret-pw", "email_confirm": true})
	if created["access_token"] != nil || created["email"] != "kim@example.com" || created["email_confirmed_at"] == nil ||
		len(created["identities"].([]any)) != 1 || str(created, "app_metadata", "provider") != "email" ||
		created["user_metadata"].(map[string]any)["email_verified"] != true {
		t.Fatalf("created = %v", created)
	}
	id := created["id"].(string)
	v.login("kim@example.com", "secret-pw")
	for i := range 4 {
		v.must(200, "POST", "/auth/v1/admin/users", v.service(), map[string]any{"email": fmt.Sprintf("u%d@example.com", i)})
	}
	apitest.Run(t, v.h, []apitest.Scenario{
		{Name: "duplicate", Method: "POST", Path: "/auth/v1/admin/users", Headers: v.service(),
			Body: map[string]any{"email": "kim@example.com"}, ExpectedStatus: 422,
			ExpectedJSON: map[string]any{"code": "email_exists", "message": "A user with this email address has already been registered"}},
		{Name: "anon key is not admin", Method: "GET", Path: "/auth/v1/admin/users", Headers: v.hdr(), ExpectedStatus: 403,
			ExpectedJSON: map[string]any{"code": "not_admin", "message": "User not allowed"}},
		{Name: "user token is not admin", Method: "GET", Path: "/auth/v1/admin/users/" + id,
			Headers: v.bearer(v.login("kim@example.com", "secret-pw")["access_token"].(string)), ExpectedStatus: 403,
			ExpectedJSON: map[string]any{"code": "not_admin"}},
		{Name: "empty paging params", Method: "GET", Path: "/auth/v1/admin/users?page=&per_page=", Headers: v.service(),
			ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"X-Total-Count": "5",
				"Link": `</auth/v1/admin/users?page=1&per_page=>; rel="last"`},
			Check: func(t *testing.T, _ *http.Response, body []byte) {
				var m map[string]any
				mustJSON(t, string(body), &m)
				users := m["users"].([]any)
				if m["aud"] != "authenticated" || len(users) != 5 || users[4].(map[string]any)["email"] != "kim@example.com" {
					t.Errorf("list = %v", m)
				}
			}},
		{Name: "paged", Method: "GET", Path: "/auth/v1/admin/users?page=1&per_page=2", Headers: v.service(), ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"X-Total-Count": "5",
				"Link": `</auth/v1/admin/users?page=2&per_page=2>; rel="next", </auth/v1/admin/users?page=3&per_page=2>; rel="last"`}},
		{Name: "last page", Method: "GET", Path: "/auth/v1/admin/users?per_page=2&page=3", Headers: v.service(), ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"Link": `</auth/v1/admin/users?page=3&per_page=2>; rel="last"`},
			Check: func(t *testing.T, _ *http.Response, body []byte) {
				if strings.Count(string(body), `"id"`) != 1 {
					t.Errorf("page 3 of 5 by 2: %s", body)
				}
			}},
		{Name: "bad page", Method: "GET", Path: "/auth/v1/admin/users?page=x", Headers: v.service(), ExpectedStatus: 400},
		{Name: "get", Method: "GET", Path: "/auth/v1/admin/users/" + id, Headers: v.service(), ExpectedStatus: 200,
			ExpectedJSON: map[string]any{"id": id, "email": "kim@example.com"}},
		{Name: "get bad uuid", Method: "GET", Path: "/auth/v1/admin/users/nope", Headers: v.service(), ExpectedStatus: 404,
			ExpectedJSON: map[string]any{"code": "validation_failed"}},
		{Name: "get unknown", Method: "GET", Path: "/auth/v1/admin/users/00000000-0000-4000-8000-000000000000", Headers: v.service(),
			ExpectedStatus: 404, ExpectedJSON: map[string]any{"code": "user_not_found", "message": "User not found"}},
		{Name: "update", Method: "PUT", Path: "/auth/v1/admin/users/" + id, Headers: v.service(),
			Body:           map[string]any{"user_metadata": map[string]any{"name": "Kim"}, "app_metadata": map[string]any{"tier": "gold"}},
			ExpectedStatus: 200, Check: func(t *testing.T, _ *http.Response, body []byte) {
				var m map[string]any
				mustJSON(t, string(body), &m)
				if str(m, "user_metadata", "name") != "Kim" || str(m, "app_metadata", "tier") != "gold" || str(m, "app_metadata", "provider") != "email" {
					t.Errorf("updated = %v", m)
				}
			}},
		{Name: "ban", Method: "PUT", Path: "/auth/v1/admin/users/" + id, Headers: v.service(),
			Body: map[string]any{"ban_duration": "24h"}, ExpectedStatus: 200, ExpectedContent: []string{`"banned_until"`}},
		{Name: "banned login", Method: "POST", Path: "/auth/v1/token?grant_type=password", Headers: v.hdr(),
			Body: map[string]any{"email": "kim@example.com", "password": "secret-pw"}, ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "user_banned"}},
		{Name: "unban", Method: "PUT", Path: "/auth/v1/admin/users/" + id, Headers: v.service(),
			Body: map[string]any{"ban_duration": "none"}, ExpectedStatus: 200, NotExpectedContent: []string{`"banned_until"`}},
		{Name: "bad ban", Method: "PUT", Path: "/auth/v1/admin/users/" + id, Headers: v.service(),
			Body: map[string]any{"ban_duration": "forever"}, ExpectedStatus: 400},
	})
	v.login("kim@example.com", "secret-pw")
	// The secret key works as the admin bearer too (auth-js sends it as is).
	v.must(200, "GET", "/auth/v1/admin/users", map[string]string{"apikey": v.p.SecretKey, "Authorization": "Bearer " + v.p.SecretKey,
		"Host": "localhost"}, nil)

	// Soft delete: the row stays, the account cannot sign in.
	v.must(200, "DELETE", "/auth/v1/admin/users/"+id, v.service(), map[string]any{"should_soft_delete": true})
	gone := v.must(200, "GET", "/auth/v1/admin/users/"+id, v.service(), nil)
	if gone["deleted_at"] == nil || gone["email"] == "kim@example.com" {
		t.Errorf("soft-deleted = %v", gone)
	}
	v.must(400, "POST", "/auth/v1/token?grant_type=password", v.hdr(), map[string]any{"email": "kim@example.com", "password": "secret-pw"})
	// Hard delete.
	other := v.must(200, "POST", "/auth/v1/admin/users", v.service(), map[string]any{"email": "lee@example.com", "password": "secret-pw"})
	v.must(200, "DELETE", "/auth/v1/admin/users/"+other["id"].(string), v.service(), nil)
	v.must(404, "GET", "/auth/v1/admin/users/"+other["id"].(string), v.service(), nil)
}

// Users imported from Supabase keep their bcrypt hashes; a login verifies
// one and replaces it with argon2id.
func TestBcryptUpgrade(t *testing.T) {
	t.Parallel()
	v := newEnv(t, nil, false)
	h, err := bcrypt.GenerateFromPassword([]byte("imported-pw"), 4)
	if err != nil {
		t.Fatal(err)
	}
	v.must(200, "POST", "/auth/v1/admin/users", v.service(),
		map[string]any{"email": "mo@example.com", "password_hash": string(h), "email_confirm": true})
	v.must(400, "POST", "/auth/v1/token?grant_type=password", v.hdr(), map[string]any{"email": "mo@example.com", "password": "wrong-pw"})
	if got := v.query(`select encrypted_password from auth.users`)[0]["encrypted_password"].(string); got != string(h) {
		t.Fatal("hash changed on a failed login")
	}
	v.login("mo@example.com", "imported-pw")
	if got := v.query(`select encrypted_password from auth.users`)[0]["encrypted_password"].(string); !strings.HasPrefix(got, "$argon2id$") {
		t.Errorf("hash after login = %q, want argon2id", got)
	}
	v.login("mo@example.com", "imported-pw")
}
