package mail

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
)

// Kind names one of the auth emails.
type Kind string

// The emails GoTrue sends, named as in its GOTRUE_MAILER_TEMPLATES_* and
// _SUBJECTS_* settings.
const (
	Confirmation     Kind = "confirmation"
	Recovery         Kind = "recovery"
	MagicLink        Kind = "magic_link"
	Invite           Kind = "invite"
	EmailChange      Kind = "email_change"
	Reauthentication Kind = "reauthentication"
)

// Kinds lists every Kind.
func Kinds() []Kind {
	return []Kind{Confirmation, Recovery, MagicLink, Invite, EmailChange, Reauthentication}
}

// Data are the variables a template can use; the field names are the ones
// Supabase email templates use ({{ .ConfirmationURL }}, {{ .Token }}, …).
type Data struct {
	SiteURL         string
	ConfirmationURL string
	Email           string
	NewEmail        string // email change only
	Token           string // the numeric OTP
	TokenHash       string
	RedirectTo      string
	Data            map[string]any // the user's user_metadata
}

// Template is a subject and an HTML body in Go template syntax. In an
// override an empty field keeps the default.
type Template struct {
	Subject string `json:"subject,omitempty"`
	Body    string `json:"body,omitempty"`
}

// maxTemplateLen bounds an override; templates come from project admins
// and are stored in settings.
const maxTemplateLen = 64 << 10

type compiled struct {
	subject *texttemplate.Template
	body    *htmltemplate.Template
}

// Templates is the parsed set of templates for one project. It is
// immutable and safe for concurrent use.
type Templates struct {
	set map[Kind]compiled
}

// Defaults returns the built-in template for kind.
func Defaults(kind Kind) (Template, bool) {
	t, ok := defaults[kind]
	return t, ok
}

// NewTemplates parses the defaults with overrides applied. Each template is
// also executed once with sample data, so a reference to a variable that
// does not exist ({{ .Nope }}) is an error here, when an admin saves it,
// not when a user signs up.
func NewTemplates(overrides map[Kind]Template) (*Templates, error) {
	for k := range overrides {
		if _, ok := defaults[k]; !ok {
			return nil, fmt.Errorf("mail: unknown template %q", k)
		}
	}
	t := &Templates{set: make(map[Kind]compiled, len(defaults))}
	for _, kind := range Kinds() {
		tpl := defaults[kind]
		if o, ok := overrides[kind]; ok {
			if o.Subject != "" {
				tpl.Subject = o.Subject
			}
			if o.Body != "" {
				tpl.Body = o.Body
			}
		}
		c, err := compile(kind, tpl)
		if err != nil {
			return nil, err
		}
		t.set[kind] = c
	}
	return t, nil
}

// Validate reports whether tpl would be accepted as an override for kind.
func Validate(kind Kind, tpl Template) error {
	_, err := NewTemplates(map[Kind]Template{kind: tpl})
	return err
}

func compile(kind Kind, tpl Template) (compiled, error) {
	var c compiled
	if len(tpl.Subject) > maxTemplateLen || len(tpl.Body) > maxTemplateLen {
		return c, fmt.Errorf("mail: %s template longer than %d bytes", kind, maxTemplateLen)
	}
	var err error
	// The subject is a header, not HTML: HTML-escaping would show "&amp;".
	if c.subject, err = texttemplate.New(string(kind) + " subject").Option("missingkey=zero").Parse(tpl.Subject); err != nil {
		return c, fmt.Errorf("mail: %s subject: %w", kind, err)
	}
	if c.body, err = htmltemplate.New(string(kind) + " body").Option("missingkey=zero").Parse(tpl.Body); err != nil {
		return c, fmt.Errorf("mail: %s body: %w", kind, err)
	}
	sample := Data{
		SiteURL: "https://example.com", ConfirmationURL: "https://example.com/auth/v1/verify?token=x&type=signup",
		Email: "user@example.com", NewEmail: "new@example.com", Token: "123456", TokenHash: "abc",
		RedirectTo: "https://example.com", Data: map[string]any{},
	}
	subject, _, err := c.render(sample)
	if err != nil {
		return c, fmt.Errorf("mail: %s: %w", kind, err)
	}
	if subject == "" {
		return c, fmt.Errorf("mail: %s subject renders empty", kind)
	}
	return c, nil
}

func (c compiled) render(d Data) (subject, body string, err error) {
	if d.Data == nil {
		d.Data = map[string]any{}
	}
	var sb, bb bytes.Buffer
	if err := c.subject.Execute(&sb, d); err != nil {
		return "", "", fmt.Errorf("subject: %w", err)
	}
	if err := c.body.Execute(&bb, d); err != nil {
		return "", "", fmt.Errorf("body: %w", err)
	}
	return strings.TrimSpace(sb.String()), bb.String(), nil
}

// Render fills kind's template with d. The returned Message has Subject and
// HTML set; the caller sets To.
func (t *Templates) Render(kind Kind, d Data) (Message, error) {
	c, ok := t.set[kind]
	if !ok {
		return Message{}, fmt.Errorf("mail: unknown template %q", kind)
	}
	subject, body, err := c.render(d)
	if err != nil {
		return Message{}, fmt.Errorf("mail: render %s: %w", kind, err)
	}
	if subject == "" {
		return Message{}, errors.New("mail: render " + string(kind) + ": empty subject")
	}
	return Message{Subject: subject, HTML: body}, nil
}
