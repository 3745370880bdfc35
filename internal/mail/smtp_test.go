package mail

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/testutil/smtpsink"
)

func clientFor(t *testing.T, s *smtpsink.Sink, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{Host: s.Host(), Port: s.Port(), Sender: "MadBase <noreply@madbase.test>", Timeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wait(t *testing.T, s *smtpsink.Sink, to string) smtpsink.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	m, err := s.WaitFor(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// The whole path: render the magic-link email, send it, receive it, and
// pull the same link and code back out.
func TestSendRenderedMagicLink(t *testing.T) {
	for name, tc := range map[string]struct {
		opts   smtpsink.Options
		mod    func(*smtpsink.Sink) func(*Config)
		tls    bool
		authed string
	}{
		"plain":             {opts: smtpsink.Options{}},
		"starttls insecure": {opts: smtpsink.Options{RequireTLS: true}, mod: func(*smtpsink.Sink) func(*Config) { return func(c *Config) { c.InsecureSkipVerify = true } }, tls: true},
		"starttls verified": {opts: smtpsink.Options{RequireTLS: true}, mod: func(s *smtpsink.Sink) func(*Config) { return func(c *Config) { c.RootCAs = s.CertPool() } }, tls: true},
		"auth plain":        {opts: smtpsink.Options{RequireAuth: true, Username: "u", Password: "p"}, mod: func(*smtpsink.Sink) func(*Config) { return func(c *Config) { c.User, c.Pass = "u", "p" } }, authed: "u"},
		"starttls + auth": {opts: smtpsink.Options{RequireTLS: true, RequireAuth: true, Username: "u", Password: "p"}, mod: func(s *smtpsink.Sink) func(*Config) {
			return func(c *Config) { c.RootCAs, c.User, c.Pass = s.CertPool(), "u", "p" }
		}, tls: true, authed: "u"},
		"implicit tls + auth": {opts: smtpsink.Options{ImplicitTLS: true, RequireAuth: true}, mod: func(s *smtpsink.Sink) func(*Config) {
			return func(c *Config) { c.ImplicitTLS, c.RootCAs, c.User, c.Pass = true, s.CertPool(), "x", "y" }
		}, tls: true, authed: "x"},
	} {
		t.Run(name, func(t *testing.T) {
			s := smtpsink.New(t, tc.opts)
			var mod func(*Config)
			if tc.mod != nil {
				mod = tc.mod(s)
			}
			c := clientFor(t, s, mod)
			ts, err := NewTemplates(nil)
			if err != nil {
				t.Fatal(err)
			}
			link := ConfirmationURL("http://127.0.0.1:8000/auth/v1", "0a1b2c3d4e5f", "magiclink", "http://localhost:3000/after?x=1")
			msg, err := ts.Render(MagicLink, Data{SiteURL: "http://localhost:3000", ConfirmationURL: link, Email: "user@example.com", Token: "093417"})
			if err != nil {
				t.Fatal(err)
			}
			msg.To = []string{"user@example.com"}
			if err := c.Send(t.Context(), msg); err != nil {
				t.Fatal(err)
			}
			m := wait(t, s, "user@example.com")
			if m.TLS != tc.tls || m.AuthUser != tc.authed {
				t.Fatalf("TLS=%v AuthUser=%q, want %v %q", m.TLS, m.AuthUser, tc.tls, tc.authed)
			}
			if m.From != "noreply@madbase.test" || m.Subject != "Your sign-in link" {
				t.Fatalf("from %q subject %q", m.From, m.Subject)
			}
			if got := m.FirstURL(); got != link {
				t.Fatalf("FirstURL = %q, want %q", got, link)
			}
			if got := m.Code(); got != "093417" {
				t.Fatalf("Code = %q", got)
			}
			if m.Text == "" || m.HTML == "" {
				t.Fatalf("missing part: text %d bytes, html %d bytes", len(m.Text), len(m.HTML))
			}
		})
	}
}

func TestSendKind(t *testing.T) {
	s := smtpsink.New(t, smtpsink.Options{})
	ts, err := NewTemplates(map[Kind]Template{Reauthentication: {Body: "<p>code {{ .Token }} for {{ .Email }}</p>"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := clientFor(t, s, nil).SendKind(t.Context(), ts, Reauthentication, "u@example.com", Data{Email: "u@example.com", Token: "551177"}); err != nil {
		t.Fatal(err)
	}
	m := wait(t, s, "u@example.com")
	if m.Subject != "551177 is your verification code" || m.Code() != "551177" || !strings.Contains(m.HTML, "for u@example.com") {
		t.Fatalf("subject %q code %q html %q", m.Subject, m.Code(), m.HTML)
	}
	if err := clientFor(t, s, nil).SendKind(t.Context(), ts, "welcome", "u@example.com", Data{}); err == nil {
		t.Fatal("unknown kind sent")
	}
}

func TestSendFailures(t *testing.T) {
	t.Run("untrusted certificate", func(t *testing.T) {
		s := smtpsink.New(t, smtpsink.Options{TLS: true})
		err := clientFor(t, s, nil).Send(t.Context(), Message{To: []string{"a@b.test"}, Subject: "s", HTML: "h"})
		if err == nil || !strings.Contains(err.Error(), "starttls") {
			t.Fatalf("err = %v, want a STARTTLS verification failure", err)
		}
		if n := len(s.Messages()); n != 0 {
			t.Fatalf("%d messages delivered over an unverified connection", n)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		s := smtpsink.New(t, smtpsink.Options{Username: "u", Password: "p"})
		err := clientFor(t, s, func(c *Config) { c.User, c.Pass = "u", "nope" }).Send(t.Context(), Message{To: []string{"a@b.test"}, Subject: "s", HTML: "h"})
		if err == nil || !strings.Contains(err.Error(), "535") {
			t.Fatalf("err = %v, want 535", err)
		}
	})
	t.Run("auth required but not configured", func(t *testing.T) {
		s := smtpsink.New(t, smtpsink.Options{RequireAuth: true})
		err := clientFor(t, s, nil).Send(t.Context(), Message{To: []string{"a@b.test"}, Subject: "s", HTML: "h"})
		if err == nil || !strings.Contains(err.Error(), "530") {
			t.Fatalf("err = %v, want 530", err)
		}
	})
	t.Run("bad recipient", func(t *testing.T) {
		s := smtpsink.New(t, smtpsink.Options{})
		if err := clientFor(t, s, nil).Send(t.Context(), Message{To: []string{"not an address"}}); err == nil {
			t.Fatal("bad recipient accepted")
		}
	})
}

// A server that accepts and never speaks must not hang Send past its ctx.
func TestSendHonoursContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	addr := ln.Addr().(*net.TCPAddr)
	c, err := NewClient(Config{Host: "127.0.0.1", Port: addr.Port, Sender: "a@b.test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.Send(ctx, Message{To: []string{"c@d.test"}, Subject: "s", HTML: "h"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Send returned after %v", d)
	}

	// Cancellation (no deadline) also ends the exchange.
	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	if err := c.Send(ctx, Message{To: []string{"c@d.test"}, Subject: "s", HTML: "h"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want Canceled", err)
	}
}

func TestNewClientValidates(t *testing.T) {
	for _, cfg := range []Config{
		{Port: 25, Sender: "a@b.test"},
		{Host: "h", Port: 70000, Sender: "a@b.test"},
		{Host: "h", Sender: "not an address"},
	} {
		if _, err := NewClient(cfg); err == nil {
			t.Errorf("NewClient(%+v) accepted", cfg)
		}
	}
}
