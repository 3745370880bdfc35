package functions_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/token"
)

func TestInvokeEcho(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.deploy(t, "echo", "echo", nil)

	for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		res, body := f.call(method, "echo/sub/path?x=1&y=%20two", map[string]string{"Content-Type": "text/plain", "X-Custom": "v1", "x-region": "eu-west-1"}, []byte("hello "+method))
		must(t, res, body, 200)
		m := decode(t, body)
		h, _ := m["headers"].(map[string]any)
		if m["method"] != method || m["path"] != "/echo/sub/path" || m["query"] != "x=1&y=%20two" || m["body"] != "hello "+method ||
			m["content_type"] != "text/plain" || h["x-custom"] != "v1" || h["x-region"] != "eu-west-1" || h["x-project-ref"] != f.p.Ref ||
			h["authorization"] != "Bearer "+f.p.AnonKey || h["host"] == nil {
			t.Errorf("%s: function saw %s", method, body)
		}
		if res.Header.Get("Content-Type") != "application/json" || res.Header.Get("X-Function") != "echo" || res.Header.Get("x-relay-error") != "" {
			t.Errorf("%s: response headers %v", method, res.Header)
		}
	}

	// The function sees /<name> with the query, nothing of /functions/v1.
	res, body := f.call("GET", "echo", nil, nil)
	must(t, res, body, 200)
	if m := decode(t, body); m["path"] != "/echo" || m["query"] != "" || m["body"] != "" || m["content_length"] != "" {
		t.Errorf("bare call: %s", body)
	}

	// Binary bodies pass untouched both ways.
	f.deploy(t, "mirror", "mirror", nil)
	bin := make([]byte, 256)
	for i := range bin {
		bin[i] = byte(i)
	}
	res, body = f.call("POST", "mirror?status=201", map[string]string{"Content-Type": "application/octet-stream", "X-Test": "t1"}, bin)
	must(t, res, body, 201)
	if string(body) != string(bin) || res.Header.Get("Content-Type") != "application/octet-stream" || res.Header.Get("X-Test-Echo") != "t1" || res.Header.Get("X-Method") != "POST" {
		t.Errorf("mirror: %v %q", res.Header, body)
	}
	// A status the function chooses is the function's, not a gateway error.
	res, body = f.call("POST", "mirror?status=418", map[string]string{"Content-Type": "application/json"}, []byte(`{"teapot":true}`))
	must(t, res, body, 418)
	if string(body) != `{"teapot":true}` || res.Header.Get("sb-error-code") != "" {
		t.Errorf("418: %v %s", res.Header, body)
	}

	t.Run("gateway", func(t *testing.T) {
		// Preflights are answered without the function (and without credentials).
		req, _ := http.NewRequest("OPTIONS", "/functions/v1/echo", nil)
		req.Header.Set("Origin", "https://app.example.com")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, x-client-info, apikey, content-type")
		res, body := serve(f.h, req)
		must(t, res, body, 204)
		if res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || !strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "apikey") ||
			!strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), "POST") {
			t.Errorf("preflight headers %v", res.Header)
		}
		// Actual responses expose the error headers functions-js reads.
		res, body = f.call("POST", "echo", map[string]string{"Origin": "https://app.example.com"}, nil)
		must(t, res, body, 200)
		if !strings.Contains(res.Header.Get("Access-Control-Expose-Headers"), "sb-error-code") || res.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Errorf("CORS headers %v", res.Header)
		}
		// A non-preflight OPTIONS reaches the function even with verify_jwt.
		res, body = f.call("OPTIONS", "echo", map[string]string{"Authorization": ""}, nil)
		must(t, res, body, 200)
		contains(t, body, `"method":"OPTIONS"`)

		cases := []struct {
			method, path, project string
			status                int
			code                  string
		}{
			{"POST", "nope", f.p.Ref, 404, "NOT_FOUND"},
			{"POST", "", f.p.Ref, 404, "NOT_FOUND"},
			{"POST", "bad%20name", f.p.Ref, 404, "NOT_FOUND"},
			{"HEAD", "echo", f.p.Ref, 405, "METHOD_NOT_ALLOWED"},
			{"POST", "echo", "unknown-project", 404, "NOT_FOUND"},
		}
		for _, c := range cases {
			res, body := f.call(c.method, c.path, map[string]string{"x-project-ref": c.project}, nil)
			if res.StatusCode != c.status || res.Header.Get("sb-error-code") != c.code || res.Header.Get("x-relay-error") != "" {
				t.Errorf("%s %s (%s): %d %v %s", c.method, c.path, c.project, res.StatusCode, res.Header, body)
			}
			if c.method != "HEAD" {
				if m := decode(t, body); m["code"] != c.code || m["message"] == "" {
					t.Errorf("%s %s: body %s", c.method, c.path, body)
				}
			}
		}
	})
}

