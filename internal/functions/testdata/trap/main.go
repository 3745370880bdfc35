// Command trap is a test edge function that crashes: QUERY_STRING "panic"
// panics, "exit" exits with code 3, "nil" dereferences a nil pointer.
package main

import (
	"fmt"
	"os"
)

type box struct{ v int }

func main() {
	fmt.Fprintln(os.Stderr, "about to crash")
	switch os.Getenv("QUERY_STRING") {
	case "exit":
		os.Exit(3)
	case "nil":
		var b *box
		fmt.Println(b.v)
	default:
		panic("boom")
	}
}
