// Command flood is a test edge function that writes a large body: QUERY_STRING
// "n=N" writes exactly N bytes, otherwise it writes forever.
package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

func main() {
	n := -1
	if v, ok := strings.CutPrefix(os.Getenv("QUERY_STRING"), "n="); ok {
		n, _ = strconv.Atoi(v)
	}
	fmt.Print("Content-Type: application/octet-stream\n\n")
	chunk := bytes.Repeat([]byte("x"), 4096)
	for written := 0; n < 0 || written < n; {
		k := len(chunk)
		if n >= 0 {
			k = min(k, n-written)
		}
		os.Stdout.Write(chunk[:k])
		written += k
	}
}
