package file

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/madbase/madbase/internal/storage/blob"
	"github.com/madbase/madbase/internal/storage/blob/blobtest"
)

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "root")
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, dir
}

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, dir := newStore(t)
		t.Cleanup(func() { checkNoStrays(t, dir) })
		return s
	})
}

// checkNoStrays fails if a temporary file survived, or the store wrote
// next to its root.
func checkNoStrays(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, tmpSuffix) {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("store wrote outside its root: %v", entries)
	}
}

func TestLayout(t *testing.T) {
	s, dir := newStore(t)
	ctx := t.Context()
	for _, k := range []string{"bkt/a", "bkt/a/b.png"} {
		if _, err := s.Put(ctx, k, strings.NewReader(k), -1, "image/png"); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"bkt.d/a.b", "bkt.d/a.d/b.png.b"} {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		// Content comes first, so the file is readable as-is up to the trailer.
		if !strings.HasPrefix(string(b), "bkt/a") {
			t.Errorf("%s starts %q", p, b[:10])
		}
	}
	// Deleting the last object under a directory prunes it.
	if err := s.Delete(ctx, "bkt/a/b.png", "bkt/a"); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("root not empty after deleting everything: %v", entries)
	}
}

// A symlink planted inside the root (by an operator or another process)
// must not let the store read or write outside it.
func TestSymlinkEscape(t *testing.T) {
	s, dir := newStore(t)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.b")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "evil.d")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(t.Context(), "evil/secret", nil); err == nil {
		t.Error("Get followed a symlink out of the root")
	}
	if _, err := s.Put(t.Context(), "evil/new", strings.NewReader("x"), 1, ""); err == nil {
		t.Error("Put followed a symlink out of the root")
	}
	if _, err := os.Stat(filepath.Join(outside, "new.b")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file created outside the root: %v", err)
	}
}

func TestCorruptTrailer(t *testing.T) {
	s, dir := newStore(t)
	if _, err := s.Put(t.Context(), "c", strings.NewReader("hello"), 5, ""); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{"", "short", "hello" + strings.Repeat("x", 40)} {
		if err := os.WriteFile(filepath.Join(dir, "c.b"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := s.Head(t.Context(), "c")
		if err == nil || errors.Is(err, blob.ErrNotFound) {
			t.Errorf("corrupt %q: Head err = %v, want a corruption error", body, err)
		}
	}
}

func TestGetReaderIsolatedFromOverwrite(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	if _, err := s.Put(ctx, "k", strings.NewReader("old old old"), -1, ""); err != nil {
		t.Fatal(err)
	}
	rc, _, err := s.Get(ctx, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := s.Put(ctx, "k", strings.NewReader("new"), -1, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	if err != nil || string(b) != "old old old" {
		t.Errorf("open reader saw %q, %v; want the old object whole", b, err)
	}
}
