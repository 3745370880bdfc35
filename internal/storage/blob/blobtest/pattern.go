package blobtest

import (
	"io"
	"math/rand/v2"
)

// period is prime so that a pattern never lines up with power-of-two part
// or buffer sizes, which would hide misplaced chunks.
const period = 65521

// Pattern is a deterministic, seekable stream of pseudo-random bytes of a
// given length, generated on the fly so tests can move gigabytes without
// holding them.
type Pattern struct {
	table []byte
	size  int64
	pos   int64
}

// NewPattern returns size bytes of pattern seed.
func NewPattern(seed uint64, size int64) *Pattern {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	s[2] = byte(seed >> 16)
	r := rand.NewChaCha8(s)
	t := make([]byte, period)
	_, _ = r.Read(t)
	return &Pattern{table: t, size: size}
}

// At returns the byte at offset off.
func (p *Pattern) At(off int64) byte { return p.table[off%period] }

// Bytes returns a copy of bytes [off, off+n).
func (p *Pattern) Bytes(off, n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = p.At(off + int64(i))
	}
	return b
}

func (p *Pattern) Read(b []byte) (int, error) {
	if p.pos >= p.size {
		return 0, io.EOF
	}
	if rem := p.size - p.pos; int64(len(b)) > rem {
		b = b[:rem]
	}
	n := 0
	for n < len(b) {
		i := p.pos % period
		c := copy(b[n:], p.table[i:])
		n += c
		p.pos += int64(c)
	}
	return n, nil
}

// Reset rewinds the pattern to its start.
func (p *Pattern) Reset() { p.pos = 0 }
