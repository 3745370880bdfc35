package mail

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/madbase/madbase/internal/testutil/smtpsink"
)

// Subjects and bodies carry user-controlled template data; whatever they
// hold, the composed message must keep exactly our headers and give the
// body back intact.
func FuzzCompose(f *testing.F) {
	f.Add("Confirm your email address", "<p>hi</p>")
	f.Add("Grüße\r\nBcc: x@y", "line\r\n.\r\n--boundary\r\n")
	f.Add("=?utf-8?q?x?=", strings.Repeat("é", 200))
	f.Fuzz(func(t *testing.T, subject, body string) {
		if !utf8.ValidString(subject) || !utf8.ValidString(body) {
			return
		}
		raw, err := Compose("a@example.com", Message{To: []string{"b@example.com"}, Subject: subject, HTML: body}, time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		m := smtpsink.Parse(raw)
		if m.Err != nil {
			t.Fatalf("composed message does not parse: %v", m.Err)
		}
		if len(m.Header) != 7 {
			t.Fatalf("headers %v, want exactly 7", m.Header)
		}
		for _, l := range strings.Split(string(raw), "\r\n") {
			if len(l) > 998 {
				t.Fatalf("line of %d bytes", len(l))
			}
		}
		if want := strings.Join(strings.Fields(subject), " "); m.Subject != want {
			t.Fatalf("Subject %q, want %q", m.Subject, want)
		}
		if want := crlf(body); m.HTML != want {
			t.Fatalf("HTML body %q, want %q", m.HTML, want)
		}
	})
}
