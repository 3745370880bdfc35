package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestSized(t *testing.T) {
	tests := []struct {
		in      string
		size    int64
		wantErr error
	}{
		{"hello", 5, nil},
		{"", 0, nil},
		{"hello", -1, nil},
		{"hello", 4, ErrSizeMismatch},
		{"hello", 6, ErrSizeMismatch},
		{"", 1, ErrSizeMismatch},
		{"x", 0, ErrSizeMismatch},
	}
	for _, tt := range tests {
		for _, name := range []string{"plain", "onebyte"} {
			var r io.Reader = strings.NewReader(tt.in)
			if name == "onebyte" {
				r = iotest.OneByteReader(r)
			}
			got, err := io.ReadAll(Sized(r, tt.size))
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%s %q size %d: err = %v, want %v", name, tt.in, tt.size, err, tt.wantErr)
			}
			if tt.wantErr == nil && string(got) != tt.in {
				t.Errorf("%s %q size %d: read %q", name, tt.in, tt.size, got)
			}
		}
	}
}

// A consumer that reads exactly size bytes and stops (as an S3 client
// does) must still learn that the reader had more.
func TestSizedFailsBeforeConsumerStops(t *testing.T) {
	r := Sized(strings.NewReader("hello world"), 5)
	buf := make([]byte, 5)
	_, err := io.ReadFull(r, buf)
	if !errors.Is(err, ErrSizeMismatch) {
		t.Fatalf("ReadFull err = %v, want ErrSizeMismatch", err)
	}
	r = Sized(bytes.NewReader([]byte("hello")), 5)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatalf("exact ReadFull err = %v", err)
	}
}

func TestWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	r := WithContext(ctx, strings.NewReader("abcdef"))
	p := make([]byte, 3)
	if n, err := r.Read(p); n != 3 || err != nil {
		t.Fatalf("read before cancel: %d %v", n, err)
	}
	cancel()
	if n, err := r.Read(p); n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %d %v", n, err)
	}
}
