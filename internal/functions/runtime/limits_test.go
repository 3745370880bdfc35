package runtime

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestEnvironment(t *testing.T) {
	t.Parallel()
	resp, err := testRT.Invoke(t.Context(), guest(t, "env"), Request{
		Method: "PUT",
		Path:   "/env",
		Header: http.Header{"X-Forwarded": {"yes"}, "Authorization": {"Bearer spoofed"}},
		Env: map[string]string{
			"MY_SECRET":          "s3cr3t=with=equals",
			"SUPABASE_URL":       "http://localhost:54321",
			"HTTP_AUTHORIZATION": "Bearer verified",
			"REQUEST_METHOD":     "DELETE", // must not override the real method
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]string
	if err := jsonUnmarshal(resp.Body, &env); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"MY_SECRET":          "s3cr3t=with=equals",
		"SUPABASE_URL":       "http://localhost:54321",
		"HTTP_AUTHORIZATION": "Bearer verified",
		"HTTP_X_FORWARDED":   "yes",
		"REQUEST_METHOD":     "PUT",
		"PATH_INFO":          "/env",
		"REQUEST_URI":        "/env",
		"GATEWAY_INTERFACE":  "CGI/1.1",
		"__fs_error":         "true", // no filesystem
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
	for _, k := range []string{"PATH", "HOME", "GOROOT", "CONTENT_LENGTH", "CONTENT_TYPE"} {
		if v, ok := env[k]; ok {
			t.Errorf("%s leaked into the guest: %q", k, v)
		}
	}

	_, err = testRT.Invoke(t.Context(), guest(t, "env"), Request{Env: map[string]string{"A=B": "x"}})
	if err == nil {
		t.Error("an environment name containing '=' was accepted")
	}
}

func TestTimeoutInterruptsOnlyItsInvocation(t *testing.T) {
	t.Parallel()
	echo := guest(t, "echo")
	loop := guest(t, "loop")
	const limit = 300 * time.Millisecond
	for _, mode := range []string{"spin", "sleep"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			start := time.Now()
			var loopErr error
			var loopTook time.Duration
			wg.Go(func() {
				_, loopErr = testRT.Invoke(t.Context(), loop, Request{RawQuery: mode, Limits: Limits{Timeout: limit}})
				loopTook = time.Since(start)
			})
			for i := range 8 {
				wg.Go(func() {
					resp, err := testRT.Invoke(t.Context(), echo, Request{Body: strings.NewReader(fmt.Sprint(i)), Limits: Limits{Timeout: time.Minute}})
					if err == nil && !strings.Contains(string(resp.Body), fmt.Sprintf(`"body":"%d"`, i)) {
						err = fmt.Errorf("echo %d answered %s", i, resp.Body)
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("concurrent echo: %v", err)
				}
			}
			if !errors.Is(loopErr, ErrTimeout) {
				t.Fatalf("loop: err = %v, want ErrTimeout", loopErr)
			}
			// Generous upper bound: busy CI machines; the point is that it
			// stops near the limit instead of running on.
			if loopTook < limit || loopTook > limit+10*time.Second {
				t.Errorf("loop interrupted after %s, want about %s", loopTook, limit)
			}
			if status, code, _ := StatusFor(loopErr); status != 504 || code != "IDLE_TIMEOUT" {
				t.Errorf("StatusFor = %d %s", status, code)
			}
		})
	}
}

func TestCallerCancellation(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := testRT.Invoke(ctx, guest(t, "loop"), Request{Limits: Limits{Timeout: 10 * time.Second}})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, _, ok := StatusFor(err); ok {
		t.Error("StatusFor classified a caller cancellation")
	}
}

func TestMemoryLimit(t *testing.T) {
	t.Parallel()
	hog := guest(t, "memhog")
	const pages = 1024 // 64 MiB
	resp, err := testRT.Invoke(t.Context(), hog, Request{Limits: Limits{MemoryPages: pages}})
	if !errors.Is(err, ErrMemory) {
		t.Fatalf("err = %v, want ErrMemory", err)
	}
	if resp == nil || resp.MemoryBytes > pages*pageSize || resp.MemoryBytes < pages*pageSize/2 {
		t.Errorf("peak memory %v, want close to %d", resp, pages*pageSize)
	}
	if status, code, _ := StatusFor(err); status != 546 || code != "WORKER_LIMIT" {
		t.Errorf("StatusFor = %d %s", status, code)
	}

	// The same guest within its limit succeeds: the limit is what failed it.
	resp, err = testRT.Invoke(t.Context(), hog, Request{RawQuery: "mb=16", Limits: Limits{MemoryPages: pages}})
	if err != nil || string(resp.Body) != "allocated 16 MiB\n" {
		t.Fatalf("16 MiB under a 64 MiB limit: %v %q", err, respBody(resp))
	}
	_, err = testRT.Invoke(t.Context(), hog, Request{RawQuery: "mb=16", Limits: Limits{MemoryPages: 256}})
	if !errors.Is(err, ErrMemory) {
		t.Fatalf("16 MiB under a 16 MiB limit: err = %v, want ErrMemory", err)
	}

	// A module whose declared minimum memory is above the limit never starts
	// (its _start would trap on unreachable).
	big, err := testRT.Compile(t.Context(), tinyModuleMem(20, "", "", "_start", []byte{0x00}))
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close(t.Context())
	if _, err := testRT.Invoke(t.Context(), big, Request{Limits: Limits{MemoryPages: 16}}); !errors.Is(err, ErrMemory) {
		t.Errorf("initial memory over the limit: err = %v, want ErrMemory", err)
	}
	if _, err := testRT.Invoke(t.Context(), big, Request{Limits: Limits{MemoryPages: 20}}); !errors.Is(err, ErrTrap) {
		t.Errorf("initial memory at the limit: err = %v, want ErrTrap (it runs)", err)
	}
}

func TestResponseLimit(t *testing.T) {
	t.Parallel()
	flood := guest(t, "flood")
	const max = 1 << 20
	lim := Limits{MaxResponseBody: max, Timeout: time.Minute}

	start := time.Now()
	_, err := testRT.Invoke(t.Context(), flood, Request{Limits: lim})
	if !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("endless output: err = %v, want ErrResponseTooLarge", err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("flood stopped after %s; it should stop at the limit, not the timeout", took)
	}

	resp, err := testRT.Invoke(t.Context(), flood, Request{RawQuery: fmt.Sprint("n=", max), Limits: lim})
	if err != nil || len(resp.Body) != max {
		t.Fatalf("exactly the limit: err %v, %d bytes", err, len(respBody(resp)))
	}
	_, err = testRT.Invoke(t.Context(), flood, Request{RawQuery: fmt.Sprint("n=", max+1), Limits: lim})
	if !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("one byte over: err = %v, want ErrResponseTooLarge", err)
	}
}

func TestRequestLimit(t *testing.T) {
	t.Parallel()
	resp, err := testRT.Invoke(t.Context(), guest(t, "echo"), Request{
		Method: "POST",
		Body:   strings.NewReader(strings.Repeat("a", 1001)),
		Limits: Limits{MaxRequestBody: 1000},
	})
	if !errors.Is(err, ErrRequestTooLarge) || resp != nil {
		t.Fatalf("err = %v resp = %v, want ErrRequestTooLarge before running", err, resp)
	}
	if status, _, _ := StatusFor(err); status != http.StatusRequestEntityTooLarge {
		t.Errorf("StatusFor = %d", status)
	}
	got := invokeEcho(t, t.Context(), Request{Method: "POST", Body: strings.NewReader(strings.Repeat("a", 1000)), Limits: Limits{MaxRequestBody: 1000}})
	if len(got.Body) != 1000 {
		t.Errorf("body at the limit echoed %d bytes", len(got.Body))
	}
}

func TestTrap(t *testing.T) {
	t.Parallel()
	trap := guest(t, "trap")
	for mode, wantStderr := range map[string]string{
		"panic": "panic: boom",
		"exit":  "about to crash",
		"nil":   "nil pointer dereference",
	} {
		resp, err := testRT.Invoke(t.Context(), trap, Request{RawQuery: mode})
		if !errors.Is(err, ErrTrap) {
			t.Errorf("%s: err = %v, want ErrTrap", mode, err)
			continue
		}
		if !strings.Contains(string(resp.Stderr), wantStderr) {
			t.Errorf("%s: stderr %q lacks %q", mode, resp.Stderr, wantStderr)
		}
		if status, _, _ := StatusFor(err); status != 500 {
			t.Errorf("%s: StatusFor = %d", mode, status)
		}
	}

	// A genuine WebAssembly trap (unreachable) in a hand-assembled module.
	m, err := testRT.Compile(t.Context(), tinyModule("", "", "_start", []byte{0x00}))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(t.Context())
	if _, err := testRT.Invoke(t.Context(), m, Request{}); !errors.Is(err, ErrTrap) || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("unreachable: err = %v, want ErrTrap", err)
	}
}

