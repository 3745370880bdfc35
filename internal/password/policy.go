package password

import (
	"fmt"
	"strings"
)

// Weakness reasons, as GoTrue reports them in weak_password.reasons.
const (
	ReasonLength     = "length"
	ReasonCharacters = "characters"
)

// MinLengthFloor is the smallest minimum length GoTrue honours; configured
// values below it are raised to it.
const MinLengthFloor = 6

// Check returns the reasons pw fails the policy: "length" when it is shorter
// than minLength bytes (GoTrue counts bytes, not characters; a minLength
// below MinLengthFloor is raised to it, as GoTrue does), "characters"
// when it lacks a character from any of the sets in required. required uses
// GoTrue's PASSWORD_REQUIRED_CHARACTERS syntax: sets separated by ':', with
// "\:" for a literal colon inside a set. nil means the password is fine.
func Check(pw string, minLength int, required string) []string {
	reasons, _ := Weakness(pw, minLength, required)
	return reasons
}

// Weakness is Check plus the human message GoTrue sends alongside the
// reasons, e.g. "Password should be at least 8 characters.".
func Weakness(pw string, minLength int, required string) (reasons []string, message string) {
	var msgs []string
	minLength = max(minLength, MinLengthFloor)
	if len(pw) < minLength {
		reasons = append(reasons, ReasonLength)
		msgs = append(msgs, fmt.Sprintf("Password should be at least %d characters.", minLength))
	}
	sets := SplitRequired(required)
	for _, set := range sets {
		if !strings.ContainsAny(pw, set) {
			reasons = append(reasons, ReasonCharacters)
			msgs = append(msgs, fmt.Sprintf("Password should contain at least one character of each: %s.", strings.Join(sets, ", ")))
			break
		}
	}
	return reasons, strings.Join(msgs, " ")
}

// SplitRequired splits a PASSWORD_REQUIRED_CHARACTERS value into its
// character sets, dropping empty ones.
func SplitRequired(required string) []string {
	var sets []string
	var cur strings.Builder
	for i := 0; i < len(required); i++ {
		c := required[i]
		switch {
		case c == '\\' && i+1 < len(required) && required[i+1] == ':':
			cur.WriteByte(':')
			i++
		case c == ':':
			if cur.Len() > 0 {
				sets = append(sets, cur.String())
			}
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() > 0 {
		sets = append(sets, cur.String())
	}
	return sets
}
