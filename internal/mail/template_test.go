package mail

import (
	"strings"
	"testing"
)

func sampleData() Data {
	return Data{
		SiteURL:         "http://localhost:3000",
		ConfirmationURL: "http://localhost:8000/auth/v1/verify?token=pkce_abc&type=magiclink&redirect_to=http://localhost:3000",
		Email:           "user@example.com",
		NewEmail:        "new@example.com",
		Token:           "482913",
		TokenHash:       "deadbeef",
		RedirectTo:      "http://localhost:3000",
		Data:            map[string]any{"name": "Ada"},
	}
}

func TestDefaultsRender(t *testing.T) {
	ts, err := NewTemplates(nil)
	if err != nil {
		t.Fatal(err)
	}
	wantSubject := map[Kind]string{
		Confirmation:     "Confirm your email address",
		Recovery:         "Reset your password",
		MagicLink:        "Your sign-in link",
		Invite:           "You've been invited",
		EmailChange:      "Confirm your new email address",
		Reauthentication: "482913 is your verification code",
	}
	d := sampleData()
	for _, kind := range Kinds() {
		m, err := ts.Render(kind, d)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if m.Subject != wantSubject[kind] {
			t.Errorf("%s subject = %q, want %q", kind, m.Subject, wantSubject[kind])
		}
		hasLink := strings.Contains(m.HTML, `href="http://localhost:8000/auth/v1/verify?token=pkce_abc&amp;type=magiclink&amp;redirect_to=http://localhost:3000"`)
		if hasLink != (kind != Reauthentication) {
			t.Errorf("%s body link present = %v:\n%s", kind, hasLink, m.HTML)
		}
		hasCode := strings.Contains(m.HTML, "482913")
		if hasCode != (kind != Invite) {
			t.Errorf("%s body code present = %v:\n%s", kind, hasCode, m.HTML)
		}
	}
	if m, _ := ts.Render(EmailChange, d); !strings.Contains(m.HTML, "new@example.com") {
		t.Errorf("email change body lacks the new address:\n%s", m.HTML)
	}
}

func TestOverrides(t *testing.T) {
	ts, err := NewTemplates(map[Kind]Template{
		MagicLink: {
			Subject: "Log in to {{ .SiteURL }} & more",
			Body:    `<a href="{{ .SiteURL }}/auth/confirm?token_hash={{ .TokenHash }}&type=email">Hi {{ .Data.name }}</a> {{ .Email }} {{ .RedirectTo }}`,
		},
		Recovery: {Subject: "Only the subject changes"},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := sampleData()
	d.Email = `<script>alert(1)</script>@example.com`
	m, err := ts.Render(MagicLink, d)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Log in to http://localhost:3000 & more" {
		t.Fatalf("subject = %q (must not be HTML-escaped)", m.Subject)
	}
	want := `<a href="http://localhost:3000/auth/confirm?token_hash=deadbeef&type=email">Hi Ada</a> &lt;script&gt;alert(1)&lt;/script&gt;@example.com http://localhost:3000`
	if m.HTML != want {
		t.Fatalf("body = %q\nwant   %q", m.HTML, want)
	}
	r, err := ts.Render(Recovery, d)
	if err != nil {
		t.Fatal(err)
	}
	if def, _ := Defaults(Recovery); r.Subject != "Only the subject changes" || !strings.Contains(r.HTML, "Reset my password") || def.Subject != "Reset your password" {
		t.Fatalf("partial override: %q / default body kept = %v", r.Subject, strings.Contains(r.HTML, "Reset my password"))
	}
	// Untouched kinds keep their defaults.
	c, _ := ts.Render(Confirmation, d)
	if c.Subject != "Confirm your email address" {
		t.Fatalf("confirmation subject = %q", c.Subject)
	}
	// Missing metadata renders empty, not "<no value>".
	d.Data = nil
	m, err = ts.Render(MagicLink, d)
	if err != nil || strings.Contains(m.HTML, "no value") || !strings.Contains(m.HTML, ">Hi </a>") {
		t.Fatalf("render without metadata = %q, %v", m.HTML, err)
	}
}

func TestOverridesValidatedAtParse(t *testing.T) {
	for name, o := range map[string]map[Kind]Template{
		"syntax":        {Invite: {Body: "{{ .ConfirmationURL "}},
		"unknown field": {Invite: {Body: "{{ .ConfirmationLink }}"}},
		"subject field": {Recovery: {Subject: "{{ .Nope }}"}},
		"empty subject": {Recovery: {Subject: "{{ if false }}x{{ end }}"}},
		"unknown kind":  {"welcome": {Subject: "hi"}},
		"too long":      {Invite: {Body: strings.Repeat("x", maxTemplateLen+1)}},
	} {
		if _, err := NewTemplates(o); err == nil {
			t.Errorf("%s: override accepted", name)
		}
	}
	if err := Validate(Invite, Template{Body: "{{ .ConfirmationURL }}"}); err != nil {
		t.Fatalf("valid override rejected: %v", err)
	}
}
