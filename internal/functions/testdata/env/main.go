// Command env is a test edge function: it answers with its whole environment
// as a JSON object, so tests can check what is (and is not) injected.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

func main() {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	_, err := os.ReadFile("/etc/passwd")
	env["__fs_error"] = fmt.Sprint(err != nil)
	out, _ := json.Marshal(env)
	fmt.Printf("Status: 200\nContent-Type: application/json\n\n%s", out)
}
