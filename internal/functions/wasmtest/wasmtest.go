package wasmtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
)

// CacheRoot is where built guests and the wazero cache live.
func CacheRoot() string {
	root, err := os.UserCacheDir()
	if err != nil {
		root = os.TempDir()
	}
	return filepath.Join(root, "madbase-wasm")
}

// WazeroCacheDir is a compilation cache directory for runtime.Config.CacheDir
// shared by every test binary.
func WazeroCacheDir() string { return filepath.Join(CacheRoot(), "wazero") }

// Dir is the absolute source directory of guest name.
func Dir(name string) string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", name)
}

// Build returns the wasm of testdata/<name>, building it when its sources
// changed since the cached build.
func Build(name string) ([]byte, error) {
	dir := Dir(name)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("wasmtest: guest %q: %w", name, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00wasip1/wasm\x00", goruntime.Version(), name)
	var files []string
	for _, e := range entries {
		if !e.IsDir() && (strings.HasSuffix(e.Name(), ".go") || e.Name() == "go.mod") {
			files = append(files, e.Name())
		}
	}
	slices.Sort(files)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(b))
		h.Write(b)
	}
	root := CacheRoot()
	cached := filepath.Join(root, name+"-"+hex.EncodeToString(h.Sum(nil)[:12])+".wasm")
	if b, err := os.ReadFile(cached); err == nil {
		return b, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	tmpDir, err := os.MkdirTemp("", "madbase-wasm-build")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmpDir)
	out := filepath.Join(tmpDir, name+".wasm")
	// go test puts its own GOROOT/bin first in PATH, so this is the same
	// toolchain as the test's.
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("wasmtest: go build %s: %w\n%s", name, err, stderr.Bytes())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	// Rename is atomic, so concurrent test processes never read a partial file.
	tmp := fmt.Sprintf("%s.tmp%d", cached, os.Getpid())
	if err := os.WriteFile(tmp, b, 0o644); err == nil {
		_ = os.Rename(tmp, cached)
	}
	return b, nil
}

// BuildAll builds every named guest.
func BuildAll(names ...string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(names))
	for _, n := range names {
		b, err := Build(n)
		if err != nil {
			return nil, err
		}
		out[n] = b
	}
	return out, nil
}
