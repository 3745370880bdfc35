package runtime

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
)

// Go's wasm linker emits tens of thousands of tiny data segments (it splits at
// every run of zeros), and wazero evaluates each one at every instantiation:
// a third of a warm Go invocation. Merging them once at compile time, padding
// the gaps with the zeros the memory already holds, keeps the same initial
// memory at a fraction of the cost.
const (
	// mergeMinSegments: below this, rewriting is not worth it.
	mergeMinSegments = 64
	// mergeMaxGap is the largest zero gap filled to join two segments.
	mergeMaxGap = 4096
)

type dataSegment struct {
	offset uint64
	data   []byte
}

// mergeDataSegments returns wasm with its data segments coalesced, or wasm
// itself when the module is not the simple case where that is provably
// equivalent: no data count section (so no memory.init or data.drop can name
// a segment), only active segments for memory 0 at i32.const offsets, none
// overlapping (so their order does not matter). Malformed input is returned
// unchanged for the compiler to reject.
func mergeDataSegments(wasm []byte) []byte {
	start, end, segs, err := parseDataSection(wasm)
	if err != nil || len(segs) < mergeMinSegments {
		return wasm
	}
	slices.SortStableFunc(segs, func(a, b dataSegment) int {
		switch {
		case a.offset < b.offset:
			return -1
		case a.offset > b.offset:
			return 1
		}
		return 0
	})
	var merged []dataSegment
	for _, s := range segs {
		if n := len(merged); n > 0 {
			last := &merged[n-1]
			lastEnd := last.offset + uint64(len(last.data))
			if s.offset < lastEnd {
				return wasm // overlapping: application order matters
			}
			if s.offset-lastEnd <= mergeMaxGap {
				last.data = append(last.data, make([]byte, s.offset-lastEnd)...)
				last.data = append(last.data, s.data...)
				continue
			}
		}
		merged = append(merged, dataSegment{offset: s.offset, data: slices.Clone(s.data)})
	}
	var sec []byte
	sec = binary.AppendUvarint(sec, uint64(len(merged)))
	for _, s := range merged {
		sec = append(sec, 0x00, 0x41) // active, memory 0; i32.const
		sec = appendSleb(sec, int64(int32(uint32(s.offset))))
		sec = append(sec, 0x0b)
		sec = binary.AppendUvarint(sec, uint64(len(s.data)))
		sec = append(sec, s.data...)
	}
	out := make([]byte, 0, len(wasm)+len(sec)-(end-start)+16)
	out = append(out, wasm[:start]...)
	out = append(out, 11)
	out = binary.AppendUvarint(out, uint64(len(sec)))
	out = append(out, sec...)
	return append(out, wasm[end:]...)
}

var errNotSimple = errors.New("data section not mergeable")

// parseDataSection finds the data section (wasm[start:end], including its id
// and size) and decodes its segments, which alias wasm.
func parseDataSection(wasm []byte) (start, end int, segs []dataSegment, err error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:8], []byte("\x00asm\x01\x00\x00\x00")) {
		return 0, 0, nil, errNotSimple
	}
	start = -1
	for p := 8; p < len(wasm); {
		id := wasm[p]
		size, n := binary.Uvarint(wasm[p+1:])
		if n <= 0 || size > uint64(len(wasm)-p-1-n) {
			return 0, 0, nil, errNotSimple
		}
		body := wasm[p+1+n : p+1+n+int(size)]
		switch id {
		case 12: // data count: segments may be referenced by index
			return 0, 0, nil, errNotSimple
		case 11:
			if start >= 0 {
				return 0, 0, nil, errNotSimple
			}
			start, end = p, p+1+n+int(size)
			if segs, err = parseSegments(body); err != nil {
				return 0, 0, nil, err
			}
		}
		p += 1 + n + int(size)
	}
	if start < 0 {
		return 0, 0, nil, errNotSimple
	}
	return start, end, segs, nil
}

func parseSegments(b []byte) ([]dataSegment, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 || count > uint64(len(b)) {
		return nil, errNotSimple
	}
	b = b[n:]
	segs := make([]dataSegment, 0, count)
	for range count {
		if len(b) < 2 || b[0] != 0x00 || b[1] != 0x41 {
			return nil, errNotSimple
		}
		off, n := readSleb32(b[2:])
		if n <= 0 || len(b) < 2+n+1 || b[2+n] != 0x0b {
			return nil, errNotSimple
		}
		b = b[2+n+1:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return nil, errNotSimple
		}
		segs = append(segs, dataSegment{offset: uint64(uint32(off)), data: b[n : n+int(size)]})
		b = b[n+int(size):]
	}
	if len(b) != 0 {
		return nil, errNotSimple
	}
	return segs, nil
}

// readSleb32 decodes a signed LEB128 of at most 5 bytes, as i32.const holds.
func readSleb32(b []byte) (int32, int) {
	var v int64
	var shift uint
	for i := 0; i < len(b) && i < 5; i++ {
		v |= int64(b[i]&0x7f) << shift
		shift += 7
		if b[i]&0x80 == 0 {
			if b[i]&0x40 != 0 {
				v |= -1 << shift
			}
			if v < -1<<31 || v > 1<<31-1 {
				return 0, 0
			}
			return int32(v), i + 1
		}
	}
	return 0, 0
}

func appendSleb(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
