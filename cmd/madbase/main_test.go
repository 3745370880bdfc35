package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/testutil/apitest"
	"github.com/madbase/madbase/internal/testutil/pgtest"
)

var pg *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg, apitest.Setup)) }

func TestBadConfigExitsWithOneLine(t *testing.T) {
	var stderr bytes.Buffer
	code := run([]string{"serve"}, []string{"MADBASE_DATABASE_URL=postgres://x@127.0.0.1/x"}, io.Discard, &stderr)
	if code == 0 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "MADBASE_ENCRYPTION_KEY") {
		t.Fatalf("code %d, stderr %q", code, stderr.String())
	}
	stderr.Reset()
	code = run([]string{"serve"}, []string{"MADBASE_DATABASE_URL=postgres://x@127.0.0.1/x", "MADBASE_ENCRYPTION_KEY=" + apitest.EncryptionKey, "MADBASE_LOG_LEVEL=chatty"}, io.Discard, &stderr)
	if code == 0 || !strings.Contains(stderr.String(), "MADBASE_LOG_LEVEL") {
		t.Fatalf("code %d, stderr %q", code, stderr.String())
	}
	if code := run([]string{"bogus"}, nil, io.Discard, io.Discard); code != 2 {
		t.Fatalf("unknown command exit %d", code)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// SIGTERM during a slow request: the request completes, the process exits 0.
func TestSIGTERMDrainsInFlightRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "madbase")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	port := freePort(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{
		"MADBASE_DATABASE_URL=" + pg.NewDB(t, apitest.ControlTemplate),
		"MADBASE_ENCRYPTION_KEY=" + apitest.EncryptionKey,
		"MADBASE_ADMIN_TOKEN=" + apitest.AdminToken,
		fmt.Sprintf("MADBASE_ADDR=127.0.0.1:%d", port),
		"MADBASE_DATA_DIR=" + t.TempDir(),
	}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get(base + "/health")
		if err == nil && res.StatusCode == 200 {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not healthy: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A slow request: probing a server that accepts TCP but never answers
	// takes until the URL's connect_timeout (2 s).
	stall, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer stall.Close()
	go func() {
		for {
			c, err := stall.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			go io.Copy(io.Discard, bufio.NewReader(c))
		}
	}()
	body := fmt.Sprintf(`{"db_url":"postgres://x@%s/x?connect_timeout=2&sslmode=disable"}`, stall.Addr())
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		req, _ := http.NewRequestWithContext(context.Background(), "POST", base+"/admin/v1/db/test", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+apitest.AdminToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		done <- result{status: res.StatusCode, body: string(b)}
	}()
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.status != 200 || !strings.Contains(r.body, `"reachable":false`) {
		t.Fatalf("in-flight request: %+v\n%s", r, logs.String())
	}
	if time.Since(start) < 1500*time.Millisecond {
		t.Fatalf("request ended after %v: it was cut short, not drained", time.Since(start))
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "shutdown complete") {
		t.Fatalf("no shutdown log:\n%s", logs.String())
	}
}
