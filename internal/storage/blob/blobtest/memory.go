package blobtest

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// PeakGrowth runs fn and reports by how much the Go heap in use and the
// process's resident set size rose above their level before fn, at their
// peak, sampled every few milliseconds. RSS is 0 where /proc is missing.
func PeakGrowth(t *testing.T, fn func()) (heap, rss int64) {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap, baseRSS := ms.HeapInuse, readRSS(t)
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
			peakRSS = max(peakRSS, readRSS(t))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	fn()
	close(stop)
	wg.Wait()
	return int64(peakHeap) - int64(baseHeap), int64(peakRSS) - int64(baseRSS)
}

// readRSS reads VmRSS from /proc/self/status.
func readRSS(t *testing.T) uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
			kb, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Errorf("VmRSS %q: %v", v, err)
			}
			return kb << 10
		}
	}
	return 0
}
