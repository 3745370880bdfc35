package pgtest_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/testutil/pgtest"
)

// running reports whether pid is a live process; a zombie waiting for a
// reaper counts as dead.
func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
	return !strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for running(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("postgres (pid %d) still running", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStartStop(t *testing.T) {
	t.Parallel()
	c, err := pgtest.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if c.Port() == pg.Port() {
		t.Errorf("second cluster got the same port %d", c.Port())
	}
	dir, pid := pgtest.ClusterDir(c), pgtest.ServerPID(c)
	if err := c.Exec(t.Context(), "postgres", "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	waitGone(t, pid)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cluster directory %s not removed: %v", dir, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, c.URL("postgres")); err == nil {
		conn.Close(ctx)
		t.Error("stopped cluster still accepts connections")
	}
}

// TestHelperPanics is run in a child process by TestPanicLeavesNoServer.
func TestHelperPanics(t *testing.T) {
	if os.Getenv("PGTEST_PANIC_HELPER") == "" {
		t.Skip("helper for TestPanicLeavesNoServer")
	}
	fmt.Printf("cluster dir=%s pid=%d\n", pgtest.ClusterDir(pg), pgtest.ServerPID(pg))
	panic("test panics with its cluster running")
}

// A test that panics kills the test process without running Main's deferred
// Stop: the server must still go away, and the next run must remove its
// directory.
func TestPanicLeavesNoServer(t *testing.T) {
	t.Parallel()
	if os.Getenv("PGTEST_PANIC_HELPER") != "" {
		t.Skip("inside the helper")
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperPanics$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PGTEST_PANIC_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("helper did not fail:\n%s", out)
	}
	m := regexp.MustCompile(`cluster dir=(\S+) pid=(\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("helper output has no cluster:\n%s", out)
	}
	dir := string(m[1])
	pid, _ := strconv.Atoi(string(m[2]))
	waitGone(t, pid)

	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("expected the dead run's directory to remain until the next Start: %v", err)
	}
	pgtest.RemoveStale(filepath.Dir(dir))
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("stale cluster directory %s not removed: %v", dir, err)
	}
}
