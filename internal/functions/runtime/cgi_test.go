package runtime

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCGI(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     string
		status int
		header http.Header
		body   string
	}{
		{"crlf with reason", "Status: 201 Created\r\nContent-Type: application/json\r\n\r\n{}", 201, http.Header{"Content-Type": {"application/json"}}, "{}"},
		{"lf bare code", "Status: 404\nContent-Type: text/plain\n\nnope", 404, http.Header{"Content-Type": {"text/plain"}}, "nope"},
		{"default status and type", "X-A: 1\n\nhi", 200, http.Header{"X-A": {"1"}, "Content-Type": {"text/plain; charset=utf-8"}}, "hi"},
		{"location redirects", "Location: /elsewhere\n\n", 302, http.Header{"Location": {"/elsewhere"}}, ""},
		{"no headers", "\r\nbody\r\n\r\nmore", 200, http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, "body\r\n\r\nmore"},
		{"repeated and canonicalised", "set-cookie: a=1\nSet-Cookie: b=2\ncontent-type: text/html\n\n", 200, http.Header{"Set-Cookie": {"a=1", "b=2"}, "Content-Type": {"text/html"}}, ""},
		{"hop-by-hop dropped", "Content-Length: 999\nTransfer-Encoding: chunked\nConnection: close\nContent-Type: a/b\n\nx", 200, http.Header{"Content-Type": {"a/b"}}, "x"},
		{"value trimmed", "X-V:   spaced \t\n\n", 200, http.Header{"X-V": {"spaced"}}, ""},
		{"binary body", "Content-Type: application/octet-stream\n\n\x00\xff\n\n", 200, http.Header{"Content-Type": {"application/octet-stream"}}, "\x00\xff\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, header, body, err := parseCGI([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if status != tc.status || string(body) != tc.body {
				t.Errorf("got %d %q, want %d %q", status, body, tc.status, tc.body)
			}
			if diff := cmp.Diff(tc.header, header); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
		})
	}
	for name, in := range map[string]string{
		"empty":           "",
		"no terminator":   "Content-Type: text/plain\nbody without separator",
		"no colon":        "hello\n\n",
		"space in name":   "Bad Name: x\n\n",
		"empty name":      ": x\n\n",
		"status words":    "Status: OK\n\n",
		"status 2 digits": "Status: 99\n\n",
		"status 1xx":      "Status: 101 Switching Protocols\n\n",
		"status 600":      "Status: 600\n\n",
		"status twice":    "Status: 200\nStatus: 201\n\n",
		"control char":    "X-A: a\x01b\n\n",
		"folded line":     "X-A: a\n b\n\n",
		"huge header":     "X-A: " + strings.Repeat("a", maxHeaderBytes) + "\n\nbody",
	} {
		if _, _, _, err := parseCGI([]byte(in)); !errors.Is(err, ErrBadCGI) {
			t.Errorf("%s: err = %v, want ErrBadCGI", name, err)
		}
	}
}

func FuzzParseCGI(f *testing.F) {
	for _, s := range []string{
		"Status: 200 OK\r\nContent-Type: application/json\r\n\r\n{}",
		"Location: /x\n\n",
		"\n",
		"X: y\nStatus: 404\n\nbody\n\n",
		"no header",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		status, header, body, err := parseCGI(in)
		if err != nil {
			if !errors.Is(err, ErrBadCGI) {
				t.Fatalf("error %v does not wrap ErrBadCGI", err)
			}
			return
		}
		if status < 200 || status > 599 {
			t.Fatalf("status %d", status)
		}
		if !bytes.HasSuffix(in, body) {
			t.Fatal("body is not the tail of the output")
		}
		if len(in)-len(body) > maxHeaderBytes+1 {
			t.Fatalf("header block of %d bytes accepted", len(in)-len(body))
		}
		for k, vs := range header {
			if !validToken([]byte(k)) || isHopHeader(k) || k == "Status" {
				t.Fatalf("header %q passed through", k)
			}
			for _, v := range vs {
				if !validValue(v) {
					t.Fatalf("header %q value %q passed through", k, v)
				}
			}
		}
	})
}

func TestLogBuffer(t *testing.T) {
	b := &logBuffer{max: 8}
	b.Write([]byte("ab"))
	if got := string(b.Bytes()); got != "ab" {
		t.Errorf("short: %q", got)
	}
	b.Write([]byte("cdefgh"))
	if got := string(b.Bytes()); got != "abcdefgh" {
		t.Errorf("exactly full: %q", got)
	}
	n, err := b.Write([]byte("ijklmnopq"))
	if n != 9 || err != nil {
		t.Errorf("write = %d, %v; a full log buffer must not fail the guest", n, err)
	}
	if got, want := string(b.Bytes()), "abcd\n…[9 bytes elided]…\nnopq"; got != want {
		t.Errorf("wrapped: %q, want %q", got, want)
	}
	for range 1000 {
		b.Write([]byte("z"))
	}
	b.Write([]byte("END"))
	if got := string(b.Bytes()); !strings.HasPrefix(got, "abcd\n") || !strings.HasSuffix(got, "\nzEND") {
		t.Errorf("after many writes: %q", got)
	}
}
