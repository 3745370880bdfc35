package main

import (
	"context"
	"fmt"
	"io"
)

func dev(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "madbase dev: not implemented yet")
	return 1
}
