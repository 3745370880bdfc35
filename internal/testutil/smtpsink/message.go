package smtpsink

import (
	"bytes"
	"encoding/base64"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"time"
)

// Message is one received message: the SMTP envelope, the raw bytes as
// received (after dot-unstuffing) and the decoded parts a test looks at.
type Message struct {
	ID       string
	From     string   // envelope sender
	To       []string // envelope recipients
	TLS      bool     // delivered over TLS (STARTTLS or implicit)
	AuthUser string   // AUTH PLAIN user, "" when not authenticated
	Received time.Time

	Raw     []byte
	Header  mail.Header // nil when the headers did not parse
	Subject string      // RFC 2047-decoded
	Text    string      // decoded text/plain body, "" if none
	HTML    string      // decoded text/html body, "" if none
	Err     error       // why parsing stopped early, if it did
}

// maxDepth bounds multipart nesting so a hostile message cannot recurse
// without end.
const maxDepth = 8

// Parse decodes raw message bytes (headers, RFC 2047 subject, single-part
// or nested multipart bodies in 7bit/8bit/quoted-printable/base64). It never
// fails outright: whatever could be decoded is returned, with Err set when
// something could not.
func Parse(raw []byte) Message {
	m := Message{Raw: raw}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		m.Err = err
		return m
	}
	m.Header = msg.Header
	dec := mime.WordDecoder{}
	if s, err := dec.DecodeHeader(msg.Header.Get("Subject")); err == nil {
		m.Subject = s
	} else {
		m.Subject = msg.Header.Get("Subject")
	}
	m.Err = m.walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, 0)
	return m
}

func (m *Message) walk(ctype, cte string, body io.Reader, depth int) error {
	if ctype == "" {
		ctype = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return err
	}
	if strings.HasPrefix(mt, "multipart/") {
		if depth >= maxDepth {
			return errTooDeep
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := m.walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, depth+1); err != nil {
				return err
			}
		}
	}
	var r io.Reader = body
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &crlfStripper{r: body})
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	switch mt {
	case "text/plain":
		if m.Text == "" {
			m.Text = string(data)
		}
	case "text/html":
		if m.HTML == "" {
			m.HTML = string(data)
		}
	}
	return nil
}

type parseError string

func (e parseError) Error() string { return string(e) }

const errTooDeep = parseError("smtpsink: multipart nested too deeply")

// crlfStripper drops line breaks so base64 bodies wrapped at 76 columns
// decode.
type crlfStripper struct{ r io.Reader }

func (c *crlfStripper) Read(p []byte) (int, error) {
	for {
		n, err := c.r.Read(p)
		j := 0
		for _, b := range p[:n] {
			if b != '\r' && b != '\n' {
				p[j] = b
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

var (
	urlRE = regexp.MustCompile(`https?://[^\s"'<>]+`)
	tagRE = regexp.MustCompile(`(?s)<[^>]*>`)
)

// plain is the message's readable text: the text part, else the HTML part
// with tags removed and entities decoded.
func (m Message) plain() string {
	if m.Text != "" {
		return m.Text
	}
	return html.UnescapeString(tagRE.ReplaceAllString(m.HTML, " "))
}

// FirstURL returns the first http(s) URL in the text part, else in the
// HTML part (entities decoded, so "&amp;" in an href comes back as "&");
// "" if there is none.
func (m Message) FirstURL() string {
	for _, body := range []string{m.Text, html.UnescapeString(m.HTML)} {
		if u := urlRE.FindString(body); u != "" {
			return strings.TrimRight(u, ".,;:!?)]")
		}
	}
	return ""
}

// Code returns the first standalone 6-digit number in the message's text
// (not one inside a URL or a longer token), "" if there is none.
func (m Message) Code() string { return m.CodeOfLength(6) }

// CodeOfLength is Code for OTPs of n digits (GoTrue allows 6 to 10).
func (m Message) CodeOfLength(n int) string {
	text := urlRE.ReplaceAllString(m.plain(), " ")
	isAlnum := func(c byte) bool {
		return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	for i := 0; i < len(text); {
		if !isAlnum(text[i]) {
			i++
			continue
		}
		j := i
		digits := true
		for j < len(text) && isAlnum(text[j]) {
			digits = digits && text[j] >= '0' && text[j] <= '9'
			j++
		}
		if digits && j-i == n {
			return text[i:j]
		}
		i = j
	}
	return ""
}
