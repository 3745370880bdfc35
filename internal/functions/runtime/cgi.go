package runtime

import (
	"bytes"
	"fmt"
	"net/http"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
)

// maxHeaderBytes bounds the CGI header block a guest may write before its body.
const maxHeaderBytes = 64 << 10

// isHopHeader reports headers dropped from guest responses: the HTTP layer
// owns framing (the body length is known once the guest exits) and connection
// management.
func isHopHeader(key string) bool {
	switch key {
	case "Connection", "Content-Length", "Keep-Alive", "Proxy-Connection", "Te",
		"Trailer", "Transfer-Encoding", "Upgrade", "Proxy-Authenticate", "Proxy-Authorization":
		return true
	}
	return false
}

// parseCGI splits a guest's stdout into status, headers and body (RFC 3875
// §6): header lines ended by LF or CRLF, a blank line, then the body. A
// "Status" header sets the code (its reason phrase is ignored); without one
// the status is 302 when "Location" is present and 200 otherwise. A non-empty
// body without Content-Type gets text/plain.
func parseCGI(out []byte) (status int, header http.Header, body []byte, err error) {
	head, body, ok := splitHead(out)
	if !ok {
		if len(out) == 0 {
			return 0, nil, nil, fmt.Errorf("%w: no output", ErrBadCGI)
		}
		return 0, nil, nil, fmt.Errorf("%w: no blank line ending the headers within %d bytes", ErrBadCGI, maxHeaderBytes)
	}
	header = http.Header{}
	status = 0
	for len(head) > 0 {
		var line []byte
		line, head, _ = bytes.Cut(head, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found || !validToken(name) {
			return 0, nil, nil, fmt.Errorf("%w: malformed header line %q", ErrBadCGI, truncate(line, 80))
		}
		v := strings.Trim(string(value), " \t")
		if !validValue(v) {
			return 0, nil, nil, fmt.Errorf("%w: invalid value for header %q", ErrBadCGI, name)
		}
		key := textproto.CanonicalMIMEHeaderKey(string(name))
		if key == "Status" {
			if status != 0 {
				return 0, nil, nil, fmt.Errorf("%w: repeated Status header", ErrBadCGI)
			}
			if status, err = parseStatus(v); err != nil {
				return 0, nil, nil, err
			}
			continue
		}
		if isHopHeader(key) {
			continue
		}
		header[key] = append(header[key], v)
	}
	if status == 0 {
		status = http.StatusOK
		if header.Get("Location") != "" {
			status = http.StatusFound
		}
	}
	if len(body) > 0 && header.Get("Content-Type") == "" {
		header.Set("Content-Type", "text/plain; charset=utf-8")
	}
	return status, header, body, nil
}

// splitHead finds the first empty line (LF or CRLF terminated) within the
// header allowance.
func splitHead(out []byte) (head, body []byte, ok bool) {
	limit := min(len(out), maxHeaderBytes)
	for i := 0; i < limit; {
		j := bytes.IndexByte(out[i:limit], '\n')
		if j < 0 {
			return nil, nil, false
		}
		line := out[i : i+j]
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return out[:i], out[i+j+1:], true
		}
		i += j + 1
	}
	return nil, nil, false
}

func parseStatus(v string) (int, error) {
	code, _, _ := strings.Cut(v, " ")
	n, err := strconv.Atoi(code)
	if err != nil || len(code) != 3 || n < 200 || n > 599 {
		return 0, fmt.Errorf("%w: invalid Status %q (want a code 200-599)", ErrBadCGI, truncate([]byte(v), 40))
	}
	return n, nil
}

func validToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func validValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// cgiEnv builds the guest environment (RFC 3875 §4.1). Precedence, lowest
// first: HTTP_* from request headers, then req.Env (so the HTTP layer can
// replace e.g. HTTP_AUTHORIZATION with verified values and a client cannot
// spoof an injected variable through a header), then the request
// meta-variables, which describe the request itself and are never overridden.
// The result is sorted so guests see a deterministic order.
func cgiEnv(req *Request, bodyLen int) ([][2]string, error) {
	env := map[string]string{}
	for name, values := range req.Header {
		if !validToken([]byte(name)) {
			continue
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		if key == "Content-Type" || key == "Content-Length" {
			continue
		}
		v := strings.Join(values, ", ")
		if !validValue(v) {
			continue
		}
		env["HTTP_"+strings.ToUpper(strings.ReplaceAll(key, "-", "_"))] = v
	}
	for k, v := range req.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.IndexByte(v, 0) >= 0 {
			return nil, fmt.Errorf("functions/runtime: invalid environment variable %q", k)
		}
		env[k] = v
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	path := req.Path
	if path == "" {
		path = "/"
	}
	uri := path
	if req.RawQuery != "" {
		uri += "?" + req.RawQuery
	}
	for k, v := range map[string]string{
		"GATEWAY_INTERFACE": "CGI/1.1",
		"SERVER_PROTOCOL":   "HTTP/1.1",
		"SERVER_SOFTWARE":   "madbase",
		"REQUEST_METHOD":    method,
		"PATH_INFO":         path,
		"SCRIPT_NAME":       "",
		"QUERY_STRING":      req.RawQuery,
		"REQUEST_URI":       uri,
		"CONTENT_TYPE":      req.Header.Get("Content-Type"),
		"CONTENT_LENGTH":    strconv.Itoa(bodyLen),
	} {
		if strings.IndexByte(v, 0) >= 0 {
			return nil, fmt.Errorf("functions/runtime: NUL byte in %s", k)
		}
		env[k] = v
	}
	if bodyLen == 0 {
		// RFC 3875: CONTENT_LENGTH is NULL (unset) when there is no body.
		delete(env, "CONTENT_LENGTH")
	}
	if env["CONTENT_TYPE"] == "" {
		delete(env, "CONTENT_TYPE")
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][2]string, len(keys))
	for i, k := range keys {
		out[i] = [2]string{k, env[k]}
	}
	return out, nil
}
