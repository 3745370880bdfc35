package sqlgen

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestIdentIsSanitize(t *testing.T) {
	for _, parts := range [][]string{{"t"}, {"public", "posts"}, {`we"ird`, "x"}, {"nul\x00l"}, {""}, {"a", "", "b"}, {"ünï", "cødé"}} {
		if got, want := ident(parts...), pgx.Identifier(parts).Sanitize(); got != want {
			t.Errorf("ident(%q) = %s, want %s", parts, got, want)
		}
	}
}

func FuzzIdent(f *testing.F) {
	f.Add("public", "posts")
	f.Add(`a"b`, "\x00")
	f.Fuzz(func(t *testing.T, a, b string) {
		if got, want := ident(a, b), (pgx.Identifier{a, b}).Sanitize(); got != want {
			t.Fatalf("ident(%q, %q) = %s, want %s", a, b, got, want)
		}
	})
}
