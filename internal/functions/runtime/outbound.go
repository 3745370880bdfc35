package runtime

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// hostModuleName is the import module of MadBase's host functions.
const hostModuleName = "madbase"

// Result codes of madbase.http_request and madbase.http_response (see doc.go).
const (
	httpOK          = 0
	httpDenied      = 1
	httpBadRequest  = 2
	httpFailed      = 3
	httpTooLarge    = 4
	httpNoResponse  = 5
	httpBadPointer  = 6
	httpSmallBuffer = 7
)

type invocationKey struct{}

// invocation is the per-request state host functions reach through the
// context wazero hands them.
type invocation struct {
	rt          *Runtime
	allow       []string
	maxResponse int64
	pending     []byte // serialized response awaiting http_response
}

func (rt *Runtime) instantiateHost(ctx context.Context) error {
	return rt.instantiateHostInto(ctx, rt.wr)
}

func (rt *Runtime) instantiateHostInto(ctx context.Context, wr wazero.Runtime) error {
	i32 := api.ValueTypeI32
	_, err := wr.NewHostModuleBuilder(hostModuleName).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(httpRequest), []api.ValueType{i32, i32, i32}, []api.ValueType{i32}).
		WithParameterNames("req_ptr", "req_len", "resp_len_ptr").
		Export("http_request").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(httpResponse), []api.ValueType{i32, i32}, []api.ValueType{i32}).
		WithParameterNames("buf_ptr", "buf_len").
		Export("http_response").
		Instantiate(ctx)
	return err
}

// httpRequest implements madbase.http_request(req_ptr, req_len, resp_len_ptr) -> code.
func httpRequest(ctx context.Context, mod api.Module, stack []uint64) {
	ptr, n, lenPtr := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	stack[0] = uint64(doHTTPRequest(ctx, mod, ptr, n, lenPtr))
}

func doHTTPRequest(ctx context.Context, mod api.Module, ptr, n, lenPtr uint32) uint32 {
	inv, _ := ctx.Value(invocationKey{}).(*invocation)
	if inv == nil {
		return httpDenied
	}
	inv.pending = nil
	raw, ok := mod.Memory().Read(ptr, n)
	if !ok {
		return httpBadPointer
	}
	// Copy: guest memory may move when the guest grows it later.
	in, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(bytes.Clone(raw))))
	if err != nil || in.URL == nil || (in.URL.Scheme != "http" && in.URL.Scheme != "https") || in.URL.Host == "" {
		return httpBadRequest
	}
	if !hostAllowed(inv.allow, in.URL.Host, in.URL.Scheme) {
		return httpDenied
	}
	reqBody, err := io.ReadAll(in.Body)
	if err != nil {
		return httpBadRequest
	}
	out, err := http.NewRequestWithContext(ctx, in.Method, in.URL.String(), bytes.NewReader(reqBody))
	if err != nil {
		return httpBadRequest
	}
	for k, v := range in.Header {
		if !isHopHeader(k) && k != "Host" {
			out.Header[k] = v
		}
	}
	res, err := inv.rt.client.Do(out)
	if err != nil {
		return httpFailed
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, inv.maxResponse+1))
	if err != nil {
		return httpFailed
	}
	if int64(len(body)) > inv.maxResponse {
		return httpTooLarge
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "HTTP/1.1 %03d %s\r\n", res.StatusCode, http.StatusText(res.StatusCode))
	h := res.Header.Clone()
	for k := range h {
		if isHopHeader(k) {
			delete(h, k)
		}
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	_ = h.Write(&buf)
	buf.WriteString("\r\n")
	buf.Write(body)
	inv.pending = buf.Bytes()
	if !mod.Memory().WriteUint32Le(lenPtr, uint32(len(inv.pending))) {
		inv.pending = nil
		return httpBadPointer
	}
	return httpOK
}

// httpResponse implements madbase.http_response(buf_ptr, buf_len) -> code.
func httpResponse(ctx context.Context, mod api.Module, stack []uint64) {
	ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	stack[0] = uint64(func() uint32 {
		inv, _ := ctx.Value(invocationKey{}).(*invocation)
		if inv == nil || inv.pending == nil {
			return httpNoResponse
		}
		if uint64(n) < uint64(len(inv.pending)) {
			return httpSmallBuffer
		}
		if !mod.Memory().Write(ptr, inv.pending) {
			return httpBadPointer
		}
		inv.pending = nil
		return httpOK
	}())
}

// hostAllowed matches hostport against the allow-list: "host" allows any port,
// "host:port" one port, "*.domain" any subdomain of domain (not domain itself,
// never an IP literal).
// Comparison is case-insensitive and by name: an allowed name resolving to an
// internal address is the deployer's choice.
func hostAllowed(allow []string, hostport, scheme string) bool {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	host = strings.ToLower(strings.Trim(host, "[]"))
	for _, a := range allow {
		a = strings.ToLower(a)
		if ah, ap, err := net.SplitHostPort(a); err == nil {
			if ap == port && strings.Trim(ah, "[]") == host {
				return true
			}
			continue
		}
		if suffix, ok := strings.CutPrefix(a, "*."); ok {
			if net.ParseIP(host) == nil && strings.HasSuffix(host, "."+suffix) {
				return true
			}
			continue
		}
		if strings.Trim(a, "[]") == host {
			return true
		}
	}
	return false
}