func TestBadCGI(t *testing.T) {
	t.Parallel()
	bad := guest(t, "badcgi")
	for _, mode := range []string{"noheaders", "badline", "badstatus", "empty", "status99"} {
		_, err := testRT.Invoke(t.Context(), bad, Request{RawQuery: mode})
		if !errors.Is(err, ErrBadCGI) {
			t.Errorf("%s: err = %v, want ErrBadCGI", mode, err)
		}
	}
}

func TestCompileRejects(t *testing.T) {
	t.Parallel()
	for name, wasm := range map[string][]byte{
		"not wasm":            []byte("#!/bin/sh\necho hi\n"),
		"no _start":           tinyModule("", "", "main", nil),
		"unknown module":      tinyModule("env", "f", "_start", nil),
		"unknown WASI import": tinyModule("wasi_snapshot_preview1", "no_such_call", "_start", nil),
		"unknown host import": tinyModule("madbase", "no_such_call", "_start", nil),
	} {
		m, err := testRT.Compile(t.Context(), wasm)
		if !errors.Is(err, ErrInvalidModule) {
			t.Errorf("%s: err = %v, want ErrInvalidModule", name, err)
		}
		if m != nil {
			t.Errorf("%s: got a module", name)
		}
	}
	// The smallest valid function compiles; it writes nothing, which is bad CGI.
	m, err := testRT.Compile(t.Context(), tinyModule("", "", "_start", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(t.Context())
	if _, err := testRT.Invoke(t.Context(), m, Request{}); !errors.Is(err, ErrBadCGI) {
		t.Errorf("silent module: err = %v, want ErrBadCGI", err)
	}
}

func TestCompilationCacheDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rt, err := New(t.Context(), Config{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.WithoutCancel(t.Context()))
	if _, err := rt.Compile(t.Context(), tinyModule("", "", "_start", []byte{0x00})); err != nil {
		t.Fatal(err)
	}
	if n := countFiles(t, dir); n == 0 {
		t.Error("nothing written to the compilation cache directory")
	}
}