func TestEnvAndSecrets(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{"MADBASE_PUBLIC_URL": "https://{ref}.api.example.com"})
	res, body := f.admin("POST", "/admin/v1/projects/"+f.p.Ref+"/secrets", []map[string]string{
		{"name": "STRIPE_KEY", "value": "sk_test_1"}, {"name": "SHARED", "value": "from-secret"}, {"name": "JWT_CLAIMS", "value": `{"role":"service_role"}`},
	})
	must(t, res, body, 200)
	f.deploy(t, "plain", "env", map[string]any{"verify_jwt": false})
	f.deploy(t, "db", "env", map[string]any{"inject_db_url": true, "env": map[string]string{"SHARED": "from-manifest", "MODE": "test"}})

	envOf := func(name string, headers map[string]string) map[string]string {
		t.Helper()
		res, body := f.call("GET", name, headers, nil)
		must(t, res, body, 200)
		var env map[string]string
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatal(err)
		}
		return env
	}
	env := envOf("plain", map[string]string{"Authorization": ""})
	want := map[string]string{
		"SUPABASE_URL":              "https://alpha.api.example.com",
		"SUPABASE_ANON_KEY":         f.p.AnonKey,
		"SUPABASE_SERVICE_ROLE_KEY": f.p.ServiceRoleKey,
		"SUPABASE_PUBLISHABLE_KEYS": `{"default":"` + f.p.PublishableKey + `"}`,
		"SUPABASE_SECRET_KEYS":      `{"default":"` + f.p.SecretKey + `"}`,
		"STRIPE_KEY":                "sk_test_1",
		"SHARED":                    "from-secret",
		"REQUEST_METHOD":            "GET",
		"PATH_INFO":                 "/plain",
		"__fs_error":                "true", // no filesystem
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("plain: %s = %q, want %q", k, env[k], v)
		}
	}
	for _, k := range []string{"SUPABASE_DB_URL", "JWT_CLAIMS", "HTTP_AUTHORIZATION", "MADBASE_DATABASE_URL", "HOME", "PATH"} {
		if v, ok := env[k]; ok {
			t.Errorf("plain: %s is set (%q)", k, v)
		}
	}

	tok := f.sign(t, token.Claims{"sub": "user-1", "email": "u@example.com"})
	env = envOf("db", map[string]string{"Authorization": "Bearer " + tok})
	if env["SUPABASE_DB_URL"] != f.p.DBURL || env["SHARED"] != "from-manifest" || env["MODE"] != "test" || env["HTTP_AUTHORIZATION"] != "Bearer "+tok {
		t.Errorf("db: %v", env)
	}
	var claims map[string]any
	if err := json.Unmarshal([]byte(env["JWT_CLAIMS"]), &claims); err != nil || claims["sub"] != "user-1" || claims["role"] != "authenticated" || claims["email"] != "u@example.com" {
		t.Errorf("JWT_CLAIMS %q (%v)", env["JWT_CLAIMS"], err)
	}

	// Secret changes apply at once; so does the api_url setting.
	res, body = f.admin("POST", "/admin/v1/projects/"+f.p.Ref+"/secrets", []map[string]string{{"name": "STRIPE_KEY", "value": "sk_test_2"}})
	must(t, res, body, 200)
	res, body = f.admin("PATCH", "/admin/v1/projects/"+f.p.Ref, map[string]any{"api_url": "https://api.custom.dev/"})
	must(t, res, body, 200)
	env = envOf("plain", nil)
	if env["STRIPE_KEY"] != "sk_test_2" || env["SUPABASE_URL"] != "https://api.custom.dev" {
		t.Errorf("after changes: STRIPE_KEY=%q SUPABASE_URL=%q", env["STRIPE_KEY"], env["SUPABASE_URL"])
	}
}

