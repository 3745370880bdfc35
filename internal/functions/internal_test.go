package functions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/functions/runtime"
)

// tinyStart is a module whose _start returns at once (so its output is
// empty: ErrBadCGI), distinct per n.
func tinyStart(n int) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, 1, 4, 1, 0x60, 0, 0)
	b = append(b, 3, 2, 1, 0)
	b = append(b, 7, 10, 1, 6)
	b = append(b, "_start"...)
	b = append(b, 0, 0)
	b = append(b, 10, 4, 1, 2, 0, 0x0b)
	name := fmt.Sprint(n)
	payload := append([]byte{1, 'n'}, name...)
	return append(append(b, 0, byte(len(payload))), payload...)
}

func TestModuleCache(t *testing.T) {
	ctx := context.Background()
	rt, err := runtime.New(ctx, runtime.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	c := newModules(rt, 2)
	var loads atomic.Int32
	load := func(n int) func(context.Context) ([]byte, error) {
		return func(context.Context) ([]byte, error) { loads.Add(1); return tinyStart(n), nil }
	}
	ran := func(m *runtime.Module) error {
		_, err := rt.Invoke(ctx, m, runtime.Request{})
		if errors.Is(err, runtime.ErrBadCGI) {
			return nil // it ran: _start returned without output
		}
		return fmt.Errorf("invoke: %v", err)
	}

	a, relA, err := c.acquire(ctx, "a", load(1))
	if err != nil {
		t.Fatal(err)
	}
	for i, sum := range []string{"b", "c"} {
		_, rel, err := c.acquire(ctx, sum, load(i+2))
		if err != nil {
			t.Fatal(err)
		}
		rel()
	}
	// "a" is out of the cache but still in use: it must keep working.
	if n, _ := c.stats(); n != 2 {
		t.Fatalf("%d cached, want 2", n)
	}
	if err := ran(a); err != nil {
		t.Fatalf("evicted module in use: %v", err)
	}
	relA()
	// Asking again compiles again.
	_, rel, err := c.acquire(ctx, "a", load(1))
	if err != nil {
		t.Fatal(err)
	}
	rel()
	if _, compiles := c.stats(); compiles != 4 || loads.Load() != 4 {
		t.Fatalf("compiles %d, loads %d; want 4", compiles, loads.Load())
	}

	// Concurrent first requests compile once.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			m, rel, err := c.acquire(ctx, "d", load(9))
			if err != nil {
				t.Error(err)
				return
			}
			defer rel()
			if err := ran(m); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if loads.Load() != 5 {
		t.Fatalf("20 concurrent first requests loaded %d times", loads.Load()-4)
	}

	// A failed load is not cached.
	bad := func(context.Context) ([]byte, error) { return nil, errors.New("gone") }
	if _, _, err := c.acquire(ctx, "e", bad); err == nil {
		t.Fatal("no error")
	}
	if _, rel, err := c.acquire(ctx, "e", load(10)); err != nil {
		t.Fatalf("retry after failure: %v", err)
	} else {
		rel()
	}

	// A module put at deploy is served without compiling.
	m, err := rt.Compile(ctx, tinyStart(11))
	if err != nil {
		t.Fatal(err)
	}
	c.put("f", m)
	before := loads.Load()
	got, rel, err := c.acquire(ctx, "f", load(11))
	if err != nil || got != m || loads.Load() != before {
		t.Fatalf("put module: %v, same %v, loads %d→%d", err, got == m, before, loads.Load())
	}
	rel()
}

func TestLogBook(t *testing.T) {
	b := newLogBook(3)
	k := fnKey{"alpha", "f"}
	for i := range 5 {
		b.add(k, LogEntry{Status: 200 + i})
	}
	got := b.get(k, 0)
	if len(got) != 3 || got[0].Status != 202 || got[2].Status != 204 {
		t.Fatalf("ring: %+v", got)
	}
	if got := b.get(k, 1); len(got) != 1 || got[0].Status != 204 {
		t.Fatalf("limit 1: %+v", got)
	}
	b.add(fnKey{"beta", "f"}, LogEntry{})
	b.drop("alpha", "")
	if len(b.get(k, 0)) != 0 || len(b.get(fnKey{"beta", "f"}, 0)) != 1 {
		t.Fatal("drop")
	}
}

func checkLogLines(t *testing.T, in []byte) {
	lines := logLines(in)
	total := 0
	for _, l := range lines {
		if len(l) > maxLogLine+len("…") {
			t.Fatalf("line of %d bytes", len(l))
		}
		if strings.Contains(l, "\n") {
			t.Fatalf("line with a newline: %q", l)
		}
		total += len(l)
	}
	if total > maxLogText+maxLogLine+100 {
		t.Fatalf("%d bytes of log text kept", total)
	}
	if len(in) > 0 && len(in) < 1000 && !strings.Contains(string(in), "\r") && utf8.Valid(in) {
		if want := strings.TrimSuffix(string(in), "\n"); strings.Join(lines, "\n") != want {
			t.Fatalf("short input changed: %q → %q", in, lines)
		}
	}
}

func TestLogLines(t *testing.T) {
	checkLogLines(t, []byte("one\ntwo\r\nthree"))
	big := strings.Repeat("0123456789abcdef\n", 4000)
	lines := logLines([]byte(big))
	if !strings.Contains(strings.Join(lines, "\n"), "lines elided") || lines[0] != "0123456789abcdef" {
		t.Fatalf("big input: %d lines, first %q", len(lines), lines[0])
	}
	checkLogLines(t, []byte(big))
	checkLogLines(t, []byte(strings.Repeat("x", 50000)))
}

// FuzzLogLines: stderr is whatever the guest wrote.
func FuzzLogLines(f *testing.F) {
	f.Add([]byte("hello\nworld\n"))
	f.Add([]byte("\r\n\r\n"))
	f.Add([]byte(strings.Repeat("y", 12000) + "\nend"))
	f.Fuzz(checkLogLines)
}

// FuzzVerify: tokens come from any caller; verify must never panic and
// never accept what is not the project's.
func FuzzVerify(f *testing.F) {
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.x")
	f.Add("sb_publishable_x")
	f.Add("a.b.c")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		p := testProject()
		if c, err := verify(p, tok); err == nil && tok != p.PublishableKey && tok != p.SecretKey {
			t.Fatalf("accepted %q as %v", tok, c)
		}
	})
}

func testProject() *control.Project {
	return &control.Project{Ref: "alpha", JWTSecret: "0123456789abcdef0123456789abcdef", PublishableKey: "sb_publishable_abc", SecretKey: "sb_secret_abc"}
}

func TestEffectiveLimits(t *testing.T) {
	got := Limits{MemoryPages: 100}.effective(Limits{TimeoutMS: 1 << 40, MemoryPages: 1 << 30, MaxRequestBody: 5})
	want := runtime.Limits{Timeout: MaxTimeout, MemoryPages: 100, MaxRequestBody: 5, MaxResponseBody: DefaultRespBody}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if got := (Limits{}).effective(Limits{}); got.Timeout != DefaultTimeout || got.MemoryPages != DefaultMemoryPages {
		t.Fatalf("defaults: %+v", got)
	}
}
