package functions

import (
	"bytes"
	"fmt"
	"sync"
	"time"
)

// LogEntry is one invocation as kept for GET …/functions/{name}/logs.
type LogEntry struct {
	Time        time.Time `json:"timestamp"`
	RequestID   string    `json:"request_id,omitempty"`
	Version     int       `json:"version"`
	Method      string    `json:"method"`
	Path        string    `json:"path"`
	Status      int       `json:"status"`
	DurationMS  float64   `json:"duration_ms"`
	MemoryBytes uint64    `json:"memory_bytes"`
	Error       string    `json:"error,omitempty"`
	// Lines are the function's stderr lines (bounded: see maxLogLine and
	// maxLogText).
	Lines []string `json:"lines"`
}

const (
	maxLogLine = 10000    // Supabase's log line limit
	maxLogText = 16 << 10 // per invocation, first and last halves kept
)

// logBook keeps the last n invocations of every function in memory.
type logBook struct {
	n     int
	mu    sync.Mutex
	rings map[fnKey]*ring
}

type fnKey struct{ ref, name string }

type ring struct {
	entries []LogEntry
	next    int
}

func newLogBook(n int) *logBook { return &logBook{n: n, rings: map[fnKey]*ring{}} }

func (b *logBook) add(k fnKey, e LogEntry) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.rings[k]
	if r == nil {
		r = &ring{}
		b.rings[k] = r
	}
	if len(r.entries) < b.n {
		r.entries = append(r.entries, e)
		return
	}
	r.entries[r.next] = e
	r.next = (r.next + 1) % b.n
}

// get returns up to limit of k's newest entries, oldest first.
func (b *logBook) get(k fnKey, limit int) []LogEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := []LogEntry{}
	r := b.rings[k]
	if r == nil {
		return out
	}
	out = append(out, r.entries[r.next:]...)
	out = append(out, r.entries[:r.next]...)
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}

// drop forgets a function's entries, or a whole project's when name is "".
func (b *logBook) drop(ref, name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.rings {
		if k.ref == ref && (name == "" || k.name == name) {
			delete(b.rings, k)
		}
	}
}

// logLines splits stderr into lines, cutting long lines and, past
// maxLogText, the middle lines (first logs and the final panic matter most).
func logLines(stderr []byte) []string {
	lines := []string{}
	for len(stderr) > 0 {
		line, rest, _ := bytes.Cut(stderr, []byte{'\n'})
		stderr = rest
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) > maxLogLine {
			line = append(line[:maxLogLine:maxLogLine], "…"...)
		}
		lines = append(lines, string(line))
	}
	total := 0
	for _, l := range lines {
		total += len(l)
	}
	if total <= maxLogText {
		return lines
	}
	var head, tail []string
	n := 0
	for _, l := range lines {
		if n+len(l) > maxLogText/2 {
			break
		}
		head = append(head, l)
		n += len(l)
	}
	n = 0
	for i := len(lines) - 1; i >= len(head); i-- {
		if n+len(lines[i]) > maxLogText/2 {
			break
		}
		tail = append(tail, lines[i])
		n += len(lines[i])
	}
	out := append(head, fmt.Sprintf("… %d lines elided …", len(lines)-len(head)-len(tail)))
	for i := len(tail) - 1; i >= 0; i-- {
		out = append(out, tail[i])
	}
	return out
}
