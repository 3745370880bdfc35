package bus

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/testutil/redistest"
	"github.com/madbase/madbase/internal/testutil/syncbuf"
)

func connect(t *testing.T, url, prefix string) *Redis {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	r, err := NewRedis(ctx, url, prefix, nil)
	if err != nil {
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
	url := redistest.Start(t).URL
	a := connect(t, url, "one:")
	// A second client with the same prefix is another node.
	b := connect(t, url, "one:")
	exercise(t, a, b)

	// Another prefix is another deployment: it sees nothing.
	c := connect(t, url, "two:")
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
	if _, err := NewRedis(t.Context(), "not a url", "", nil); err == nil {
		t.Fatal("bad url accepted")
	}
}

func TestRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	a, b := connect(t, srv.URL, "p:"), connect(t, srv.URL, "p:")
	s, cancel, err := b.Subscribe(t.Context(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	srv.Restart()
	// The subscription comes back by itself once Redis is up again;
	// messages published while it was away are lost.
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := a.Publish(t.Context(), "x", []byte("again")); err == nil {
			select {
			case m := <-s:
				if string(m) != "again" {
					t.Fatalf("got %q", m)
				}
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no message after Redis restarted")
		}
	}
}

// TestRedisLogsJSON: what go-redis reports while Redis is away reaches the
// server's JSON log, not go-redis's own plain-text lines on stderr.
func TestRedisLogsJSON(t *testing.T) {
	srv := redistest.Start(t)
	var buf syncbuf.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	r, err := NewRedis(ctx, srv.URL, "p:", log)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	srv.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), `"level":"WARN","msg":"bus: redis: connection pool: failed to dial`) {
		if time.Now().After(deadline) {
			t.Fatalf("no go-redis line in the JSON log:\n%s", buf.String())
		}
		_ = r.Publish(t.Context(), "x", []byte("a"))
		time.Sleep(100 * time.Millisecond)
	}
}
