package file

import (
	"bufio"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
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

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap, baseRSS := ms.HeapInuse, rss(t)
	var peakHeap, peakRSS uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peakHeap = max(peakHeap, m.HeapInuse)
			peakRSS = max(peakRSS, rss(t))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})

	start := time.Now()
	info, err := s.Put(ctx, "big/object", blobtest.NewPattern(9, size), size, "application/octet-stream")
	if err != nil {
		t.Fatal(err)
	}
	putTime := time.Since(start)
	rc, _, err := s.Get(ctx, "big/object", nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	rc.Close()
	getTime := time.Since(start) - putTime
	close(stop)
	wg.Wait()
	if err != nil || n != size {
		t.Fatalf("Get: %d bytes, %v", n, err)
	}
	// Content is checked by the conformance suite; here only the size.
	if info.Size != size {
		t.Errorf("Put Info.Size = %d", info.Size)
	}
	dHeap, dRSS := int64(peakHeap)-int64(baseHeap), int64(peakRSS)-int64(baseRSS)
	t.Logf("1 GiB: put %v, get %v; peak heap +%.2f MiB, peak RSS +%.2f MiB",
		putTime.Round(time.Millisecond), getTime.Round(time.Millisecond), float64(dHeap)/(1<<20), float64(dRSS)/(1<<20))
	if dHeap > maxHeap {
		t.Errorf("heap grew by %d bytes, limit %d", dHeap, maxHeap)
	}
	if dRSS > maxRSS {
		t.Errorf("RSS grew by %d bytes, limit %d", dRSS, maxRSS)
	}
}

// rss reads the resident set size from /proc (0 where there is none).
func rss(t *testing.T) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Errorf("VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	return 0
}
