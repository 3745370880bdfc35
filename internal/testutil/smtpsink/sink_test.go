package smtpsink

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"strings"
	"testing"
	"time"
)

func send(t *testing.T, c *smtp.Client, from string, to []string, body string) error {
	t.Helper()
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return err
	}
	return w.Close()
}

func dial(t *testing.T, s *Sink) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

const simple = "From: a@example.com\r\nTo: b@example.com\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\nline one\r\n.starts with a dot\r\n..two dots\r\nvisit https://x.test/verify?token=abc&type=signup now. code 123456\r\n"

func TestPlainDelivery(t *testing.T) {
	s := New(t, Options{})
	c := dial(t, s)
	if err := send(t, c, "a@example.com", []string{"B@Example.com", "c@example.com"}, simple); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	m, err := s.WaitFor(ctx, "b@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if m.From != "a@example.com" || len(m.To) != 2 || m.TLS || m.AuthUser != "" {
		t.Fatalf("envelope = %q %q tls=%v auth=%q", m.From, m.To, m.TLS, m.AuthUser)
	}
	if m.Subject != "Grüße" {
		t.Fatalf("Subject = %q", m.Subject)
	}
	// net/smtp dot-stuffs; the sink must give back the original lines.
	if !strings.Contains(m.Text, "\r\n.starts with a dot\r\n..two dots\r\n") {
		t.Fatalf("dot-unstuffing lost: %q", m.Text)
	}
	if string(m.Raw) != simple {
		t.Fatalf("Raw = %q, want %q", m.Raw, simple)
	}
	if u := m.FirstURL(); u != "https://x.test/verify?token=abc&type=signup" {
		t.Fatalf("FirstURL = %q", u)
	}
	if code := m.Code(); code != "123456" {
		t.Fatalf("Code = %q", code)
	}
	if n := len(s.Messages()); n != 1 {
		t.Fatalf("Messages() has %d, want 1", n)
	}
}

