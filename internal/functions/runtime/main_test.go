package runtime

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/functions/wasmtest"
)

// guests are the test functions under internal/functions/testdata.
var guests = []string{"echo", "env", "loop", "memhog", "flood", "trap", "badcgi", "outbound"}

var (
	testRT       *Runtime
	testCacheDir string
	wasmBytes    map[string][]byte
	compiled     sync.Map // name -> func() (*Module, error)
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	start := time.Now()
	var err error
	if wasmBytes, err = wasmtest.BuildAll(guests...); err != nil {
		fmt.Fprintln(os.Stderr, "build guests:", err)
		return 1
	}
	if d := time.Since(start); d > time.Second {
		fmt.Fprintf(os.Stderr, "built %d test guests in %s\n", len(guests), d.Round(time.Millisecond))
	}
	ctx := context.Background()
	// The on-disk compilation cache makes repeated test runs skip wazero's
	// multi-second compiles of the guests.
	testCacheDir = wasmtest.WazeroCacheDir()
	testRT, err = New(ctx, Config{CacheDir: testCacheDir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "new runtime:", err)
		return 1
	}
	defer testRT.Close(ctx)
	return m.Run()
}

// guest returns the compiled test function name, compiling it once per test
// binary.
func guest(t testing.TB, name string) *Module {
	t.Helper()
	f, _ := compiled.LoadOrStore(name, sync.OnceValues(func() (*Module, error) {
		b, ok := wasmBytes[name]
		if !ok {
			return nil, fmt.Errorf("unknown guest %q", name)
		}
		return testRT.Compile(context.Background(), b)
	}))
	m, err := f.(func() (*Module, error))()
	if err != nil {
		t.Fatalf("compile %s: %v", name, err)
	}
	return m
}
