package functions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/functions/wasmtest"
	"github.com/madbase/madbase/internal/testutil/apitest"
)

func (f *fixture) logs(t *testing.T, name string) []map[string]any {
	t.Helper()
	res, body := f.admin("GET", "/admin/v1/projects/"+f.p.Ref+"/functions/"+name+"/logs", nil)
	must(t, res, body, 200)
	var out []map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLimitsAndCrashes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	open := map[string]any{"verify_jwt": false}
	f.deploy(t, "echo", "echo", nil)
	f.deploy(t, "loop", "loop", map[string]any{"limits": map[string]any{"timeout_ms": 1500}})
	f.deploy(t, "memhog", "memhog", map[string]any{"limits": map[string]any{"memory_pages": 512}}) // 32 MiB
	f.deploy(t, "flood", "flood", map[string]any{"limits": map[string]any{"max_response_body": 64 << 10}})
	f.deploy(t, "small", "echo", map[string]any{"limits": map[string]any{"max_request_body": 1024}})
	f.deploy(t, "trap", "trap", open)
	f.deploy(t, "badcgi", "badcgi", open)

	gateway := func(t *testing.T, res *http.Response, body []byte, status int, code string) {
		t.Helper()
		if res.StatusCode != status || res.Header.Get("sb-error-code") != code || res.Header.Get("x-relay-error") != "" {
			t.Fatalf("%d %v %s; want %d %s", res.StatusCode, res.Header, body, status, code)
		}
		if m := decode(t, body); m["code"] != code {
			t.Fatalf("body %s", body)
		}
	}

	t.Run("infinite loop is interrupted, others unaffected", func(t *testing.T) {
		var wg sync.WaitGroup
		results := make(chan string, 2)
		for _, q := range []string{"spin", "sleep"} {
			wg.Go(func() {
				start := time.Now()
				res, body := f.call("GET", "loop?"+q, nil, nil)
				results <- fmt.Sprintf("%s %d %s %s %s", q, res.StatusCode, res.Header.Get("sb-error-code"), time.Since(start).Round(time.Millisecond), body)
			})
		}
		// While both run to their limit, echo answers (well before it).
		time.Sleep(50 * time.Millisecond)
		start := time.Now()
		for range 5 {
			res, body := f.call("POST", "echo", nil, []byte("x"))
			must(t, res, body, 200)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("5 echo calls took %s while the loops ran", d)
		}
		wg.Wait()
		close(results)
		for r := range results {
			if !strings.Contains(r, " 504 IDLE_TIMEOUT ") {
				t.Errorf("loop: %s", r)
			}
			t.Log(r)
		}
	})

	t.Run("memory hog refused", func(t *testing.T) {
		res, body := f.call("GET", "memhog", nil, nil)
		gateway(t, res, body, 546, "WORKER_LIMIT")
		res, body = f.call("GET", "memhog?mb=4", nil, nil) // within the limit
		must(t, res, body, 200)
		contains(t, body, "allocated 4 MiB")
	})

	t.Run("stdout flood bounded", func(t *testing.T) {
		res, body := f.call("GET", "flood", nil, nil)
		gateway(t, res, body, 546, "WORKER_LIMIT")
		res, body = f.call("GET", "flood?n=60000", nil, nil)
		must(t, res, body, 200)
		if len(body) != 60000 {
			t.Errorf("flood n=60000 gave %d bytes", len(body))
		}
	})

	t.Run("request body limit", func(t *testing.T) {
		res, body := f.call("POST", "small", nil, bytes.Repeat([]byte("a"), 2000))
		gateway(t, res, body, 413, "REQUEST_TOO_LARGE")
		// Without Content-Length (chunked), the runtime still stops at the limit.
		req := httptest.NewRequest("POST", "/functions/v1/small", struct{ *bytes.Reader }{bytes.NewReader(bytes.Repeat([]byte("a"), 2000))})
		req.ContentLength = -1
		req.Header.Set("x-project-ref", f.p.Ref)
		req.Header.Set("Authorization", "Bearer "+f.p.AnonKey)
		res, body = serve(f.h, req)
		gateway(t, res, body, 413, "REQUEST_TOO_LARGE")
		res, body = f.call("POST", "small", nil, bytes.Repeat([]byte("a"), 1000))
		must(t, res, body, 200)
	})

	t.Run("project defaults", func(t *testing.T) {
		g := &fixture{env: f.env, h: f.h, data: f.data,
			p: f.env.CreateProject(t, "gamma", map[string]any{"functions": map[string]any{"timeout_ms": 300, "memory_pages": 512}})}
		g.deploy(t, "loop", "loop", nil)
		g.deploy(t, "memhog", "memhog", map[string]any{"limits": map[string]any{"timeout_ms": 10000}}) // the project's memory limit
		g.deploy(t, "roomy", "memhog", map[string]any{"limits": map[string]any{"memory_pages": 2048, "timeout_ms": 10000}})
		start := time.Now()
		res, body := g.call("GET", "loop", nil, nil)
		gateway(t, res, body, 504, "IDLE_TIMEOUT")
		if d := time.Since(start); d > 1200*time.Millisecond {
			t.Errorf("project timeout of 300 ms took %s", d)
		}
		res, body = g.call("GET", "memhog?mb=40", nil, nil) // over the project's 32 MiB
		gateway(t, res, body, 546, "WORKER_LIMIT")
		res, body = g.call("GET", "roomy?mb=40", nil, nil) // the function's own 128 MiB
		must(t, res, body, 200)
	})

	t.Run("crashes are 500 and logged", func(t *testing.T) {
		for _, q := range []string{"panic", "exit", "nil"} {
			res, body := f.call("GET", "trap?"+q, nil, nil)
			gateway(t, res, body, 500, "WORKER_ERROR")
		}
		for _, q := range []string{"noheaders", "badline", "badstatus", "empty", ""} {
			res, body := f.call("GET", "badcgi?"+q, nil, nil)
			gateway(t, res, body, 500, "WORKER_ERROR")
		}
		logs := f.logs(t, "trap")
		if len(logs) != 3 {
			t.Fatalf("trap logs: %v", logs)
		}
		first := logs[0]
		lines, _ := json.Marshal(first["lines"])
		if first["status"] != 500.0 || !strings.Contains(fmt.Sprint(first["error"]), "crashed") || !strings.Contains(string(lines), "about to crash") ||
			!strings.Contains(string(lines), "panic: boom") || first["version"] != 1.0 || first["path"] != "/trap" || first["duration_ms"] == 0.0 || first["memory_bytes"] == 0.0 {
			t.Errorf("trap log entry %v", first)
		}
		if logs[1]["error"] == nil || !strings.Contains(fmt.Sprint(logs[1]["error"]), "exit code 3") {
			t.Errorf("second entry %v", logs[1])
		}
		// The slog line carries the tail of stderr.
		if !strings.Contains(f.env.Logs(), "panic: boom") {
			t.Errorf("server log lacks the panic")
		}
		// And the process is fine.
		res, body := f.call("POST", "echo", nil, []byte("still here"))
		must(t, res, body, 200)
		contains(t, body, "still here")
	})

	t.Run("logs", func(t *testing.T) {
		logs := f.logs(t, "echo")
		if len(logs) == 0 {
			t.Fatal("no echo logs")
		}
		last := logs[len(logs)-1]
		lines, _ := json.Marshal(last["lines"])
		if last["status"] != 200.0 || last["method"] != "POST" || !strings.Contains(string(lines), "echo: handled POST /echo") || last["request_id"] == "" {
			t.Errorf("echo log %v", last)
		}
		res, body := f.admin("GET", "/admin/v1/projects/"+f.p.Ref+"/functions/echo/logs?limit=1", nil)
		must(t, res, body, 200)
		var one []any
		_ = json.Unmarshal(body, &one)
		if len(one) != 1 {
			t.Errorf("limit=1 gave %d", len(one))
		}
		// The ring is bounded (100 per function).
		for range 110 {
			f.call("GET", "small", nil, nil)
		}
		if n := len(f.logs(t, "small")); n != 100 {
			t.Errorf("small has %d log entries, want 100", n)
		}
	})
}

