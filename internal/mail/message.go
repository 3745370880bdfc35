package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"mime/quotedprintable"
	netmail "net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is one email to send. Text is optional: when empty a plain-text
// alternative is derived from HTML.
type Message struct {
	To      []string // addresses, optionally "Name <addr>"
	Subject string
	HTML    string
	Text    string
}

// Compose renders msg as RFC 5322 bytes with CRLF line endings: From, To,
// Subject (RFC 2047-encoded when not ASCII), Date, Message-ID,
// MIME-Version and a multipart/alternative body of quoted-printable text
// and HTML parts.
func Compose(from string, msg Message, now time.Time) ([]byte, error) {
	sender, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mail: sender %q: %w", from, err)
	}
	if len(msg.To) == 0 {
		return nil, errors.New("mail: no recipients")
	}
	to := make([]string, len(msg.To))
	for i, r := range msg.To {
		a, err := netmail.ParseAddress(r)
		if err != nil {
			return nil, fmt.Errorf("mail: recipient %q: %w", r, err)
		}
		to[i] = a.String()
	}
	text := msg.Text
	if text == "" {
		text = htmlToText(msg.HTML)
	}
	boundary, err := randomHex(16)
	if err != nil {
		return nil, err
	}
	id, err := randomHex(16)
	if err != nil {
		return nil, err
	}
	domain := "localhost"
	if at := strings.LastIndexByte(sender.Address, '@'); at >= 0 && at < len(sender.Address)-1 {
		domain = sender.Address[at+1:]
	}

	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", sender.String())
	header("To", strings.Join(to, ", "))
	header("Subject", encodeHeader(msg.Subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+id+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	for _, part := range []struct{ ctype, body string }{
		{"text/plain; charset=utf-8", text},
		{"text/html; charset=utf-8", msg.HTML},
	} {
		fmt.Fprintf(&b, "--%s\r\n", boundary)
		header("Content-Type", part.ctype)
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		qp := quotedprintable.NewWriter(&b)
		if _, err := qp.Write([]byte(crlf(part.body))); err != nil {
			return nil, fmt.Errorf("mail: encode body: %w", err)
		}
		if err := qp.Close(); err != nil {
			return nil, fmt.Errorf("mail: encode body: %w", err)
		}
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return b.Bytes(), nil
}

// encodeHeader makes s safe as one header value: line breaks (which would
// let template data inject headers) and runs of white space become single
// spaces, text that is not plain ASCII or has a word too long to fold is
// RFC 2047-encoded, and the result is folded to keep lines short.
func encodeHeader(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	encode := false
	for _, w := range strings.Split(s, " ") {
		if len(w) > 75 || strings.HasPrefix(w, "=?") {
			encode = true
		}
	}
	for i := 0; i < len(s) && !encode; i++ {
		encode = s[i] >= 0x7f || s[i] < 0x20
	}
	if encode {
		s = qEncode(s)
	}
	return fold(s)
}

// qEncode writes s as RFC 2047 "Q" encoded-words of at most 75 bytes,
// separated by spaces, never splitting a UTF-8 sequence. Unlike
// mime.QEncoding it always encodes, so a literal "=?…?=" in the text is
// not decoded by the receiver.
func qEncode(s string) string {
	const prefix, suffix, max = "=?utf-8?q?", "?=", 75
	var out []string
	var word strings.Builder
	flush := func() {
		if word.Len() > 0 {
			out = append(out, prefix+word.String()+suffix)
			word.Reset()
		}
	}
	for _, r := range s {
		var enc strings.Builder
		if r == ' ' {
			enc.WriteByte('_')
		} else {
			var buf [utf8.UTFMax]byte
			for _, c := range buf[:utf8.EncodeRune(buf[:], r)] {
				if c < 0x7f && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!*+-/", c) >= 0) {
					enc.WriteByte(c)
				} else {
					fmt.Fprintf(&enc, "=%02X", c)
				}
			}
		}
		if len(prefix)+word.Len()+enc.Len()+len(suffix) > max {
			flush()
		}
		word.WriteString(enc.String())
	}
	flush()
	return strings.Join(out, " ")
}

// fold breaks a header value at spaces so no line passes 78 characters
// (the "Subject: " prefix included) where a break is possible.
func fold(s string) string {
	var b strings.Builder
	lineLen := len("Subject: ")
	for i, w := range strings.Split(s, " ") {
		if i > 0 {
			if lineLen+1+len(w) > 78 {
				b.WriteString("\r\n ")
				lineLen = 1
			} else {
				b.WriteByte(' ')
				lineLen++
			}
		}
		b.WriteString(w)
		lineLen += len(w)
	}
	return b.String()
}

// crlf normalises line endings (CRLF, LF or a bare CR) to CRLF, as the
// quoted-printable writer keeps hard line breaks as given and a bare CR or
// LF is not allowed in a message.
func crlf(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

func randomHex(n int) (string, error) {
	buf := make([]byte, n)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("mail: random: %w", err)
	}
	return hex.EncodeToString(buf), nil
}

var (
	dropBlockRE = regexp.MustCompile(`(?is)<(head|style|script)\b[^>]*>.*?</(head|style|script)\s*>`)
	anchorRE    = regexp.MustCompile(`(?is)<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')[^>]*>(.*?)</a\s*>`)
	breakRE     = regexp.MustCompile(`(?i)<br\s*/?>|</(p|div|h[1-6]|li|tr|table)\s*>`)
	tagRE       = regexp.MustCompile(`(?s)<[^>]*>`)
	blankRE     = regexp.MustCompile(`\n[ \t]*\n(?:[ \t]*\n)+`)
)

// htmlToText gives a readable plain-text rendering of an email body: block
// ends become line breaks and links become "text (url)", so the link and
// code survive in clients that show only text.
func htmlToText(h string) string {
	s := dropBlockRE.ReplaceAllString(h, "")
	s = anchorRE.ReplaceAllStringFunc(s, func(a string) string {
		m := anchorRE.FindStringSubmatch(a)
		href := m[1] + m[2]
		label := strings.TrimSpace(tagRE.ReplaceAllString(m[3], ""))
		if label == "" || html.UnescapeString(label) == html.UnescapeString(href) {
			return href
		}
		return label + " (" + href + ")"
	})
	s = breakRE.ReplaceAllString(s, "$0\n")
	s = tagRE.ReplaceAllString(s, "")
	s = html.UnescapeString(s)
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	s = strings.Join(lines, "\n")
	s = blankRE.ReplaceAllString(s, "\n\n")
	return strings.TrimSpace(s) + "\n"
}
