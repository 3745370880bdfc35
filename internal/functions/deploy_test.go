package functions_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// tinyModule is a valid WebAssembly module with one function exported as
// export (but no WASI _start when export is something else).
func tinyModule(export string) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, 1, 4, 1, 0x60, 0, 0) // type section: () -> ()
	b = append(b, 3, 2, 1, 0)          // function section
	exp := append([]byte{1, byte(len(export))}, export...)
	exp = append(exp, 0, 0)
	b = append(b, 7, byte(len(exp)))
	b = append(b, exp...)
	return append(b, 10, 4, 1, 2, 0, 0x0b) // code: empty body
}

func TestDeploy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	base := "/admin/v1/projects/" + f.p.Ref + "/functions"

	out := f.deploy(t, "hello", "echo", nil)
	if out["version"] != 1.0 || out["verify_jwt"] != true || out["size"] != float64(len(wasms["echo"])) || out["name"] != "hello" {
		t.Fatalf("deploy answered %v", out)
	}
	sum, _ := out["sha256"].(string)
	if b, err := os.ReadFile(filepath.Join(f.data, "functions", sum+".wasm")); err != nil || len(b) != len(wasms["echo"]) {
		t.Fatalf("module file: %v (%d bytes)", err, len(b))
	}

	t.Run("refused", func(t *testing.T) {
		cases := []struct {
			name, fn string
			wasm     []byte
			manifest map[string]any
			query    string
			status   int
			want     string
		}{
			{"not wasm", "bad", []byte("console.log('hi')"), nil, "", 400, "not a WebAssembly module"},
			{"broken wasm", "bad", []byte("\x00asm\x01\x00\x00\x00\x01\xff"), nil, "", 400, "invalid_module"},
			{"no _start", "bad", tinyModule("main"), nil, "", 400, "no exported _start"},
			{"empty", "bad", []byte{}, nil, "", 400, "module"},
			{"bad name", "no%20spaces", wasms["echo"], nil, "", 400, "invalid function name"},
			{"SUPABASE_ env", "bad", wasms["echo"], map[string]any{"env": map[string]string{"SUPABASE_URL": "x"}}, "", 400, "env: invalid name"},
			{"huge timeout", "bad", wasms["echo"], map[string]any{"limits": map[string]any{"timeout_ms": 10_000_000}}, "", 400, "timeout_ms"},
			{"unknown manifest key", "bad", wasms["echo"], map[string]any{"verify_jwtt": false}, "", 400, "manifest is not valid"},
			{"bad host", "bad", wasms["echo"], map[string]any{"allow_hosts": []string{"http://x.com/"}}, "", 400, "allow_hosts"},
			{"bad verify_jwt", "bad", wasms["echo"], nil, "?verify_jwt=maybe", 400, "verify_jwt"},
		}
		for _, c := range cases {
			res, body := f.deployRaw(c.fn, c.wasm, c.manifest, c.query)
			if res.StatusCode != c.status || !strings.Contains(string(body), c.want) {
				t.Errorf("%s: %d %s, want %d with %q", c.name, res.StatusCode, body, c.status, c.want)
			}
		}
		res, body := f.admin("GET", base+"/bad", nil)
		must(t, res, body, 404)
		res, body = f.admin("PUT", "/admin/v1/projects/nope/functions/x", wasms["echo"])
		must(t, res, body, 404)
		res, _ = serve(f.h, httpNoAuth("PUT", base+"/x"))
		if res.StatusCode != 401 {
			t.Errorf("deploy without admin token: %d", res.StatusCode)
		}
	})

	t.Run("manifest", func(t *testing.T) {
		out := f.deploy(t, "configured", "env", map[string]any{
			"verify_jwt":    true,
			"env":           map[string]string{"GREETING": "hi"},
			"limits":        map[string]any{"timeout_ms": 5000, "memory_pages": 1024},
			"allow_hosts":   []string{"api.example.com"},
			"inject_db_url": true,
		})
		if out["verify_jwt"] != true || out["inject_db_url"] != true || !strings.Contains(jsonString(out["limits"]), `"timeout_ms":5000`) ||
			jsonString(out["env_names"]) != `["GREETING"]` || jsonString(out["allow_hosts"]) != `["api.example.com"]` {
			t.Fatalf("deploy answered %v", out)
		}
		// The query overrides the manifest.
		res, body := f.deployRaw("configured", wasms["env"], map[string]any{"verify_jwt": true}, "?verify_jwt=false")
		must(t, res, body, 201)
		if m := decode(t, body); m["verify_jwt"] != false || m["version"] != 2.0 {
			t.Fatalf("redeploy answered %s", body)
		}
		// Env values are stored encrypted, never in clear.
		var enc string
		var manifest []byte
		conn, err := pgx.Connect(context.Background(), f.env.Config.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		if err := conn.QueryRow(context.Background(), "select env_enc, manifest::text::bytea from control.function_versions where name = 'configured' and version = 1").Scan(&enc, &manifest); err != nil {
			t.Fatal(err)
		}
		if enc == "" || strings.Contains(enc, "hi") || strings.Contains(string(manifest), "GREETING") {
			t.Errorf("env stored as %q / manifest %s", enc, manifest)
		}
	})

	t.Run("list", func(t *testing.T) {
		res, body := f.admin("GET", base, nil)
		must(t, res, body, 200)
		contains(t, body, `"name":"configured"`, `"name":"hello"`, `"version":2`, `"created_at"`, `"limits"`, `"size"`)
		if strings.Contains(string(body), `"hi"`) {
			t.Errorf("list shows env values: %s", body)
		}
	})
}

