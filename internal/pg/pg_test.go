package pg

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestStatus(t *testing.T) {
	for code, want := range map[string]int{"23505": 409, "23503": 409, "22P02": 400, "42703": 400, "P0001": 400,
		"42501": 403, "08006": 503, "XX000": 500, "": 500, "25006": 405, "42P01": 404,
		"40001": 500, "40P01": 500, "54000": 500, "57014": 500, "57P01": 503, "53400": 500, "53300": 503, "42P10": 400, "23502": 400} {
		if got := Status(code); got != want {
			t.Errorf("Status(%q) = %d, want %d", code, got, want)
		}
	}
	err := fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: "23505"})
	if Code(err) != "23505" || !IsUserFacing(err) {
		t.Fatal("wrapped pg error not recognised")
	}
	if IsUserFacing(fmt.Errorf("dial tcp: refused")) {
		t.Fatal("network error treated as user-facing")
	}
	if got := Ident("my schema", `we"ird`); got != `"my schema"."we""ird"` {
		t.Fatalf("Ident = %s", got)
	}
}
