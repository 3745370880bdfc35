package blob

import (
	"errors"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidKey(t *testing.T) {
	ok := []string{
		"a", "bucket/a.txt", "b/folder/sub/file.png", "%2e%2e/x", "..a", "a..", "...",
		".hidden", "a/.b/c", "2024-01-01T10:00:00.png", "ünïcødé/文件.txt", "a b/c d",
		strings.Repeat("x", MaxSegmentLen), "1:2",
	}
	for _, k := range ok {
		if err := ValidKey(k); err != nil {
			t.Errorf("ValidKey(%q) = %v, want nil", k, err)
		}
	}
	bad := []string{
		"", "/", "/abs", "/etc/passwd", "a/", "a//b", "./a", "a/./b", ".", "..", "../a", "a/..",
		"a/../../b", `a\b`, `..\a`, `\\server\share`, "//server/share", "C:", "C:/x", "c:x", "Z:\\x",
		"a\x00b", "a\nb", "a\rb", "a\tb", "a\x7fb", "a\u0085b", "\xff\xfe",
		strings.Repeat("x", MaxSegmentLen+1), strings.Repeat("a/", MaxKeyLen/2) + "a",
	}
	for _, k := range bad {
		if err := ValidKey(k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidKey(%q) = %v, want ErrInvalidKey", k, err)
		}
	}
}

// FuzzValidKey checks that every key ValidKey accepts is a clean, local,
// relative path on both slash and backslash conventions, so no backend
// can be led outside its root by it.
func FuzzValidKey(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "a/../b", `a\b`, "C:x", "//x/y", "a\x00", "ok/name.txt", "%2e%2e/%2f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if ValidKey(key) != nil {
			return
		}
		if path.Clean(key) != key || path.IsAbs(key) || strings.HasPrefix(key, "../") || key == ".." {
			t.Fatalf("accepted unclean key %q", key)
		}
		if !filepath.IsLocal(key) {
			t.Fatalf("accepted non-local key %q", key)
		}
		if strings.ContainsAny(key, "\\\x00") || isDrive(key) {
			t.Fatalf("accepted %q", key)
		}
		for seg := range strings.SplitSeq(key, "/") {
			if seg == ".." || seg == "." || seg == "" || len(seg) > MaxSegmentLen {
				t.Fatalf("accepted segment %q in %q", seg, key)
			}
		}
	})
}
