package functions

import (
	"container/list"
	"context"
	"sync"

	"github.com/madbase/madbase/internal/functions/runtime"
)

// modules keeps compiled modules by content hash, least recently used first
// out. Several versions (or functions) with the same bytes share one entry.
// An entry in use is never closed under its user: eviction only unlinks it,
// and the last release closes it.
type modules struct {
	rt  *runtime.Runtime
	max int

	mu      sync.Mutex
	entries map[string]*modEntry
	lru     list.List // of *modEntry, most recent at the front
	// compiles counts compilations, for tests and metrics.
	compiles int
}

type modEntry struct {
	sum   string
	ready chan struct{} // closed once m or err is set
	m     *runtime.Module
	err   error
	refs  int
	elem  *list.Element // nil once evicted
}

func newModules(rt *runtime.Runtime, max int) *modules {
	return &modules{rt: rt, max: max, entries: map[string]*modEntry{}}
}

// acquire returns the compiled module sum, compiling the bytes load returns
// the first time (one compilation however many callers wait). Call release
// when the invocation is over.
func (c *modules) acquire(ctx context.Context, sum string, load func(context.Context) ([]byte, error)) (m *runtime.Module, release func(), err error) {
	c.mu.Lock()
	e, ok := c.entries[sum]
	if ok {
		e.refs++
		c.lru.MoveToFront(e.elem)
		c.mu.Unlock()
	} else {
		e = &modEntry{sum: sum, ready: make(chan struct{}), refs: 1}
		e.elem = c.lru.PushFront(e)
		c.entries[sum] = e
		c.compiles++
		c.evictLocked()
		c.mu.Unlock()
		// Compiled for every waiter, so not cut short by this caller leaving.
		cctx := context.WithoutCancel(ctx)
		var wasm []byte
		if wasm, e.err = load(cctx); e.err == nil {
			e.m, e.err = c.rt.Compile(cctx, wasm)
		}
		if e.err != nil {
			c.mu.Lock()
			c.unlinkLocked(e) // let the next request try again
			c.mu.Unlock()
		}
		close(e.ready)
	}
	release = func() { c.release(e) }
	select {
	case <-e.ready:
	case <-ctx.Done():
		release()
		return nil, nil, ctx.Err()
	}
	if e.err != nil {
		release()
		return nil, nil, e.err
	}
	return e.m, release, nil
}

// put adds a module compiled elsewhere (at deploy). If sum is already
// cached, m is closed and the cached one kept.
func (c *modules) put(sum string, m *runtime.Module) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[sum]; ok {
		_ = m.Close(context.Background())
		return
	}
	e := &modEntry{sum: sum, ready: make(chan struct{}), m: m}
	close(e.ready)
	e.elem = c.lru.PushFront(e)
	c.entries[sum] = e
	c.evictLocked()
}

func (c *modules) release(e *modEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refs--
	if e.refs == 0 && e.elem == nil && e.m != nil {
		_ = e.m.Close(context.Background())
		e.m = nil
	}
}

func (c *modules) evictLocked() {
	for c.lru.Len() > c.max {
		e := c.lru.Back().Value.(*modEntry)
		c.unlinkLocked(e)
		if e.refs == 0 && e.m != nil {
			_ = e.m.Close(context.Background())
			e.m = nil
		}
	}
}

func (c *modules) unlinkLocked(e *modEntry) {
	if e.elem == nil {
		return
	}
	c.lru.Remove(e.elem)
	e.elem = nil
	if c.entries[e.sum] == e {
		delete(c.entries, e.sum)
	}
}

// stats returns how many modules are cached and how many compilations ran.
func (c *modules) stats() (cached, compiles int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.compiles
}
