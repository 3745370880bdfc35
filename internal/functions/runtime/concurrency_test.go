package runtime

import (
	"fmt"
	"net/http"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConcurrentInvocations runs 200 echo invocations at once and checks each
// got its own answer, then that no goroutine or heap memory outlives them.
func TestConcurrentInvocations(t *testing.T) {
	// Not parallel: it measures process-wide goroutines and heap.
	echo := guest(t, "echo")
	settle := func() (goroutines int, heap uint64) {
		var ms goruntime.MemStats
		goruntime.GC()
		goruntime.ReadMemStats(&ms)
		return goruntime.NumGoroutine(), ms.HeapAlloc
	}
	// Warm up once so lazily started runtime goroutines count in the baseline.
	invokeEcho(t, t.Context(), Request{})
	baseG, baseHeap := settle()

	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			body := fmt.Sprintf("request-%d-%s", i, strings.Repeat("x", i))
			resp, err := testRT.Invoke(t.Context(), echo, Request{
				Method: http.MethodPost,
				Path:   fmt.Sprintf("/echo/%d", i),
				Body:   strings.NewReader(body),
				Limits: Limits{Timeout: 10 * time.Minute}, // the race detector and a busy machine make this slow
			})
			if err == nil && (!strings.Contains(string(resp.Body), `"body":"`+body+`"`) || !strings.Contains(string(resp.Body), fmt.Sprintf(`"path":"/echo/%d"`, i))) {
				err = fmt.Errorf("invocation %d answered %.200s", i, resp.Body)
			}
			errs <- err
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	t.Logf("%d concurrent invocations in %s", n, took)

	var g int
	var heap uint64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if g, heap = settle(); g <= baseG && heap < baseHeap+32<<20 {
			return
		}
	}
	t.Errorf("after the burst: %d goroutines (baseline %d), heap %d MiB (baseline %d MiB)", g, baseG, heap>>20, baseHeap>>20)
}
