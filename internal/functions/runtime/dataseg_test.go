package runtime

import (
	"bytes"
	"context"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// TestMergeDataSegmentsKeepsMemory checks on a real Go module that merging
// yields the same initial memory, as wazero itself lays it out.
func TestMergeDataSegmentsKeepsMemory(t *testing.T) {
	t.Parallel()
	orig := wasmBytes["echo"]
	merged := mergeDataSegments(orig)
	_, _, before, err := parseDataSection(orig)
	if err != nil {
		t.Fatal(err)
	}
	_, _, after, err := parseDataSection(merged)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("data segments: %d -> %d", len(before), len(after))
	if len(after) >= len(before) || len(after) > 16 {
		t.Fatalf("data segments %d -> %d: not merged", len(before), len(after))
	}
	ctx := t.Context()
	cache, err := wazero.NewCompilationCacheWithDir(testCacheDir)
	if err != nil {
		t.Fatal(err)
	}
	wr := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	defer wr.Close(context.WithoutCancel(ctx))
	wasi_snapshot_preview1.MustInstantiate(ctx, wr)
	if err := testRT.instantiateHostInto(ctx, wr); err != nil {
		t.Fatal(err)
	}
	memory := func(wasm []byte) []byte {
		cm, err := wr.CompileModule(ctx, wasm)
		if err != nil {
			t.Fatal(err)
		}
		mod, err := wr.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
		if err != nil {
			t.Fatal(err)
		}
		b, ok := mod.Memory().Read(0, mod.Memory().Size())
		if !ok {
			t.Fatal("read memory")
		}
		return bytes.Clone(b)
	}
	if a, b := memory(orig), memory(merged); !bytes.Equal(a, b) {
		t.Fatalf("initial memory differs (%d vs %d bytes)", len(a), len(b))
	}
}

func TestMergeDataSegmentsLeavesOthersAlone(t *testing.T) {
	segs := make([]dataSegment, mergeMinSegments)
	for i := range segs {
		segs[i] = dataSegment{offset: uint64(i * 16), data: []byte("12345678")}
	}
	simple := moduleWithData(segs, false)
	if got := mergeDataSegments(simple); bytes.Equal(got, simple) {
		t.Fatal("simple module not merged")
	} else if _, _, m, err := parseDataSection(got); err != nil || len(m) != 1 || len(m[0].data) != (mergeMinSegments-1)*16+8 {
		t.Fatalf("merged into %d segments (%v)", len(m), err)
	}
	overlapping := append([]dataSegment{{offset: 4, data: []byte("x")}}, segs...)
	for name, wasm := range map[string][]byte{
		"data count section": moduleWithData(segs, true),
		"overlap":            moduleWithData(overlapping, false),
		"few segments":       moduleWithData(segs[:3], false),
		"truncated":          simple[:len(simple)-3],
		"not wasm":           []byte("hello"),
	} {
		if got := mergeDataSegments(wasm); !bytes.Equal(got, wasm) {
			t.Errorf("%s: rewritten", name)
		}
	}
}

// moduleWithData builds a module with one memory and the given active segments.
func moduleWithData(segs []dataSegment, dataCount bool) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, 5, 3, 1, 0, 2) // memory section: one memory, min 2 pages
	if dataCount {
		b = append(b, 12, 1, byte(len(segs)))
	}
	var sec []byte
	sec = appendUleb(sec, uint64(len(segs)))
	for _, s := range segs {
		sec = append(sec, 0x00, 0x41)
		sec = appendSleb(sec, int64(int32(uint32(s.offset))))
		sec = append(sec, 0x0b)
		sec = appendUleb(sec, uint64(len(s.data)))
		sec = append(sec, s.data...)
	}
	b = append(b, 11)
	b = appendUleb(b, uint64(len(sec)))
	return append(b, sec...)
}

func appendUleb(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// apply lays segments out on zeroed memory as instantiation would.
func apply(segs []dataSegment) []byte {
	var mem []byte
	for _, s := range segs {
		if end := s.offset + uint64(len(s.data)); end > uint64(len(mem)) {
			mem = append(mem, make([]byte, end-uint64(len(mem)))...)
		}
		copy(mem[s.offset:], s.data)
	}
	return mem
}

func FuzzMergeDataSegments(f *testing.F) {
	segs := make([]dataSegment, mergeMinSegments)
	for i := range segs {
		segs[i] = dataSegment{offset: uint64(i*i) * 3, data: bytes.Repeat([]byte{byte(i + 1)}, i%7+1)}
	}
	f.Add(moduleWithData(segs, false))
	f.Add(moduleWithData(segs[:2], false))
	f.Add(moduleWithData(segs, true))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		in := bytes.Clone(wasm)
		out := mergeDataSegments(wasm)
		if !bytes.Equal(wasm, in) {
			t.Fatal("input modified")
		}
		if bytes.Equal(out, in) {
			return
		}
		_, _, before, err := parseDataSection(in)
		if err != nil {
			t.Fatalf("rewrote an unparsable module: %v", err)
		}
		_, _, after, err := parseDataSection(out)
		if err != nil {
			t.Fatalf("output unparsable: %v", err)
		}
		if !bytes.Equal(apply(before), apply(after)) {
			t.Fatal("memory image changed")
		}
		if again := mergeDataSegments(out); !bytes.Equal(again, out) && len(after) >= mergeMinSegments {
			// A second pass may only find nothing more to merge.
			if _, _, a2, _ := parseDataSection(again); len(a2) != len(after) {
				t.Fatal("merging is not idempotent")
			}
		}
	})
}
