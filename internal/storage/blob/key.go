package blob

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// MaxKeyLen is the longest key accepted, in bytes (as S3).
	MaxKeyLen = 1024
	// MaxSegmentLen is the longest key segment accepted, in bytes. It keeps
	// every segment, plus the few bytes a file backend adds, within the
	// 255-byte file name limit of common filesystems, so all backends agree
	// on which keys exist.
	MaxSegmentLen = 250
)

// ValidKey reports whether key may name an object. Keys are
// slash-separated relative paths of non-empty segments. Refused, so that
// no backend can be steered outside its space: "." and ".." segments,
// absolute paths, empty segments ("a//b", trailing "/"), backslashes,
// drive letters ("C:"), NUL and other control characters, and invalid
// UTF-8.
//
// Keys arrive here already percent-decoded: "%2e%2e" is a literal,
// harmless segment, and decoding is the HTTP layer's job, done once.
func ValidKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidKey, MaxKeyLen)
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("%w: not UTF-8", ErrInvalidKey)
	}
	for _, c := range key {
		if c == '\\' {
			return fmt.Errorf("%w: backslash", ErrInvalidKey)
		}
		if unicode.IsControl(c) {
			return fmt.Errorf("%w: control character %U", ErrInvalidKey, c)
		}
	}
	if isDrive(key) {
		return fmt.Errorf("%w: drive letter", ErrInvalidKey)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("%w: empty segment (absolute path, // or trailing /)", ErrInvalidKey)
		case seg == "." || seg == "..":
			return fmt.Errorf("%w: %q segment", ErrInvalidKey, seg)
		case len(seg) > MaxSegmentLen:
			return fmt.Errorf("%w: segment longer than %d bytes", ErrInvalidKey, MaxSegmentLen)
		}
	}
	return nil
}

// isDrive reports a leading Windows drive designator such as "C:" or "c:x".
func isDrive(key string) bool {
	return len(key) >= 2 && key[1] == ':' &&
		(key[0] >= 'a' && key[0] <= 'z' || key[0] >= 'A' && key[0] <= 'Z')
}
