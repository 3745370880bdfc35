package smtpsink

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

const (
	maxLine       = 4096 // far above RFC 5321's 1000, so odd clients still work
	maxRecipients = 100
	idleTimeout   = 30 * time.Second
)

var errLineTooLong = errors.New("line too long")

type session struct {
	sink *Sink
	conn net.Conn
	r    *bufio.Reader

	helo     bool
	tls      bool
	authUser string
	authed   bool
	from     string
	haveFrom bool
	to       []string
}

func (ss *session) reply(code int, lines ...string) error {
	var b strings.Builder
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		fmt.Fprintf(&b, "%d%s%s\r\n", code, sep, l)
	}
	_ = ss.conn.SetWriteDeadline(time.Now().Add(idleTimeout))
	_, err := io.WriteString(ss.conn, b.String())
	return err
}

// readLine returns one line without its CRLF (a bare LF is accepted too).
func (ss *session) readLine() (string, error) {
	_ = ss.conn.SetReadDeadline(time.Now().Add(idleTimeout))
	line, err := ss.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		// Drain the rest of the over-long line so the dialogue can go on.
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = ss.r.ReadSlice('\n')
		}
		if err != nil {
			return "", err
		}
		return "", errLineTooLong
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

func (ss *session) resetTx() {
	ss.from, ss.haveFrom, ss.to = "", false, nil
}

