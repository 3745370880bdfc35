package blob

import (
	"errors"
	"testing"
)

func TestRangeResolve(t *testing.T) {
	tests := []struct {
		r          Range
		size       int64
		off, n     int64
		wantErr    bool
		wantHeader string
	}{
		{Range{0, 0}, 10, 0, 1, false, "bytes=0-0"},
		{Range{2, 5}, 10, 2, 4, false, "bytes=2-5"},
		{Range{2, 100}, 10, 2, 8, false, "bytes=2-100"},
		{Range{9, 9}, 10, 9, 1, false, "bytes=9-9"},
		{Range{3, -1}, 10, 3, 7, false, "bytes=3-"},
		{Range{-3, 0}, 10, 7, 3, false, "bytes=-3"},
		{Range{-30, 0}, 10, 0, 10, false, "bytes=-30"},
		{Range{10, 12}, 10, 0, 0, true, "bytes=10-12"},
		{Range{5, 4}, 10, 0, 0, true, "bytes=5-4"},
		{Range{0, -1}, 0, 0, 0, true, "bytes=0-"},
		{Range{-1, 0}, 0, 0, 0, true, "bytes=-1"},
	}
	for _, tt := range tests {
		off, n, err := tt.r.Resolve(tt.size)
		if tt.wantErr {
			if !errors.Is(err, ErrInvalidRange) {
				t.Errorf("%+v.Resolve(%d) err = %v, want ErrInvalidRange", tt.r, tt.size, err)
			}
		} else if err != nil || off != tt.off || n != tt.n {
			t.Errorf("%+v.Resolve(%d) = %d, %d, %v; want %d, %d", tt.r, tt.size, off, n, err, tt.off, tt.n)
		}
		if h := tt.r.Header(); h != tt.wantHeader {
			t.Errorf("%+v.Header() = %q, want %q", tt.r, h, tt.wantHeader)
		}
	}
}
