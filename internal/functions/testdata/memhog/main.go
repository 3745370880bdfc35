// Command memhog is a test edge function that allocates and keeps memory:
// QUERY_STRING "mb=N" allocates N MiB and answers, otherwise it allocates
// until it is refused.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

var keep [][]byte

func main() {
	limit := -1
	if v, ok := strings.CutPrefix(os.Getenv("QUERY_STRING"), "mb="); ok {
		limit, _ = strconv.Atoi(v)
	}
	for i := 0; limit < 0 || i < limit; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1 // touch every page, cheaply
		}
		keep = append(keep, b)
	}
	fmt.Printf("Content-Type: text/plain\n\nallocated %d MiB\n", len(keep))
}
