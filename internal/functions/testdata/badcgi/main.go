// Command badcgi is a test edge function that writes output that is not a CGI
// response; QUERY_STRING picks the defect.
package main

import (
	"fmt"
	"os"
)

func main() {
	switch os.Getenv("QUERY_STRING") {
	case "noheaders":
		fmt.Print("hello world, no header block at all")
	case "badline":
		fmt.Print("this is not a header\n\nbody")
	case "badstatus":
		fmt.Print("Status: abc\n\nbody")
	case "empty":
	default:
		fmt.Print("Status: 99\n\nbody")
	}
}
