package pgoutput

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var updateCorpus = flag.Bool("update", false, "rewrite testdata/fuzz/FuzzDecode from the unit test cases")

// FuzzDecode feeds arbitrary bytes to every parser of server input: none
// may panic, and each either returns a message of the announced type or a
// classified error with no message.
func FuzzDecode(f *testing.F) {
	for _, in := range fuzzSeeds() {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		switch {
		case err != nil:
			if m != nil {
				t.Fatalf("message %v with error %v", m, err)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("unclassified error %v", err)
			}
		case m == nil:
			t.Fatal("nil message without error")
		case byte(m.Type()) != data[0]:
			t.Fatalf("type %v from first byte %q", m.Type(), data[0])
		}
		if x, err := ParseXLogData(data); err == nil && len(x.Data) != len(data)-25 {
			t.Fatalf("XLogData payload %d bytes from %d", len(x.Data), len(data))
		}
		_, _ = ParsePrimaryKeepalive(data)
		_, _ = ParseLSN(string(data))
	})
}

func fuzzSeeds() [][]byte {
	var seeds [][]byte
	for _, tc := range decodeCases() {
		seeds = append(seeds, tc.in)
	}
	return append(seeds,
		xlog(0x110, relTodos),
		keepalive(0x150),
		wire{}.u8('S').u32(1).u8(1),
	)
}

// TestWriteFuzzCorpus regenerates the committed seed corpus with -update.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update to rewrite the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, in := range fuzzSeeds() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", in)
		name := fmt.Sprintf("%x", sha256.Sum256(in))[:16]
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
