// Command loop is a test edge function that never finishes on its own:
// QUERY_STRING "sleep" sleeps for an hour, anything else spins forever.
package main

import (
	"os"
	"time"
)

var sink int

func main() {
	if os.Getenv("QUERY_STRING") == "sleep" {
		time.Sleep(time.Hour)
		return
	}
	for i := 0; ; i++ {
		sink = i
	}
}
