// Package syncbuf is a bytes.Buffer that one goroutine may write (a logger,
// a child process's output) while a test reads it.
package syncbuf
