package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"testing"
	"time"
)

// guests are the test functions under internal/functions/testdata.
var guests = []string{"echo", "env", "loop", "memhog", "flood", "trap", "badcgi", "outbound"}

var (
	testRT       *Runtime
	testCacheDir string
	wasmBytes    = map[string][]byte{}
	compiled     sync.Map // name -> func() (*Module, error)
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	cacheRoot, err := os.UserCacheDir()
	if err != nil {
		cacheRoot = os.TempDir()
	}
	cacheRoot = filepath.Join(cacheRoot, "madbase-wasm")
	start := time.Now()
	for _, name := range guests {
		b, err := buildGuest(cacheRoot, name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "build guest:", err)
			return 1
		}
		wasmBytes[name] = b
	}
	if d := time.Since(start); d > time.Second {
		fmt.Fprintf(os.Stderr, "built %d test guests in %s\n", len(guests), d.Round(time.Millisecond))
	}
	ctx := context.Background()
	// The on-disk compilation cache makes repeated test runs skip wazero's
	// multi-second compiles of the guests.
	testCacheDir = filepath.Join(cacheRoot, "wazero")
	testRT, err = New(ctx, Config{CacheDir: testCacheDir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "new runtime:", err)
		return 1
	}
	defer testRT.Close(ctx)
	return m.Run()
}

// buildGuest compiles testdata/<name> for wasip1, reusing an earlier build of
// the same source by the same toolchain.
func buildGuest(cacheRoot, name string) ([]byte, error) {
	dir := filepath.Join("..", "testdata", name)
	src, err := os.ReadFile(filepath.Join(dir, "main.go"))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00wasip1/wasm\x00%s", goruntime.Version(), name, src))
	cached := filepath.Join(cacheRoot, name+"-"+hex.EncodeToString(sum[:12])+".wasm")
	if b, err := os.ReadFile(cached); err == nil {
		return b, nil
	}
	if err := os.MkdirAll(cacheRoot, 0o755); err != nil {
		return nil, err
	}
	tmpDir, err := os.MkdirTemp("", "madbase-wasm-build")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmpDir)
	out := filepath.Join(tmpDir, name+".wasm")
	// go test puts its own GOROOT/bin first in PATH, so this is the same toolchain.
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build %s: %w\n%s", name, err, stderr.Bytes())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	// Rename is atomic, so concurrent test processes never read a partial file.
	tmp := cached + ".tmp" + fmt.Sprint(os.Getpid())
	if err := os.WriteFile(tmp, b, 0o644); err == nil {
		_ = os.Rename(tmp, cached)
	}
	return b, nil
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
