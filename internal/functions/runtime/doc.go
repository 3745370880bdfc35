// Package runtime executes MadBase edge functions: WebAssembly modules run
// in-process by wazero, one fresh instance per request, under per-request
// limits of time, memory, request and response size.
//
// # Guest ABI
//
// A function is a WASI preview1 command module (it exports _start; Go:
// GOOS=wasip1 GOARCH=wasm go build). Each request runs it once, CGI style
// (RFC 3875):
//
//   - stdin is the request body;
//   - the environment holds REQUEST_METHOD, PATH_INFO, QUERY_STRING,
//     REQUEST_URI, CONTENT_TYPE and CONTENT_LENGTH (both unset without a
//     body), GATEWAY_INTERFACE, SERVER_PROTOCOL, SERVER_SOFTWARE, one HTTP_<NAME>
//     per request header (upper case, '-' as '_', repeated values joined by
//     ", "), and the caller's extra variables (secrets, SUPABASE_URL, …);
//     no host variables leak in;
//   - stdout is the response: header lines ended by LF or CRLF, a blank line,
//     then the body. "Status: 404" or "Status: 404 Not Found" sets the status
//     (200-599; default 200, or 302 when Location is set); a non-empty body
//     without Content-Type is served as text/plain; hop-by-hop headers and
//     Content-Length are dropped (the body length is known on exit);
//   - stderr is captured for logs (first and last 32 KiB);
//   - the guest must exit with code 0 for its output to be used.
//
// Guests get real clocks and a cryptographic random source, but no files, no
// sockets and no arguments beyond argv[0].
//
// # Outbound HTTP
//
// The import module "madbase" offers outbound HTTP, limited to the request's
// AllowHosts (empty: everything refused). All parameters and results are i32:
//
//	http_request(req_ptr, req_len, resp_len_ptr) -> code
//	http_response(buf_ptr, buf_len) -> code
//
// The request at req_ptr is an HTTP/1.1 request in proxy form, the absolute
// URL in the request line, as Go's (*http.Request).WriteProxy writes it:
//
//	GET https://api.example.com/v1/x HTTP/1.1\r\nHost: api.example.com\r\n\r\n
//
// On success http_request stores the length of the serialized response at
// resp_len_ptr (u32 little endian) and the guest fetches it with
// http_response into a buffer at least that large. The response is an
// HTTP/1.1 response with Content-Length framing (parse it with
// http.ReadResponse). Redirects are not followed. The response body is
// bounded by MaxResponseBody and the call by the invocation's deadline.
// Codes: 0 ok, 1 host not allowed, 2 malformed request, 3 transport failure,
// 4 response too large, 5 no pending response, 6 pointer out of range,
// 7 buffer too small.
//
// # Cost
//
// Compile is slow (about a second for a 3 MB Go module on one core, a tenth of
// that from the on-disk cache): do it at deploy or start-up, keep the Module.
// It also coalesces the module's data segments (see dataseg.go), without which
// a Go guest spends a third of every instantiation evaluating them. Invoke
// instantiates afresh each time, about 2-3 ms for a Go echo, most of it the
// guest's own runtime start-up.
//
// # Errors
//
// Invoke's errors wrap ErrTimeout, ErrMemory, ErrRequestTooLarge,
// ErrResponseTooLarge, ErrBadCGI or ErrTrap; StatusFor maps them to the status
// and sb-error-code Supabase answers with.
//
// It may import the standard library and wazero only; it knows nothing of
// projects, storage of modules, or HTTP routing.
package runtime