// TestConcurrentInvocations sends 200 invocations at once through the whole
// server and checks each got its own answer and that goroutines return to
// their baseline. Not parallel: it counts process-wide goroutines.
func TestConcurrentInvocations(t *testing.T) {
	f := newFixture(t, nil)
	f.deploy(t, "echo", "echo", nil)
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	call := func(i int) error {
		body := fmt.Sprintf("request-%d-%s", i, strings.Repeat("x", i))
		req, _ := http.NewRequest("POST", fmt.Sprintf("%s/functions/v1/echo/%d", srv.URL, i), strings.NewReader(body))
		req.Header.Set("x-project-ref", f.p.Ref)
		req.Header.Set("Authorization", "Bearer "+f.p.AnonKey)
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(res.Body).Decode(&m); err != nil || res.StatusCode != 200 || m["body"] != body || m["path"] != fmt.Sprintf("/echo/%d", i) {
			return fmt.Errorf("invocation %d: %d %v %v", i, res.StatusCode, err, m)
		}
		return nil
	}
	if err := call(0); err != nil { // warm: lazily started goroutines count in the baseline
		t.Fatal(err)
	}
	client.CloseIdleConnections()
	settle := func() int {
		goruntime.GC()
		return goruntime.NumGoroutine()
	}
	time.Sleep(50 * time.Millisecond)
	base := settle()

	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	for i := range n {
		wg.Go(func() { errs <- call(i) })
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	t.Logf("%d concurrent invocations in %s (%.0f/s)", n, took.Round(time.Millisecond), n/took.Seconds())
	client.CloseIdleConnections()
	srv.CloseClientConnections()
	var g int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if g = settle(); g <= base {
			return
		}
	}
	buf := make([]byte, 1<<16)
	t.Errorf("after the burst: %d goroutines (baseline %d)\n%s", g, base, buf[:goruntime.Stack(buf, true)])
}

