// Command echo is a test edge function: it answers with a JSON description of
// the request it received (method, path, query, headers, body).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	body, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "read stdin:", err)
		os.Exit(1)
	}
	headers := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if name, ok := strings.CutPrefix(k, "HTTP_"); ok {
			headers[strings.ToLower(strings.ReplaceAll(name, "_", "-"))] = v
		}
	}
	out, _ := json.Marshal(map[string]any{
		"method":         os.Getenv("REQUEST_METHOD"),
		"path":           os.Getenv("PATH_INFO"),
		"query":          os.Getenv("QUERY_STRING"),
		"content_type":   os.Getenv("CONTENT_TYPE"),
		"content_length": os.Getenv("CONTENT_LENGTH"),
		"headers":        headers,
		"body":           string(body),
	})
	fmt.Fprintln(os.Stderr, "echo: handled", os.Getenv("REQUEST_METHOD"), os.Getenv("PATH_INFO"))
	fmt.Print("Status: 200 OK\r\nContent-Type: application/json\r\nX-Function: echo\r\n\r\n")
	os.Stdout.Write(out)
}
