package smtpsink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure a Sink. The zero value is a plain server that accepts
// any sender and recipient, offers AUTH PLAIN with any credentials, and
// offers no TLS.
type Options struct {
	// TLS offers STARTTLS using a self-signed certificate for 127.0.0.1
	// and localhost; CertPool returns a pool that trusts it.
	TLS bool
	// RequireTLS refuses MAIL until STARTTLS has been done (implies TLS).
	RequireTLS bool
	// ImplicitTLS serves TLS from the first byte (SMTPS, as on port 465)
	// instead of offering STARTTLS; CertPool trusts its certificate.
	ImplicitTLS bool
	// Username and Password, when Username is set, are the only
	// credentials AUTH PLAIN accepts.
	Username, Password string
	// RequireAuth refuses MAIL until AUTH has succeeded.
	RequireAuth bool
	// MaxSize bounds a message's DATA; default 10 MiB.
	MaxSize int
	// Hostname is the name in the greeting; default "smtpsink.test".
	Hostname string
}

// Sink is a running SMTP server. Its methods are safe for concurrent use.
type Sink struct {
	opts Options
	ln   net.Listener
	tls  *tls.Config
	pool *x509.CertPool

	mu      sync.Mutex
	msgs    []Message
	taken   []bool        // taken[i]: msgs[i] already returned by WaitFor
	arrived chan struct{} // closed and replaced whenever a message arrives
	conns   map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
	nextID  int
}

// Start listens on 127.0.0.1 on a free port and serves until Close.
func Start(opts Options) (*Sink, error) {
	if opts.RequireTLS {
		opts.TLS = true
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = 10 << 20
	}
	if opts.Hostname == "" {
		opts.Hostname = "smtpsink.test"
	}
	s := &Sink{opts: opts, arrived: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	if opts.TLS || opts.ImplicitTLS {
		cert, pool, err := selfSigned()
		if err != nil {
			return nil, err
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.pool = pool
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("smtpsink: listen: %w", err)
	}
	s.ln = ln
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// New starts a Sink for a test and closes it when the test ends.
func New(tb testing.TB, opts Options) *Sink {
	tb.Helper()
	s, err := Start(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// Addr is the listening address, "127.0.0.1:port".
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Host is the listening IP, "127.0.0.1".
func (s *Sink) Host() string { h, _, _ := net.SplitHostPort(s.Addr()); return h }

// Port is the listening port.
func (s *Sink) Port() int {
	_, p, _ := net.SplitHostPort(s.Addr())
	n, _ := strconv.Atoi(p)
	return n
}

// CertPool trusts the sink's STARTTLS certificate; nil without TLS.
func (s *Sink) CertPool() *x509.CertPool { return s.pool }

// Messages returns every message received so far, oldest first.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.msgs))
	copy(out, s.msgs)
	return out
}

// Reset forgets every message received so far.
func (s *Sink) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs, s.taken = nil, nil
}

// WaitFor returns the oldest message addressed to `to` (compared without
// regard to case) that no earlier WaitFor call has returned, waiting for
// one to arrive until ctx ends. Consuming messages this way lets a test
// trigger a second email and wait for that one, not the first again.
func (s *Sink) WaitFor(ctx context.Context, to string) (Message, error) {
	for {
		s.mu.Lock()
		for i, m := range s.msgs {
			if !s.taken[i] && m.SentTo(to) {
				s.taken[i] = true
				s.mu.Unlock()
				return m, nil
			}
		}
		arrived, closed := s.arrived, s.closed
		s.mu.Unlock()
		if closed {
			return Message{}, errors.New("smtpsink: closed")
		}
		select {
		case <-arrived:
		case <-ctx.Done():
			return Message{}, fmt.Errorf("smtpsink: no message to %s: %w", to, ctx.Err())
		}
	}
}

// Close stops the server, drops open connections and waits for them.
func (s *Sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	close(s.arrived)
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *Sink) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			sess := &session{sink: s, conn: c}
			if s.opts.ImplicitTLS {
				tc := tls.Server(c, s.tls)
				s.swapConn(c, tc)
				sess.conn, sess.tls = tc, true
			}
			sess.serve()
			s.mu.Lock()
			delete(s.conns, sess.conn)
			delete(s.conns, c)
			s.mu.Unlock()
			_ = sess.conn.Close()
		}()
	}
}

// swapConn records the TLS connection that replaced c, so Close reaches it.
func (s *Sink) swapConn(old, cur net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, old)
	s.conns[cur] = struct{}{}
}

func (s *Sink) store(m Message) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	id := fmt.Sprintf("sink%d", s.nextID)
	m.ID = id
	m.Received = time.Now()
	s.msgs = append(s.msgs, m)
	s.taken = append(s.taken, false)
	if !s.closed {
		close(s.arrived)
		s.arrived = make(chan struct{})
	}
	return id
}

// SentTo reports whether addr is among m's envelope recipients.
func (m Message) SentTo(addr string) bool {
	for _, t := range m.To {
		if strings.EqualFold(t, addr) {
			return true
		}
	}
	return false
}
