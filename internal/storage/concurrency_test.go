package storage_test

import (
	"fmt"
	"sync"
	"testing"
)

// TestConcurrentUpserts races upserts of one key: readers see one whole
// version, and exactly one blob remains for the one row.
func TestConcurrentUpserts(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, f *fixture) {
		const n = 12
		var wg sync.WaitGroup
		errs := make(chan string, 2*n)
		for i := range n {
			wg.Go(func() {
				body := fmt.Sprintf("version-%02d-%s", i, string(make([]byte, 1000*i)))
				res, b := f.do("POST", "/storage/v1/object/private/race.txt", f.service("Content-Type", "text/plain", "x-upsert", "true"), body)
				if res.StatusCode != 200 {
					errs <- fmt.Sprintf("upsert %d: %d %s", i, res.StatusCode, b)
				}
			})
			wg.Go(func() {
				res, b := f.do("GET", "/storage/v1/object/private/race.txt", f.service(), nil)
				if res.StatusCode == 200 {
					var v int
					if _, err := fmt.Sscanf(string(b), "version-%02d-", &v); err != nil || len(b) != len(fmt.Sprintf("version-%02d-", v))+1000*v {
						errs <- fmt.Sprintf("read a torn object: %d bytes %q…", len(b), b[:min(len(b), 12)])
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
		if rows := f.count(`select count(*) from storage.objects where name = 'race.txt'`); rows != 1 {
			t.Errorf("%d rows", rows)
		}
		f.noOrphans(t)
	})
}
