package password

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

const gotrueSets = "abcdefghijklmnopqrstuvwxyz:ABCDEFGHIJKLMNOPQRSTUVWXYZ:0123456789"

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		pw       string
		min      int
		required string
		want     []string
	}{
		{"secret", 6, "", nil},
		{"short", 6, "", []string{"length"}},
		{"", 6, "", []string{"length"}},
		{"Abcdef1", 6, gotrueSets, nil},
		{"abcdef1", 6, gotrueSets, []string{"characters"}},
		{"abc", 6, gotrueSets, []string{"length", "characters"}},
		// Length counts bytes as GoTrue does: five 2-byte runes pass min 10.
		{"ééééé", 10, "", nil},
		{"a:bcdef", 1, `x\::b`, nil}, // escaped colon belongs to the set "x:"
		{"abcdef", 1, `x\::b`, []string{"characters"}},
		// A minimum below GoTrue's floor of 6 is raised to it.
		{"abcde", 2, "", []string{"length"}},
		{"pw12345", 6, "::0123456789::", nil}, // empty sets are ignored
	} {
		if got := Check(tc.pw, tc.min, tc.required); !cmp.Equal(got, tc.want) {
			t.Errorf("Check(%q, %d, %q) = %q, want %q", tc.pw, tc.min, tc.required, got, tc.want)
		}
	}
}

func TestWeaknessMessage(t *testing.T) {
	reasons, msg := Weakness("abc", 8, gotrueSets)
	want := "Password should be at least 8 characters. Password should contain at least one character of each: " +
		"abcdefghijklmnopqrstuvwxyz, ABCDEFGHIJKLMNOPQRSTUVWXYZ, 0123456789."
	if msg != want || len(reasons) != 2 {
		t.Fatalf("Weakness = %q, %q; want 2 reasons and %q", reasons, msg, want)
	}
	if _, msg := Weakness("long enough", 6, ""); msg != "" {
		t.Fatalf("message for a fine password: %q", msg)
	}
}

func TestSplitRequired(t *testing.T) {
	got := SplitRequired(`ab:\:;:`)
	if want := []string{"ab", ":;"}; !cmp.Equal(got, want) {
		t.Fatalf("SplitRequired = %q, want %q", got, want)
	}
}
