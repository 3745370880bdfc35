package pgtest

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRealBinDir(t *testing.T) {
	dir, err := BinDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "postgres")); err != nil {
		t.Error(err)
	}
}

func TestMajorVersion(t *testing.T) {
	for v, want := range map[string]int{"15.8": 15, "16beta1 (Debian 16~beta1-1)": 16, "9.6.24": 9, "17": 17, "": 0, "devel": 0} {
		if got := majorVersion(v); got != want {
			t.Errorf("majorVersion(%q) = %d, want %d", v, got, want)
		}
	}
}

// busyPort returns a port that is bound on 127.0.0.1 until the test ends.
func busyPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

// A port taken between picking and binding costs a retry, not a failure.
func TestStartRetriesTakenPort(t *testing.T) {
	t.Parallel()
	busy := busyPort(t)
	picks := 0
	c, err := start(t.Context(), func() (int, error) {
		picks++
		if picks == 1 {
			return busy, nil
		}
		return FreePort()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if picks != 2 || c.Port() == busy {
		t.Errorf("picks = %d, port = %d (busy %d); want a second pick", picks, c.Port(), busy)
	}
	if err := c.Exec(t.Context(), "postgres", "SELECT 1"); err != nil {
		t.Error(err)
	}
}

// ownDirs lists the cluster directories of this process.
func ownDirs(t *testing.T) map[string]bool {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(tempBase(os.Geteuid() == 0), "pgtest-*"))
	if err != nil {
		t.Fatal(err)
	}
	own := map[string]bool{}
	for _, d := range dirs {
		if pid, ok := readPID(filepath.Join(d, "owner.pid")); ok && pid == os.Getpid() {
			own[d] = true
		}
	}
	return own
}

// When the server cannot start, Start says why (from the server log) and
// leaves nothing behind. Not parallel: it compares this process's cluster
// directories before and after.
func TestStartFailureReportsLogAndCleansUp(t *testing.T) {
	busy := busyPort(t)
	before := ownDirs(t)
	c, err := start(t.Context(), func() (int, error) { return busy, nil })
	if err == nil {
		c.Stop()
		t.Fatal("Start succeeded on a taken port")
	}
	if c != nil {
		t.Error("Start returned a cluster with its error")
	}
	if !strings.Contains(err.Error(), "could not bind") {
		t.Errorf("error lacks the server log's reason: %v", err)
	}
	for d := range ownDirs(t) {
		if !before[d] {
			t.Errorf("failed Start left %s behind", d)
		}
	}
}

// fakeCache makes a cache-like tree with a manifest saying files/size.
func fakeCache(t *testing.T, manifest string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "cache")
	if err := os.MkdirAll(filepath.Join(dir, "base", "1"), 0o700); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"PG_VERSION": "15\n", "base/1/1259": "0123456789", manifestName: manifest} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCopyCache(t *testing.T) {
	cache := fakeCache(t, "2 13\n")
	dst := filepath.Join(t.TempDir(), "data")
	if err := copyCache(cache, dst, nil); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dst, "base", "1", "1259"))
	if err != nil || string(got) != "0123456789" {
		t.Errorf("copied file = %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dst, manifestName)); !os.IsNotExist(err) {
		t.Errorf("manifest copied into the cluster: %v", err)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}
}

// A cache that lost files is reported and removed so the next run rebuilds it.
func TestCopyCacheIncomplete(t *testing.T) {
	cache := fakeCache(t, "3 20\n")
	err := copyCache(cache, filepath.Join(t.TempDir(), "data"), nil)
	if err == nil || !strings.Contains(err.Error(), "incomplete") {
		t.Fatalf("err = %v, want incomplete cache", err)
	}
	if _, err := os.Stat(cache); !os.IsNotExist(err) {
		t.Errorf("incomplete cache not removed: %v", err)
	}
}
