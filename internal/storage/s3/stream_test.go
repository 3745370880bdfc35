package s3

import (
	"io"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/storage/blob/blobtest"
)

// TestStreamingMemory checks that an upload buffers at most one part, for
// known and unknown sizes, and that a download buffers nothing.
func TestStreamingMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streaming test skipped in -short mode")
	}
	const size = 128 << 20 // eight parts: growth with size would show
	// One part buffer, plus as much again of garbage that the collector
	// may leave before it runs (GOGC=100): bounded by the part size, not
	// by the object.
	const maxHeap = 3 * DefaultPartSize
	s := newBucket(t)
	ctx := t.Context()
	for _, announced := range []int64{size, -1} {
		var putTime, getTime time.Duration
		heap, rss := blobtest.PeakGrowth(t, func() {
			start := time.Now()
			if _, err := s.Put(ctx, "big", blobtest.NewPattern(2, size), announced, ""); err != nil {
				t.Fatal(err)
			}
			putTime = time.Since(start)
			rc, _, err := s.Get(ctx, "big", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if n, err := io.Copy(io.Discard, rc); err != nil || n != size {
				t.Fatalf("Get: %d bytes, %v", n, err)
			}
			getTime = time.Since(start) - putTime
		})
		t.Logf("128 MiB, size %d: put %v, get %v; peak heap +%.2f MiB, peak RSS +%.2f MiB", announced,
			putTime.Round(time.Millisecond), getTime.Round(time.Millisecond), float64(heap)/(1<<20), float64(rss)/(1<<20))
		if heap > maxHeap {
			t.Errorf("size %d: heap grew by %d bytes, limit %d", announced, heap, maxHeap)
		}
	}
}
