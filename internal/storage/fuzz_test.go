package storage

import (
	"strings"
	"testing"

	"github.com/madbase/madbase/internal/storage/blob"
)

// FuzzParseRange: any header either fails or yields a range that resolves
// inside the object.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-4", "bytes=-5", "bytes=6-", "bytes=5-1", "bytes=a-b", "items=0-1", "bytes=0-1,3-4", ""} {
		f.Add(s, int64(11))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -size
		}
		rng, err := parseRange(h)
		if err != nil || rng == nil {
			return
		}
		off, n, err := rng.Resolve(size)
		if err != nil {
			return
		}
		if off < 0 || n <= 0 || off+n > size {
			t.Fatalf("%q over %d: off %d n %d", h, size, off, n)
		}
	})
}

// FuzzTUSMetadata: parsing never panics and round-trips what it accepts.
func FuzzTUSMetadata(f *testing.F) {
	for _, s := range []string{"bucketName YnVja2V0,objectName YS9iLnR4dA==", "k", "k !!!", ",", "a Yg==,b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		m, err := parseTUSMetadata(v)
		if err != nil {
			return
		}
		for k := range m {
			if k == "" || strings.ContainsAny(k, " ,") {
				t.Fatalf("key %q from %q", k, v)
			}
		}
	})
}

// FuzzCheckKey: an accepted object name is always a valid blob key made of
// Supabase's character set, so no name can steer a backend.
func FuzzCheckKey(f *testing.F) {
	for _, s := range []string{"a/b.png", "../x", "a//b", "C:/x", `a\b`, "a\x00b", "%2e%2e", "/abs", "ok name (1).txt"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if checkKey(name) != nil {
			return
		}
		if err := blob.ValidKey(name); err != nil {
			t.Fatalf("accepted %q: %v", name, err)
		}
		for _, seg := range strings.Split(name, "/") {
			if seg == ".." || seg == "." || seg == "" {
				t.Fatalf("accepted %q", name)
			}
		}
	})
}

// FuzzParseSize: sizes are never negative.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{`"20MB"`, `"1kb"`, `1000`, `null`, `"3 GB"`, `-1`, `"x"`, `1.5`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := parseSize([]byte(raw))
		if err == nil && v != nil && *v < 0 {
			t.Fatalf("%s → %d", raw, *v)
		}
	})
}
