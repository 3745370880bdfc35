package file

import (
	"io"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/storage/blob/blobtest"
)

// TestStreamingMemory puts and gets a 1 GiB object and checks that neither
// the Go heap nor the process's resident memory grows with the object.
func TestStreamingMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB streaming test skipped in -short mode")
	}
	const size = 1 << 30
	const maxHeap, maxRSS = 8 << 20, 32 << 20
	s, _ := newStore(t)
	ctx := t.Context()
	var putTime, getTime time.Duration
	heap, rss := blobtest.PeakGrowth(t, func() {
		start := time.Now()
		info, err := s.Put(ctx, "big/object", blobtest.NewPattern(9, size), size, "application/octet-stream")
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != size {
			t.Errorf("Put Info.Size = %d", info.Size)
		}
		putTime = time.Since(start)
		rc, _, err := s.Get(ctx, "big/object", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		// Content is checked by the conformance suite; here only the size.
		if n, err := io.Copy(io.Discard, rc); err != nil || n != size {
			t.Fatalf("Get: %d bytes, %v", n, err)
		}
		getTime = time.Since(start) - putTime
	})
	t.Logf("1 GiB: put %v, get %v; peak heap +%.2f MiB, peak RSS +%.2f MiB",
		putTime.Round(time.Millisecond), getTime.Round(time.Millisecond), float64(heap)/(1<<20), float64(rss)/(1<<20))
	if heap > maxHeap {
		t.Errorf("heap grew by %d bytes, limit %d", heap, maxHeap)
	}
	if rss > maxRSS {
		t.Errorf("RSS grew by %d bytes, limit %d", rss, maxRSS)
	}
}
