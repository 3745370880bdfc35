// Command mirror is a test edge function that answers with the request body
// byte for byte, under the request's Content-Type (application/octet-stream
// when none). QUERY_STRING "status=N" sets the status; the method, path and
// the caller's x-test header come back as headers.
package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

func main() {
	body, err := io.ReadAll(os.Stdin)
	if err != nil {
		os.Exit(1)
	}
	status := 200
	for _, kv := range strings.Split(os.Getenv("QUERY_STRING"), "&") {
		if v, ok := strings.CutPrefix(kv, "status="); ok {
			status, _ = strconv.Atoi(v)
		}
	}
	ct := os.Getenv("CONTENT_TYPE")
	if ct == "" {
		ct = "application/octet-stream"
	}
	fmt.Printf("Status: %d\r\nContent-Type: %s\r\nX-Method: %s\r\nX-Path: %s\r\nX-Test-Echo: %s\r\n\r\n",
		status, ct, os.Getenv("REQUEST_METHOD"), os.Getenv("PATH_INFO"), os.Getenv("HTTP_X_TEST"))
	os.Stdout.Write(body)
}