func (ss *session) serve() {
	ss.r = bufio.NewReaderSize(ss.conn, maxLine)
	if ss.reply(220, ss.sink.opts.Hostname+" ESMTP smtpsink") != nil {
		return
	}
	for {
		line, err := ss.readLine()
		if errors.Is(err, errLineTooLong) {
			if ss.reply(500, "5.5.2 Line too long") != nil {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		if quit := ss.command(strings.ToUpper(verb), strings.TrimSpace(arg)); quit {
			return
		}
	}
}

// command handles one command line; it returns true to end the session.
func (ss *session) command(verb, arg string) bool {
	o := ss.sink.opts
	var err error
	switch verb {
	case "EHLO":
		if arg == "" {
			err = ss.reply(501, "5.5.4 EHLO needs a domain")
			break
		}
		ss.helo = true
		ss.resetTx()
		lines := []string{o.Hostname + " greets " + arg, "8BITMIME", fmt.Sprintf("SIZE %d", o.MaxSize)}
		if ss.sink.tls != nil && !ss.tls && !ss.sink.opts.ImplicitTLS {
			lines = append(lines, "STARTTLS")
		}
		if !ss.authed {
			lines = append(lines, "AUTH PLAIN")
		}
		lines = append(lines, "HELP")
		err = ss.reply(250, lines...)
	case "HELO":
		if arg == "" {
			err = ss.reply(501, "5.5.4 HELO needs a domain")
			break
		}
		ss.helo = true
		ss.resetTx()
		err = ss.reply(250, o.Hostname)
	case "STARTTLS":
		return ss.startTLS()
	case "AUTH":
		err = ss.auth(arg)
	case "MAIL":
		err = ss.mail(arg)
	case "RCPT":
		err = ss.rcpt(arg)
	case "DATA":
		return ss.data()
	case "RSET":
		ss.resetTx()
		err = ss.reply(250, "2.0.0 OK")
	case "NOOP":
		err = ss.reply(250, "2.0.0 OK")
	case "VRFY":
		err = ss.reply(252, "2.1.5 Cannot verify, will accept")
	case "QUIT":
		_ = ss.reply(221, "2.0.0 Bye")
		return true
	default:
		err = ss.reply(500, "5.5.2 Unknown command")
	}
	return err != nil
}

func (ss *session) startTLS() bool {
	if ss.sink.tls == nil || ss.tls || ss.sink.opts.ImplicitTLS {
		return ss.reply(502, "5.5.1 STARTTLS not available") != nil
	}
	if ss.reply(220, "2.0.0 Ready to start TLS") != nil {
		return true
	}
	// Anything the client pipelined before the handshake would be a
	// plaintext injection; RFC 3207 says to discard it, and we refuse.
	if ss.r.Buffered() > 0 {
		return true
	}
	tc := tls.Server(ss.conn, ss.sink.tls)
	ctx, cancel := context.WithTimeout(context.Background(), idleTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return true
	}
	ss.sink.swapConn(ss.conn, tc)
	ss.conn = tc
	ss.r = bufio.NewReaderSize(tc, maxLine)
	ss.tls = true
	// RFC 3207: forget everything learnt before TLS, including EHLO.
	ss.helo, ss.authed, ss.authUser = false, false, ""
	ss.resetTx()
	return false
}

func (ss *session) auth(arg string) error {
	if ss.authed {
		return ss.reply(503, "5.5.1 Already authenticated")
	}
	if ss.haveFrom {
		return ss.reply(503, "5.5.1 AUTH not allowed during a mail transaction")
	}
	mech, initial, _ := strings.Cut(arg, " ")
	if !strings.EqualFold(mech, "PLAIN") {
		return ss.reply(504, "5.5.4 Unrecognized authentication type")
	}
	resp := strings.TrimSpace(initial)
	if resp == "" {
		if err := ss.reply(334, ""); err != nil {
			return err
		}
		line, err := ss.readLine()
		if err != nil {
			return err
		}
		resp = strings.TrimSpace(line)
	}
	if resp == "*" {
		return ss.reply(501, "5.7.0 Authentication cancelled")
	}
	raw, err := base64.StdEncoding.DecodeString(resp)
	if err != nil {
		return ss.reply(501, "5.5.2 Cannot decode response")
	}
	parts := bytes.Split(raw, []byte{0})
	if len(parts) != 3 {
		return ss.reply(501, "5.5.2 Malformed PLAIN response")
	}
	user, pass := string(parts[1]), string(parts[2])
	o := ss.sink.opts
	if o.Username != "" && (user != o.Username || pass != o.Password) {
		return ss.reply(535, "5.7.8 Authentication credentials invalid")
	}
	ss.authed, ss.authUser = true, user
	return ss.reply(235, "2.7.0 Authentication successful")
}

// pathArg extracts the address from "FROM:<a@b> PARAMS" / "TO:<a@b>".
func pathArg(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", false
	}
	return rest[1:end], true
}

func (ss *session) mail(arg string) error {
	o := ss.sink.opts
	switch {
	case !ss.helo:
		return ss.reply(503, "5.5.1 Send EHLO or HELO first")
	case o.RequireTLS && !ss.tls:
		return ss.reply(530, "5.7.0 Must issue a STARTTLS command first")
	case o.RequireAuth && !ss.authed:
		return ss.reply(530, "5.7.0 Authentication required")
	case ss.haveFrom:
		return ss.reply(503, "5.5.1 Sender already given")
	}
	addr, ok := pathArg(arg, "FROM:")
	if !ok {
		return ss.reply(501, "5.5.4 Syntax: MAIL FROM:<address>")
	}
	ss.from, ss.haveFrom = addr, true
	return ss.reply(250, "2.1.0 OK")
}

func (ss *session) rcpt(arg string) error {
	if !ss.haveFrom {
		return ss.reply(503, "5.5.1 Need MAIL before RCPT")
	}
	addr, ok := pathArg(arg, "TO:")
	if !ok || addr == "" {
		return ss.reply(501, "5.5.4 Syntax: RCPT TO:<address>")
	}
	if len(ss.to) >= maxRecipients {
		return ss.reply(452, "4.5.3 Too many recipients")
	}
	ss.to = append(ss.to, addr)
	return ss.reply(250, "2.1.5 OK")
}

// data reads the message up to the lone "." line, undoing dot-stuffing.
func (ss *session) data() bool {
	if len(ss.to) == 0 {
		return ss.reply(503, "5.5.1 Need RCPT before DATA") != nil
	}
	if ss.reply(354, "End data with <CR><LF>.<CR><LF>") != nil {
		return true
	}
	var buf bytes.Buffer
	tooBig := false
	atStart := true // whether the next chunk begins a line
	for {
		_ = ss.conn.SetReadDeadline(time.Now().Add(idleTimeout))
		chunk, err := ss.r.ReadSlice('\n')
		full := err == nil
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return true
		}
		if atStart && full && string(bytes.TrimRight(chunk, "\r\n")) == "." {
			break
		}
		if atStart && len(chunk) > 0 && chunk[0] == '.' {
			chunk = chunk[1:]
		}
		atStart = full
		if tooBig || buf.Len()+len(chunk) > ss.sink.opts.MaxSize {
			tooBig = true
			continue
		}
		buf.Write(chunk)
	}
	from, to := ss.from, ss.to
	ss.resetTx()
	if tooBig {
		return ss.reply(552, "5.3.4 Message too big") != nil
	}
	m := Parse(buf.Bytes())
	m.From, m.To, m.TLS, m.AuthUser = from, to, ss.tls, ss.authUser
	id := ss.sink.store(m)
	return ss.reply(250, "2.0.0 OK queued as "+id) != nil
}
