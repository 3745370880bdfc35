package runtime

import (
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// pageSize is the size of one WebAssembly memory page.
const pageSize = 64 << 10

// memoryLimiter backs one instance's linear memory and refuses to grow it past
// limit. The wazero runtime-wide page limit is fixed when a module is compiled,
// so per-invocation limits are enforced here instead, through wazero's
// allocator hook, which also tells us precisely that the guest hit the limit
// (a Go guest then dies with "out of memory", indistinguishable from a panic
// by its exit code alone).
type memoryLimiter struct {
	limit   uint64
	hint    uint64 // expected peak, to allocate once instead of growing
	refused atomic.Bool
	peak    atomic.Uint64
}

// maxMemoryHint caps the capacity reserved up front from a module's history,
// so one greedy invocation does not make every later instance reserve a lot.
const maxMemoryHint = 64 << 20

func (l *memoryLimiter) Allocate(capacity, _ uint64) experimental.LinearMemory {
	return &limitedMemory{l: l, buf: make([]byte, 0, min(max(capacity, l.hint), l.limit))}
}

type limitedMemory struct {
	l       *memoryLimiter
	buf     []byte
	started bool
}

func (m *limitedMemory) Reallocate(size uint64) []byte {
	first := !m.started
	m.started = true
	if size > m.l.limit && first {
		// The initial allocation cannot fail (wazero would panic); it is
		// bounded by the runtime-wide ceiling checked at compile, and the
		// invocation refuses to start the module.
		m.l.refused.Store(true)
		m.buf = make([]byte, size)
		return m.buf
	}
	if size > m.l.limit {
		m.l.refused.Store(true)
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		// Linear memory never shrinks, so bytes past len are still zero.
		m.buf = m.buf[:size]
	} else {
		// Grow geometrically (capped at the limit) so a guest growing page by
		// page does not copy its whole memory on every step.
		newCap := max(size, min(uint64(cap(m.buf))*2, m.l.limit))
		nb := make([]byte, size, newCap)
		copy(nb, m.buf)
		m.buf = nb
	}
	if size > m.l.peak.Load() {
		m.l.peak.Store(size)
	}
	return m.buf
}

func (m *limitedMemory) Free() { m.buf = nil }
