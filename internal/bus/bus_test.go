package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"
)

// redisURL is the Redis the tests use; MADBASE_REDIS_URL overrides it.
func redisURL() string {
	if u := os.Getenv("MADBASE_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// NewTestRedis returns a Redis bus with a prefix unique to this test, or
// skips when Redis is unreachable and MADBASE_REQUIRE_REDIS is unset.
func newTestRedis(t *testing.T) *Redis {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	r, err := NewRedis(ctx, redisURL(), "test:"+hex.EncodeToString(b[:])+":")
	if err != nil {
		if os.Getenv("MADBASE_REQUIRE_REDIS") == "" {
			t.Skipf("redis unreachable: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func recv(t *testing.T, ch <-chan []byte) string {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("channel closed")
		}
		return string(m)
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for a message")
	}
	return ""
}

func none(t *testing.T, ch <-chan []byte, d time.Duration) {
	t.Helper()
	select {
	case m, ok := <-ch:
		if ok {
			t.Fatalf("unexpected message %q", m)
		}
	case <-time.After(d):
	}
}

func closed(t *testing.T, ch <-chan []byte) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("channel not closed")
		}
	}
}

// exercise checks the contract every implementation shares. a and b are
// two handles on the same bus (two nodes).
func exercise(t *testing.T, a, b Bus) {
	ctx := t.Context()
	s1, cancel1, err := a.Subscribe(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	s2, cancel2, err := b.Subscribe(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	other, cancelOther, err := b.Subscribe(ctx, "y")
	if err != nil {
		t.Fatal(err)
	}
	defer cancelOther()
	for i := range 50 {
		if err := a.Publish(ctx, "x", fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		want := fmt.Sprintf("m%d", i)
		if got := recv(t, s1); got != want {
			t.Fatalf("a got %q, want %q (order)", got, want)
		}
		if got := recv(t, s2); got != want {
			t.Fatalf("b got %q, want %q (order)", got, want)
		}
	}
	none(t, other, 100*time.Millisecond)

	cancel1()
	closed(t, s1)
	if err := b.Publish(ctx, "x", []byte("after")); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, s2); got != "after" {
		t.Fatalf("got %q", got)
	}
	cancel2()
	cancel2() // idempotent
	closed(t, s2)

	// Ending the context ends the subscription.
	sctx, stop := context.WithCancel(ctx)
	s3, _, err := a.Subscribe(sctx, "z")
	if err != nil {
		t.Fatal(err)
	}
	stop()
	closed(t, s3)
}

func TestMemory(t *testing.T) {
	m := NewMemory()
	exercise(t, m, m)
	s, _, err := m.Subscribe(t.Context(), "q")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	closed(t, s)
	if err := m.Publish(t.Context(), "q", nil); err != ErrClosed {
		t.Fatalf("publish after close: %v", err)
	}
}

func TestRedis(t *testing.T) {
	a := newTestRedis(t)
	// A second client with the same prefix is another node.
	b, err := NewRedis(t.Context(), redisURL(), a.prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	exercise(t, a, b)

	// Another prefix is another deployment: it sees nothing.
	c := newTestRedis(t)
	s, cancel, err := c.Subscribe(t.Context(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	if err := a.Publish(t.Context(), "x", []byte("hidden")); err != nil {
		t.Fatal(err)
	}
	none(t, s, 200*time.Millisecond)

	// Binary payloads survive.
	s2, cancel2, err := b.Subscribe(t.Context(), "bin")
	if err != nil {
		t.Fatal(err)
	}
	defer cancel2()
	payload := []byte{0, 1, 2, 255, '\n'}
	if err := a.Publish(t.Context(), "bin", payload); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, s2); got != string(payload) {
		t.Fatalf("binary payload: %q", got)
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Subscribe(t.Context(), "x"); err != ErrClosed {
		t.Fatalf("subscribe after close: %v", err)
	}
	if _, err := NewRedis(t.Context(), "not a url", ""); err == nil {
		t.Fatal("bad url accepted")
	}
}
