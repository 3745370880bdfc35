package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/smtp"
	"strconv"
	"time"
)

// Config is a project's SMTP transport.
type Config struct {
	Host string
	Port int // default 587
	// User and Pass, when User is set, authenticate with AUTH PLAIN. The
	// client refuses to send them unencrypted to a host that is not
	// loopback.
	User, Pass string
	// Sender is the From address, "Name <addr>" or "addr".
	Sender string
	// ImplicitTLS speaks TLS from the first byte (SMTPS, usually port 465)
	// instead of upgrading with STARTTLS.
	ImplicitTLS bool
	// InsecureSkipVerify accepts any server certificate; for local testing.
	InsecureSkipVerify bool
	// RootCAs, when set, replaces the system roots for verifying the server.
	RootCAs *x509.CertPool
	// HelloName is the EHLO name; default "localhost".
	HelloName string
	// Timeout bounds one Send when ctx has no earlier deadline; default 30s.
	Timeout time.Duration
}

// Client delivers messages over SMTP, one connection per Send. It is safe
// for concurrent use.
type Client struct {
	cfg  Config
	from *netmail.Address
}

// NewClient checks cfg and returns a Client for it.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Host == "" {
		return nil, errors.New("mail: SMTP host not set")
	}
	if cfg.Port == 0 {
		cfg.Port = 587
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return nil, fmt.Errorf("mail: SMTP port %d out of range", cfg.Port)
	}
	from, err := netmail.ParseAddress(cfg.Sender)
	if err != nil {
		return nil, fmt.Errorf("mail: sender %q: %w", cfg.Sender, err)
	}
	if cfg.HelloName == "" {
		cfg.HelloName = "localhost"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	return &Client{cfg: cfg, from: from}, nil
}

// Sender is the parsed From address.
func (c *Client) Sender() string { return c.from.String() }

func (c *Client) tlsConfig() *tls.Config {
	return &tls.Config{
		ServerName:         c.cfg.Host,
		RootCAs:            c.cfg.RootCAs,
		InsecureSkipVerify: c.cfg.InsecureSkipVerify, // opt-in, for local test servers
		MinVersion:         tls.VersionTLS12,
	}
}

// Send composes msg and delivers it. The whole exchange is bounded by ctx
// (and Config.Timeout); on cancellation the connection is closed and the
// ctx error returned.
func (c *Client) Send(ctx context.Context, msg Message) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	raw, err := Compose(c.from.String(), msg, time.Now())
	if err != nil {
		return err
	}
	rcpts := make([]string, len(msg.To))
	for i, r := range msg.To {
		a, err := netmail.ParseAddress(r) // Compose already validated it
		if err != nil {
			return fmt.Errorf("mail: recipient %q: %w", r, err)
		}
		rcpts[i] = a.Address
	}
	if err := c.deliver(ctx, rcpts, raw); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("mail: send to %s:%d: %w", c.cfg.Host, c.cfg.Port, ctxErr)
		}
		return fmt.Errorf("mail: send to %s:%d: %w", c.cfg.Host, c.cfg.Port, err)
	}
	return nil
}

func (c *Client) deliver(ctx context.Context, rcpts []string, raw []byte) error {
	addr := net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.cfg.Port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	// net/smtp has no context support: closing the connection when ctx ends
	// unblocks any read or write. The I/O deadline is only a backstop, set
	// a little later so the error seen is ctx's, not a bare i/o timeout.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl.Add(time.Second))
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	if c.cfg.ImplicitTLS {
		tc := tls.Client(conn, c.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		conn = tc
	}
	sc, err := smtp.NewClient(conn, c.cfg.Host)
	if err != nil {
		return err
	}
	defer sc.Close()
	if err := sc.Hello(c.cfg.HelloName); err != nil {
		return err
	}
	if ok, _ := sc.Extension("STARTTLS"); ok && !c.cfg.ImplicitTLS {
		if err := sc.StartTLS(c.tlsConfig()); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if c.cfg.User != "" {
		if ok, _ := sc.Extension("AUTH"); !ok {
			return errors.New("credentials configured but the server offers no AUTH")
		}
		if err := sc.Auth(smtp.PlainAuth("", c.cfg.User, c.cfg.Pass, c.cfg.Host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := sc.Mail(c.from.Address); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := sc.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := sc.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(raw); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return sc.Quit()
}

// SendKind renders kind's template from ts with d and sends it to `to`.
func (c *Client) SendKind(ctx context.Context, ts *Templates, kind Kind, to string, d Data) error {
	msg, err := ts.Render(kind, d)
	if err != nil {
		return err
	}
	msg.To = []string{to}
	return c.Send(ctx, msg)
}
