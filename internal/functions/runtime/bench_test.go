package runtime

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Run with: go test ./internal/functions/runtime -run '^$' -bench . -benchmem
// BenchmarkInvokeEcho vs BenchmarkNativeEcho gives the cost of the sandbox per
// request (fresh instance, Go runtime start-up in the guest, CGI framing).

func BenchmarkCompileEcho(b *testing.B) {
	ctx := context.Background()
	wasm := wasmBytes["echo"]
	b.SetBytes(int64(len(wasm)))
	for b.Loop() {
		// A fresh runtime without a cache each time: a cold compile, as on first deploy.
		rt, err := New(ctx, Config{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rt.Compile(ctx, wasm); err != nil {
			b.Fatal(err)
		}
		_ = rt.Close(ctx)
	}
}

// BenchmarkCompileEchoCached is a process restart: the compiled code comes
// from the on-disk cache.
func BenchmarkCompileEchoCached(b *testing.B) {
	ctx := context.Background()
	wasm := wasmBytes["echo"]
	dir := b.TempDir()
	warm, err := New(ctx, Config{CacheDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := warm.Compile(ctx, wasm); err != nil {
		b.Fatal(err)
	}
	_ = warm.Close(ctx)
	for b.Loop() {
		rt, err := New(ctx, Config{CacheDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rt.Compile(ctx, wasm); err != nil {
			b.Fatal(err)
		}
		_ = rt.Close(ctx)
	}
}

func benchRequest() Request {
	return Request{
		Method:   http.MethodPost,
		Path:     "/echo/sub",
		RawQuery: "a=1",
		Header:   http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer x"}},
		Body:     strings.NewReader(`{"hello":"world"}`),
	}
}

func BenchmarkInvokeEcho(b *testing.B) {
	m := guest(b, "echo")
	ctx := context.Background()
	for b.Loop() {
		resp, err := testRT.Invoke(ctx, m, benchRequest())
		if err != nil || resp.Status != 200 {
			b.Fatal(err)
		}
	}
}

// BenchmarkInvokeEchoFirst is the first invocation after deploy: no memory
// size learnt yet, so the guest's memory grows step by step.
func BenchmarkInvokeEchoFirst(b *testing.B) {
	m := guest(b, "echo")
	ctx := context.Background()
	for b.Loop() {
		m.memHint.Store(0)
		if _, err := testRT.Invoke(ctx, m, benchRequest()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkInvokeEchoParallel(b *testing.B) {
	m := guest(b, "echo")
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := testRT.Invoke(ctx, m, benchRequest()); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// nativeEcho does in Go what the echo guest does.
func nativeEcho(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	headers := map[string]string{}
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	out, _ := json.Marshal(map[string]any{
		"method":         r.Method,
		"path":           r.URL.Path,
		"query":          r.URL.RawQuery,
		"content_type":   r.Header.Get("Content-Type"),
		"content_length": r.ContentLength,
		"headers":        headers,
		"body":           string(body),
	})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Function", "echo")
	w.Write(out)
}

func BenchmarkNativeEcho(b *testing.B) {
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/echo/sub?a=1", strings.NewReader(`{"hello":"world"}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer x")
		w := httptest.NewRecorder()
		nativeEcho(w, r)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
