package password

import (
	"testing"
)

// Stored hashes can come from outside (admin import), so the parser must
// never panic and must only accept what it can re-encode faithfully.
func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc")
	f.Add("$argon2i$m=64,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc")
	f.Add("$2a$10$abcdefghijklmnopqrstuu")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePHC(s)
		if err != nil {
			return
		}
		if p.params.validate() != nil {
			t.Fatalf("accepted out-of-range params %+v from %q", p.params, s)
		}
		again, err := parsePHC(p.String())
		if err != nil {
			t.Fatalf("re-encoding %q of %q does not parse: %v", p.String(), s, err)
		}
		if again.String() != p.String() {
			t.Fatalf("round trip changed %q to %q", p.String(), again.String())
		}
	})
}
