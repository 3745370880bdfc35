package mail

import (
	"strings"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/testutil/smtpsink"
)

func TestComposeHeadersAndParts(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	raw, err := Compose("MadBase <noreply@madbase.test>", Message{
		To:      []string{"Zoë <zoe@example.com>", "b@example.com"},
		Subject: "Bestätigen Sie Ihre E-Mail",
		HTML:    `<p>Hello &amp; welcome</p><p><a href="https://x.test/v?a=1&amp;b=2">Confirm</a></p><p>Code: <b>123456</b></p>`,
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\r\n") {
		if len(l) > 998 {
			t.Fatalf("line of %d bytes exceeds RFC 5322 limit", len(l))
		}
	}
	if strings.Contains(strings.ReplaceAll(string(raw), "\r\n", ""), "\n") {
		t.Fatal("bare LF in composed message")
	}
	m := smtpsink.Parse(raw)
	if m.Err != nil {
		t.Fatal(m.Err)
	}
	h := m.Header
	if got := h.Get("Subject"); !strings.HasPrefix(got, "=?utf-8?q?") {
		t.Fatalf("non-ASCII subject not RFC 2047-encoded: %q", got)
	}
	if m.Subject != "Bestätigen Sie Ihre E-Mail" {
		t.Fatalf("decoded Subject = %q", m.Subject)
	}
	if got := h.Get("Date"); got != "Tue, 04 Mar 2025 05:06:07 +0000" {
		t.Fatalf("Date = %q", got)
	}
	if got := h.Get("Message-ID"); !strings.HasPrefix(got, "<") || !strings.HasSuffix(got, "@madbase.test>") {
		t.Fatalf("Message-ID = %q", got)
	}
	if h.Get("MIME-Version") != "1.0" || !strings.HasPrefix(h.Get("Content-Type"), "multipart/alternative;") {
		t.Fatalf("MIME headers: %q %q", h.Get("MIME-Version"), h.Get("Content-Type"))
	}
	if got := h.Get("From"); got != `"MadBase" <noreply@madbase.test>` {
		t.Fatalf("From = %q", got)
	}
	if to, err := h.AddressList("To"); err != nil || len(to) != 2 || to[0].Name != "Zoë" {
		t.Fatalf("To = %v, %v", to, err)
	}
	if !strings.Contains(m.HTML, `href="https://x.test/v?a=1&amp;b=2"`) {
		t.Fatalf("HTML part = %q", m.HTML)
	}
	if want := "Hello & welcome\nConfirm (https://x.test/v?a=1&b=2)\nCode: 123456\n"; strings.ReplaceAll(m.Text, "\r\n", "\n") != want {
		t.Fatalf("Text part = %q, want %q", m.Text, want)
	}
	if m.Code() != "123456" || m.FirstURL() != "https://x.test/v?a=1&b=2" {
		t.Fatalf("Code %q, FirstURL %q", m.Code(), m.FirstURL())
	}
}

// Template data ends up in the subject; a line break in it must not start
// a new header.
func TestComposeSubjectInjection(t *testing.T) {
	raw, err := Compose("a@example.com", Message{To: []string{"b@example.com"}, Subject: "hi\r\nBcc: victim@example.com\n", HTML: "x"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m := smtpsink.Parse(raw)
	if m.Header.Get("Bcc") != "" {
		t.Fatal("subject injected a Bcc header")
	}
	if m.Subject != "hi Bcc: victim@example.com" {
		t.Fatalf("Subject = %q", m.Subject)
	}
}

func TestComposeRejectsBadAddresses(t *testing.T) {
	if _, err := Compose("not an address", Message{To: []string{"b@example.com"}}, time.Now()); err == nil {
		t.Fatal("bad sender accepted")
	}
	if _, err := Compose("a@example.com", Message{To: []string{"b@example.com\r\nBcc: c@example.com"}}, time.Now()); err == nil {
		t.Fatal("recipient with CRLF accepted")
	}
	if _, err := Compose("a@example.com", Message{}, time.Now()); err == nil {
		t.Fatal("message without recipients accepted")
	}
}

func TestConfirmationURL(t *testing.T) {
	for _, tc := range []struct{ redirect, want string }{
		{"", "https://p.test/auth/v1/verify?token=abc&type=signup"},
		{"http://localhost:3000/welcome", "https://p.test/auth/v1/verify?token=abc&type=signup&redirect_to=http://localhost:3000/welcome"},
		{"http://app.test/cb?next=/x&y=1", "https://p.test/auth/v1/verify?token=abc&type=signup&redirect_to=http%3A%2F%2Fapp.test%2Fcb%3Fnext%3D%2Fx%26y%3D1"},
	} {
		if got := ConfirmationURL("https://p.test/auth/v1/", "abc", "signup", tc.redirect); got != tc.want {
			t.Errorf("ConfirmationURL(%q) = %q, want %q", tc.redirect, got, tc.want)
		}
	}
}