// TestRestart checks that a second server over the same control database
// (a restart, or another node) serves functions deployed by the first: it
// compiles lazily, once, and fetches the module from the control database
// when its own file is missing.
func TestRestart(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	out := f.deploy(t, "echo", "echo", nil)
	f.deploy(t, "twin", "echo", nil)

	data2 := t.TempDir()
	os.MkdirAll(filepath.Join(data2, "functions"), 0o755)
	os.Symlink(wasmtest.WazeroCacheDir(), filepath.Join(data2, "functions", "cache"))
	e2 := apitest.New(t, pg, map[string]string{"MADBASE_DATABASE_URL": f.env.Config.DatabaseURL, "MADBASE_DATA_DIR": data2})
	f2 := &fixture{env: e2, p: f.p, h: e2.Handler, data: data2}

	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			name := []string{"echo", "twin"}[i%2]
			res, body := f2.call("POST", name, nil, []byte("after restart"))
			if res.StatusCode != 200 || !strings.Contains(string(body), "after restart") {
				t.Errorf("node 2: %d %s", res.StatusCode, body)
			}
		})
	}
	wg.Wait()
	if !strings.Contains(e2.Logs(), "function invoked") {
		t.Error("node 2 logged no invocation")
	}
	// The module was fetched from the control database and cached on disk.
	if _, err := os.Stat(filepath.Join(data2, "functions", out["sha256"].(string)+".wasm")); err != nil {
		t.Errorf("node 2's module file: %v", err)
	}

	// Metadata in the control database says where the version came from.
	conn, err := pgx.Connect(context.Background(), f.env.Config.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var versions int
	if err := conn.QueryRow(context.Background(), "select count(*) from control.function_versions where name = 'echo'").Scan(&versions); err != nil || versions != 1 {
		t.Errorf("echo versions %d (%v)", versions, err)
	}
}