func TestVersionsRollbackDelete(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	base := "/admin/v1/projects/" + f.p.Ref + "/functions/fn"
	v1 := f.deploy(t, "fn", "echo", nil)
	v2 := f.deploy(t, "fn", "mirror", nil)
	if v2["version"] != 2.0 {
		t.Fatalf("second deploy: %v", v2)
	}
	res, body := f.call("POST", "fn", map[string]string{"Content-Type": "text/plain"}, []byte("raw"))
	must(t, res, body, 200)
	if string(body) != "raw" {
		t.Fatalf("v2 (mirror) answered %s", body)
	}

	res, body = f.admin("GET", base+"/versions", nil)
	must(t, res, body, 200)
	contains(t, body, `"version":2`, `"version":1`, v1["sha256"].(string))
	if i, j := strings.Index(string(body), `"version":2`), strings.Index(string(body), `"version":1`); i > j {
		t.Errorf("versions not newest first: %s", body)
	}
	if !strings.Contains(string(body), `"version":2,"sha256":"`+v2["sha256"].(string)) || strings.Count(string(body), `"active":true`) != 1 {
		t.Errorf("versions: %s", body)
	}

	res, body = f.admin("POST", base+"/rollback", map[string]int{"version": 1})
	must(t, res, body, 200)
	contains(t, body, `"version":1`)
	res, body = f.call("POST", "fn", map[string]string{"Content-Type": "text/plain"}, []byte("raw"))
	must(t, res, body, 200)
	contains(t, body, `"body":"raw"`, `"path":"/fn"`) // echo again

	for _, c := range []struct {
		body   any
		status int
	}{{map[string]int{"version": 9}, 404}, {map[string]string{"version": "x"}, 400}, {nil, 400}} {
		res, body = f.admin("POST", base+"/rollback", c.body)
		if res.StatusCode != c.status {
			t.Errorf("rollback %v: %d %s", c.body, res.StatusCode, body)
		}
	}

	// A second function shares echo's module.
	f.deploy(t, "other", "echo", nil)

	res, body = f.admin("DELETE", base, nil)
	must(t, res, body, 204)
	res, body = f.call("POST", "fn", nil, nil)
	must(t, res, body, 404)
	if res.Header.Get("sb-error-code") != "NOT_FOUND" {
		t.Errorf("deleted function: headers %v", res.Header)
	}
	res, body = f.admin("DELETE", base, nil)
	must(t, res, body, 404)
	res, body = f.admin("GET", base+"/versions", nil)
	must(t, res, body, 404)

	// mirror's module is unused now: collected; echo's is still used by "other".
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.env.Config.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	blobs := func() (n int) {
		if err := conn.QueryRow(ctx, "select count(*) from control.function_blobs").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := blobs(); n != 1 {
		t.Errorf("%d blobs after deleting fn, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(f.data, "functions", v2["sha256"].(string)+".wasm")); !os.IsNotExist(err) {
		t.Errorf("mirror's module file: %v", err)
	}
	res, body = f.call("GET", "other", nil, nil)
	must(t, res, body, 200)

	// Hard-deleting the project deletes its functions and unused modules.
	res, body = f.admin("DELETE", "/admin/v1/projects/"+f.p.Ref+"?hard=true", nil)
	must(t, res, body, 204)
	var fns int
	if err := conn.QueryRow(ctx, "select count(*) from control.functions").Scan(&fns); err != nil {
		t.Fatal(err)
	}
	if n := blobs(); n != 0 || fns != 0 {
		t.Errorf("after deleting the project: %d functions, %d blobs", fns, n)
	}
	if _, err := os.Stat(filepath.Join(f.data, "functions", v1["sha256"].(string)+".wasm")); !os.IsNotExist(err) {
		t.Errorf("echo's module file: %v", err)
	}
}

func httpNoAuth(method, path string) *http.Request {
	req, _ := http.NewRequest(method, path, strings.NewReader("x"))
	return req
}
