package tenant

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/control"
)

// A change made through one node reaches another node's cache through the
// control plane's NOTIFY, and pools of disabled projects are closed.
func TestChangesPropagateAndPoolsClose(t *testing.T) {
	a := newManager(t, Options{CacheTTL: time.Hour})
	p := provision(t, a, "alpha")
	// A second node on the same control database.
	b := NewManager(a.Store(), slog.New(slog.NewTextHandler(io.Discard, nil)), Options{CacheTTL: time.Hour})
	t.Cleanup(b.Close)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	changed := make(chan string, 16)
	b.OnChange(func(ref string) { changed <- ref })
	go b.Watch(ctx)
	if _, err := b.Project(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Pool(ctx, p); err != nil {
		t.Fatal(err)
	}
	if len(b.PoolStats()) != 1 {
		t.Fatal("pool not opened")
	}
	// Give LISTEN a moment to be in place, then disable through node a.
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.Status = control.StatusDisabled
		if err := a.Store().Update(ctx, p); err != nil {
			t.Fatal(err)
		}
		select {
		case ref := <-changed:
			if ref != "alpha" {
				continue
			}
		case <-time.After(300 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("node b never heard of the change")
			}
			continue
		}
		break
	}
	got, err := b.Project(ctx, "alpha")
	if err != nil || got.Status != control.StatusDisabled {
		t.Fatalf("node b still sees %v, %v", got, err)
	}
	if n := len(b.PoolStats()); n != 0 {
		t.Fatalf("pool of a disabled project still open (%d)", n)
	}
}
