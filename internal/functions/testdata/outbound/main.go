// Command outbound is a test edge function that makes an outbound HTTP request
// through the madbase host module to the URL in QUERY_STRING and answers with
// the result code and the raw response.
package main

import (
	"fmt"
	"net/url"
	"os"
	"unsafe"
)

//go:wasmimport madbase http_request
func httpRequest(req unsafe.Pointer, reqLen uint32, respLen unsafe.Pointer) uint32

//go:wasmimport madbase http_response
func httpResponse(buf unsafe.Pointer, bufLen uint32) uint32

func main() {
	target, err := url.QueryUnescape(os.Getenv("QUERY_STRING"))
	if err != nil {
		panic(err)
	}
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	req := []byte(fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nX-From: guest\r\nContent-Length: 5\r\n\r\nhello", target, u.Host))
	var n uint32
	code := httpRequest(unsafe.Pointer(&req[0]), uint32(len(req)), unsafe.Pointer(&n))
	var resp []byte
	if code == 0 {
		resp = make([]byte, n)
		code = httpResponse(unsafe.Pointer(&resp[0]), n)
	}
	fmt.Printf("Content-Type: text/plain\n\ncode=%d\n%s", code, resp)
}
