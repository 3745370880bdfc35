package smtpsink

import (
	"strings"
	"testing"
)

const multi = "From: a@example.com\r\n" +
	"To: b@example.com\r\n" +
	"Subject: =?UTF-8?B?VmVyaWZ5IOKckw==?=\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=outer\r\n\r\n" +
	"--outer\r\n" +
	"Content-Type: multipart/alternative; boundary=inner\r\n\r\n" +
	"--inner\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n\r\n" +
	"Your code is 654321 (not a1234567 or 12345). caf=C3=A9 https://x.test/=\r\n" +
	"a?b=3D1&c=3D2\r\n" +
	"--inner\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n\r\n" +
	"PHAgc3R5bGU9ImNvbG9yOiMxMjM0NTYiPjxhIGhyZWY9Imh0dHBzOi8veC50ZXN0L3Y/dD0x\r\n" +
	"JmFtcDt1PTIiPmdvPC9hPiBjb2RlIDExMTIyMjwvcD4=\r\n" +
	"--inner--\r\n" +
	"--outer--\r\n"

func TestParseMultipart(t *testing.T) {
	m := Parse([]byte(multi))
	if m.Err != nil {
		t.Fatal(m.Err)
	}
	if m.Subject != "Verify ✓" {
		t.Fatalf("Subject = %q", m.Subject)
	}
	if !strings.Contains(m.Text, "café https://x.test/a?b=1&c=2") {
		t.Fatalf("Text = %q", m.Text)
	}
	if want := `<p style="color:#123456"><a href="https://x.test/v?t=1&amp;u=2">go</a> code 111222</p>`; m.HTML != want {
		t.Fatalf("HTML = %q, want %q", m.HTML, want)
	}
	if got := m.FirstURL(); got != "https://x.test/a?b=1&c=2" {
		t.Fatalf("FirstURL = %q", got)
	}
	if got := m.Code(); got != "654321" {
		t.Fatalf("Code = %q", got)
	}
	// HTML only: the URL comes back unescaped, the colour in the style
	// attribute is not mistaken for a code.
	h := Message{HTML: m.HTML}
	if got := h.FirstURL(); got != "https://x.test/v?t=1&u=2" {
		t.Fatalf("HTML FirstURL = %q", got)
	}
	if got := h.Code(); got != "111222" {
		t.Fatalf("HTML Code = %q", got)
	}
	if got := (Message{Text: "a 1234567 b 12345678"}).CodeOfLength(8); got != "12345678" {
		t.Fatalf("CodeOfLength(8) = %q", got)
	}
	if got := (Message{Text: "no digits here"}).Code(); got != "" {
		t.Fatalf("Code of text without one = %q", got)
	}
}

func TestParseBroken(t *testing.T) {
	for _, raw := range []string{"", "no header break", "Content-Type: multipart/alternative\r\n\r\nx", "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!"} {
		if m := Parse([]byte(raw)); m.Err == nil {
			t.Errorf("Parse(%q) reported no error", raw)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(multi))
	f.Add([]byte(simple))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := Parse(raw)
		_ = m.FirstURL()
		_ = m.Code()
	})
}