func TestWaitForConsumesAndTimesOut(t *testing.T) {
	s := New(t, Options{})
	ctx := t.Context()
	got := make(chan Message, 1)
	go func() {
		m, err := s.WaitFor(ctx, "x@example.com")
		if err == nil {
			got <- m
		}
		close(got)
	}()
	c := dial(t, s)
	for i := range 2 {
		if err := send(t, c, "a@example.com", []string{"x@example.com"}, fmt.Sprintf("Subject: n%d\r\n\r\nbody\r\n", i)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case m := <-got:
		if m.Subject != "n0" {
			t.Fatalf("first WaitFor got %q, want n0", m.Subject)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitFor did not wake on arrival")
	}
	m, err := s.WaitFor(ctx, "x@example.com")
	if err != nil || m.Subject != "n1" {
		t.Fatalf("second WaitFor = %q, %v; want n1", m.Subject, err)
	}
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := s.WaitFor(short, "x@example.com"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third WaitFor err = %v, want DeadlineExceeded", err)
	}
	s.Reset()
	if n := len(s.Messages()); n != 0 {
		t.Fatalf("after Reset %d messages", n)
	}
}

func TestStartTLSAndAuth(t *testing.T) {
	s := New(t, Options{RequireTLS: true, RequireAuth: true, Username: "u", Password: "p"})
	c := dial(t, s)
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	// Before TLS the sink refuses mail.
	if err := c.Mail("a@example.com"); err == nil || !strings.Contains(err.Error(), "530") {
		t.Fatalf("MAIL before STARTTLS: %v, want 530", err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not offered")
	}
	if err := c.StartTLS(&tls.Config{ServerName: "127.0.0.1", RootCAs: s.CertPool()}); err != nil {
		t.Fatalf("STARTTLS with the sink's pool: %v", err)
	}
	if err := c.Mail("a@example.com"); err == nil || !strings.Contains(err.Error(), "530") {
		t.Fatalf("MAIL before AUTH: %v, want 530", err)
	}
	if err := c.Auth(smtp.PlainAuth("", "u", "p", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := send(t, c, "a@example.com", []string{"b@example.com"}, "Subject: hi\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	m, err := s.WaitFor(t.Context(), "b@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !m.TLS || m.AuthUser != "u" {
		t.Fatalf("TLS=%v AuthUser=%q, want true, u", m.TLS, m.AuthUser)
	}
}

func TestWrongCredentials(t *testing.T) {
	s := New(t, Options{Username: "u", Password: "p", RequireAuth: true})
	c := dial(t, s)
	err := c.Auth(smtp.PlainAuth("", "u", "wrong", "127.0.0.1"))
	if err == nil || !strings.Contains(err.Error(), "535") {
		t.Fatalf("wrong password: %v, want 535", err)
	}
	// Without configured credentials any pair is accepted.
	open := New(t, Options{RequireAuth: true})
	c = dial(t, open)
	if err := c.Auth(smtp.PlainAuth("", "anyone", "anything", "127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := send(t, c, "a@b", []string{"c@d"}, "Subject: s\r\n\r\nb\r\n"); err != nil {
		t.Fatal(err)
	}
	if m, _ := open.WaitFor(t.Context(), "c@d"); m.AuthUser != "anyone" {
		t.Fatalf("AuthUser = %q", m.AuthUser)
	}
}

func TestUntrustedCertRejected(t *testing.T) {
	s := New(t, Options{TLS: true})
	c := dial(t, s)
	if err := c.StartTLS(&tls.Config{ServerName: "127.0.0.1"}); err == nil {
		t.Fatal("self-signed certificate verified against the system pool")
	}
}

// Raw protocol: errors for out-of-order commands, RSET, NOOP, long lines.
func TestProtocolErrors(t *testing.T) {
	s := New(t, Options{})
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	expect := func(cmd, code string) {
		t.Helper()
		if cmd != "" {
			fmt.Fprintf(conn, "%s\r\n", cmd)
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("after %q: %v", cmd, err)
			}
			if !strings.HasPrefix(line, code) {
				t.Fatalf("after %q got %q, want %s", cmd, line, code)
			}
			if len(line) > 3 && line[3] == ' ' {
				return
			}
		}
	}
	expect("", "220")
	expect("MAIL FROM:<a@b>", "503")
	expect("HELO me", "250")
	expect("RCPT TO:<b@c>", "503")
	expect("MAIL FROM:<a@b>", "250")
	expect("DATA", "503")
	expect("RSET", "250")
	expect("RCPT TO:<b@c>", "503")
	expect("NOOP", "250")
	expect("AUTH LOGIN", "504")
	expect("STARTTLS", "502")
	expect("BOGUS", "500")
	expect(strings.Repeat("x", 10000), "500")
	expect("MAIL FROM:<a@b>", "250")
	expect("RCPT TO:<b@c>", "250")
	expect("DATA", "354")
	fmt.Fprintf(conn, "Subject: raw\r\n\r\n%s\r\n..\r\n.\r\n", strings.Repeat("y", 9000))
	expect("", "250")
	expect("QUIT", "221")
	m, err := s.WaitFor(t.Context(), "b@c")
	if err != nil {
		t.Fatal(err)
	}
	if want := "Subject: raw\r\n\r\n" + strings.Repeat("y", 9000) + "\r\n.\r\n"; string(m.Raw) != want {
		t.Fatalf("raw of %d bytes differs from the %d sent", len(m.Raw), len(want))
	}
}

func TestMaxSize(t *testing.T) {
	s := New(t, Options{MaxSize: 100})
	c := dial(t, s)
	err := send(t, c, "a@b", []string{"c@d"}, "Subject: big\r\n\r\n"+strings.Repeat("z", 200)+"\r\n")
	if err == nil || !strings.Contains(err.Error(), "552") {
		t.Fatalf("oversized message: %v, want 552", err)
	}
	if n := len(s.Messages()); n != 0 {
		t.Fatalf("oversized message stored (%d)", n)
	}
}

func TestCloseUnblocksWaitFor(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.Addr()) // an idle client must not hold Close up
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan error, 1)
	go func() { _, err := s.WaitFor(t.Context(), "nobody@x"); done <- err }()
	time.Sleep(10 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("WaitFor returned a message from a closed sink")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake WaitFor")
	}
}