func TestVerifyJWT(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	other := f.env.CreateProject(t, "beta", nil)
	f.deploy(t, "guarded", "env", nil)
	f.deploy(t, "open", "echo", nil)
	res, body := f.deployRaw("open", wasms["echo"], nil, "?verify_jwt=false")
	must(t, res, body, 201)

	expired := f.sign(t, token.Claims{"exp": float64(time.Now().Add(-time.Hour).Unix())})
	noExp, _ := token.Sign([]byte(f.p.JWTSecret), token.Claims{"role": "anon"})
	wrongKey, _ := token.Sign([]byte("another-secret-another-secret-xx"), token.Claims{"role": "anon", "exp": float64(time.Now().Add(time.Hour).Unix())})
	// alg none and HS512 tokens, hand-made.
	algNone := "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJyb2xlIjoic2VydmljZV9yb2xlIn0."
	hs512 := "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoiYW5vbiJ9.c2ln"
	user := f.sign(t, token.Claims{"sub": "u1"})

	type tc struct {
		name    string
		headers map[string]string
		status  int
		code    string
		role    string
	}
	cases := []tc{
		{"anon JWT", map[string]string{}, 200, "", "anon"},
		{"user JWT", map[string]string{"Authorization": "Bearer " + user}, 200, "", "authenticated"},
		{"service JWT", map[string]string{"Authorization": "Bearer " + f.p.ServiceRoleKey}, 200, "", "service_role"},
		{"secret key as bearer", map[string]string{"Authorization": "Bearer " + f.p.SecretKey}, 200, "", "service_role"},
		{"publishable apikey only", map[string]string{"Authorization": "", "apikey": f.p.PublishableKey}, 200, "", "anon"},
		{"anon apikey only", map[string]string{"Authorization": "", "apikey": f.p.AnonKey}, 200, "", "anon"},
		{"nothing", map[string]string{"Authorization": ""}, 401, "UNAUTHORIZED_NO_AUTH_HEADER", ""},
		{"not bearer", map[string]string{"Authorization": "Basic dXNlcjpwdw=="}, 401, "UNAUTHORIZED_INVALID_JWT_FORMAT", ""},
		{"garbage", map[string]string{"Authorization": "Bearer not-a-jwt"}, 401, "UNAUTHORIZED_INVALID_JWT_FORMAT", ""},
		{"bad header", map[string]string{"Authorization": "Bearer !!!.e30.sig"}, 401, "UNAUTHORIZED_INVALID_JWT_FORMAT", ""},
		{"alg none", map[string]string{"Authorization": "Bearer " + algNone}, 401, "UNAUTHORIZED_UNSUPPORTED_TOKEN_ALGORITHM", ""},
		{"HS512", map[string]string{"Authorization": "Bearer " + hs512}, 401, "UNAUTHORIZED_UNSUPPORTED_TOKEN_ALGORITHM", ""},
		{"expired", map[string]string{"Authorization": "Bearer " + expired}, 401, "UNAUTHORIZED_LEGACY_JWT", ""},
		{"no exp", map[string]string{"Authorization": "Bearer " + noExp}, 401, "UNAUTHORIZED_LEGACY_JWT", ""},
		{"wrong secret", map[string]string{"Authorization": "Bearer " + wrongKey}, 401, "UNAUTHORIZED_LEGACY_JWT", ""},
		{"other project's key", map[string]string{"Authorization": "Bearer " + other.AnonKey}, 401, "UNAUTHORIZED_LEGACY_JWT", ""},
		{"other project's sb_ key", map[string]string{"Authorization": "", "apikey": other.PublishableKey}, 401, "UNAUTHORIZED_LEGACY_JWT", ""},
		{"bad sb_ key", map[string]string{"Authorization": "Bearer sb_secret_nope"}, 401, "UNAUTHORIZED_LEGACY_JWT", ""},
		// A bad bearer is not rescued by a good apikey.
		{"bad bearer, good apikey", map[string]string{"Authorization": "Bearer " + expired, "apikey": f.p.AnonKey}, 401, "UNAUTHORIZED_LEGACY_JWT", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, body := f.call("POST", "guarded", c.headers, nil)
			if res.StatusCode != c.status || res.Header.Get("sb-error-code") != c.code || res.Header.Get("x-relay-error") != "" {
				t.Fatalf("%d %v %s", res.StatusCode, res.Header, body)
			}
			if c.status == 401 {
				m := decode(t, body)
				if m["code"] != 401.0 || (m["message"] != "Invalid JWT" && m["message"] != "Missing authorization header") {
					t.Errorf("401 body %s", body)
				}
				return
			}
			// The function ran and got the caller's claims.
			var env map[string]string
			if err := json.Unmarshal(body, &env); err != nil {
				t.Fatal(err)
			}
			var claims map[string]any
			if err := json.Unmarshal([]byte(env["JWT_CLAIMS"]), &claims); err != nil || claims["role"] != c.role || env["PATH_INFO"] != "/guarded" {
				t.Errorf("function saw JWT_CLAIMS %q, PATH_INFO %q; want role %s", env["JWT_CLAIMS"], env["PATH_INFO"], c.role)
			}
		})
		// verify_jwt=false lets every one of them through.
		res, body := f.call("POST", "open", c.headers, nil)
		if res.StatusCode != 200 {
			t.Errorf("open, %s: %d %s", c.name, res.StatusCode, body)
		}
	}
}

// TestOutbound: a function reaches only the hosts its manifest allows.
func TestOutbound(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("upstream ok"))
	}))
	defer upstream.Close()
	host := strings.TrimPrefix(upstream.URL, "http://")
	f.deploy(t, "allowed", "outbound", map[string]any{"allow_hosts": []string{host}})
	f.deploy(t, "denied", "outbound", map[string]any{"allow_hosts": []string{"api.example.com"}})
	f.deploy(t, "none", "outbound", nil)
	q := url.QueryEscape(upstream.URL + "/x")
	res, body := f.call("GET", "allowed?"+q, nil, nil)
	must(t, res, body, 200)
	if !strings.HasPrefix(string(body), "code=0\n") || !strings.HasSuffix(string(body), "upstream ok") {
		t.Errorf("allowed: %s", body)
	}
	for _, name := range []string{"denied", "none"} {
		res, body := f.call("GET", name+"?"+q, nil, nil)
		must(t, res, body, 200)
		if !strings.HasPrefix(string(body), "code=1\n") { // host not allowed
			t.Errorf("%s: %s", name, body)
		}
	}
}
