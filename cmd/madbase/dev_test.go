package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/testutil/syncbuf"
)

func devFreePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// devRun is one running `madbase dev`.
type devRun struct {
	stdout, stderr *syncbuf.Buffer
	cancel         context.CancelFunc
	done           chan int
	banner         map[string]string // label → value, from the printed banner
}

func startDev(t *testing.T, dir string, apiPort, pgPort int) *devRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &devRun{stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, cancel: cancel, done: make(chan int, 1)}
	args := []string{"-dir", dir, "-addr", "127.0.0.1:" + strconv.Itoa(apiPort), "-pg-port", strconv.Itoa(pgPort)}
	go func() { r.done <- dev(ctx, args, map[string]string{"MADBASE_LOG_LEVEL": "warn"}, r.stdout, r.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(90 * time.Second):
			t.Errorf("madbase dev did not stop")
		}
	})
	deadline := time.After(90 * time.Second)
	for !strings.Contains(r.stdout.String(), "Press Ctrl-C to stop") {
		select {
		case code := <-r.done:
			t.Fatalf("madbase dev exited with %d before it was ready\nstderr:\n%s", code, r.stderr)
		case <-deadline:
			t.Fatalf("madbase dev not ready after 90s\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		case <-time.After(50 * time.Millisecond):
		}
	}
	r.banner = map[string]string{}
	for _, line := range strings.Split(r.stdout.String(), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && strings.Count(k, " ") <= 1 {
			r.banner[k] = strings.TrimSpace(v)
		}
	}
	return r
}

// stop interrupts dev as Ctrl-C would and returns its exit code.
func (r *devRun) stop(t *testing.T) int {
	t.Helper()
	r.cancel()
	select {
	case code := <-r.done:
		r.done <- code // for the cleanup
		return code
	case <-time.After(90 * time.Second):
		t.Fatal("madbase dev did not stop within 90s of the interrupt")
		return -1
	}
}

func getJSON(t *testing.T, url, bearer string, v any) int {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: decode: %v", url, err)
		}
	}
	return resp.StatusCode
}

// reachableTempDir is a temp dir that PostgreSQL, run as another OS user when
// the tests run as root, can reach (t.TempDir's directories are 0700).
func reachableTempDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{filepath.Dir(d), d} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func TestDev(t *testing.T) {
	dir := filepath.Join(reachableTempDir(t), ".madbase")
	apiPort, pgPort := devFreePort(t), devFreePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(apiPort)

	first := startDev(t, dir, apiPort, pgPort)
	b := first.banner
	for _, k := range []string{"API URL", "anon key", "service_role key", "publishable key", "secret key", "Admin token", "Database URL"} {
		if b[k] == "" {
			t.Fatalf("banner lacks %q:\n%s", k, first.stdout)
		}
	}
	if want := "http://localhost:" + strconv.Itoa(apiPort); b["API URL"] != want {
		t.Errorf("API URL = %q, want %q", b["API URL"], want)
	}
	if !strings.Contains(b["Database URL"], "127.0.0.1:"+strconv.Itoa(pgPort)+"/default") {
		t.Errorf("Database URL = %q, want the default database on port %d", b["Database URL"], pgPort)
	}
	if code := getJSON(t, base+"/health", "", nil); code != 200 {
		t.Fatalf("/health = %d", code)
	}
	var p struct {
		Ref, Status    string
		AnonKey        string `json:"anon_key"`
		ServiceRoleKey string `json:"service_role_key"`
		PublishableKey string `json:"publishable_key"`
		SecretKey      string `json:"secret_key"`
		Settings       struct {
			Auth struct {
				Autoconfirm bool `json:"autoconfirm"`
			} `json:"auth"`
		} `json:"settings"`
	}
	if code := getJSON(t, base+"/admin/v1/projects/default", b["Admin token"], &p); code != 200 {
		t.Fatalf("GET /admin/v1/projects/default with the printed admin token = %d", code)
	}
	if p.Ref != "default" || p.Status != "active" || p.AnonKey != b["anon key"] || p.ServiceRoleKey != b["service_role key"] ||
		p.PublishableKey != b["publishable key"] || p.SecretKey != b["secret key"] {
		t.Errorf("project as the admin API reports it does not match the printed keys: %+v\nbanner: %v", p, b)
	}
	if !p.Settings.Auth.Autoconfirm {
		t.Errorf("project default has auth autoconfirm off")
	}
	if code := getJSON(t, base+"/admin/v1/projects/default", strings.Repeat("x", 64), nil); code != 401 {
		t.Errorf("admin API with a wrong token = %d, want 401", code)
	}
	fi, err := os.Stat(filepath.Join(dir, "dev.env"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("dev.env mode = %v, want 0600", fi.Mode().Perm())
	}

	if code := first.stop(t); code != 0 {
		t.Fatalf("dev exited %d on interrupt\nstderr:\n%s", code, first.stderr)
	}
	// pg_ctl stop removes the pid file only once the server has shut down.
	if _, err := os.Stat(filepath.Join(dir, "pg", "postmaster.pid")); !os.IsNotExist(err) {
		t.Errorf("PostgreSQL still running after dev stopped (postmaster.pid: %v)", err)
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(apiPort), time.Second); err == nil {
		c.Close()
		t.Errorf("API port still accepting connections after dev stopped")
	}

	// A second run reuses the cluster, the secrets and the project.
	second := startDev(t, dir, apiPort, pgPort)
	if strings.Contains(second.stderr.String(), "initialising") {
		t.Errorf("second run initialised PostgreSQL again:\n%s", second.stderr)
	}
	for _, k := range []string{"anon key", "service_role key", "publishable key", "secret key", "Admin token", "Database URL"} {
		if second.banner[k] != b[k] {
			t.Errorf("second run printed %s %q, first %q", k, second.banner[k], b[k])
		}
	}
	if code := getJSON(t, base+"/admin/v1/projects/default", b["Admin token"], nil); code != 200 {
		t.Errorf("second run: admin API with the first run's token = %d", code)
	}
	if code := second.stop(t); code != 0 {
		t.Fatalf("second run exited %d\nstderr:\n%s", code, second.stderr)
	}
}

func TestLoadDevEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev.env")
	a, err := loadDevEnv(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(a[envEncryptionKey]) != 64 || len(a[envAdminToken]) < 16 || a[envPGPassword] == "" {
		t.Fatalf("generated values look wrong: %v", a)
	}
	// A value the user added by hand survives; a missing one is generated.
	b0, _ := os.ReadFile(path)
	edited := strings.Replace(string(b0), envPGPassword+"=", "#", 1) + "EXTRA=1\n"
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := loadDevEnv(path)
	if err != nil {
		t.Fatal(err)
	}
	if b[envEncryptionKey] != a[envEncryptionKey] || b[envAdminToken] != a[envAdminToken] {
		t.Errorf("secrets not reused: %v vs %v", b, a)
	}
	if b[envPGPassword] == "" || b[envPGPassword] == a[envPGPassword] || b["EXTRA"] != "1" {
		t.Errorf("after edit: %v", b)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if err := os.WriteFile(path, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadDevEnv(path); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("malformed file: err = %v, want one naming line 1", err)
	}
}

func TestLocalURL(t *testing.T) {
	for addr, want := range map[string]string{
		"0.0.0.0:8000":   "http://localhost:8000",
		"[::]:8000":      "http://localhost:8000",
		"127.0.0.1:9000": "http://localhost:9000",
		"10.1.2.3:8000":  "http://10.1.2.3:8000",
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := localURL(a); got != want {
			t.Errorf("localURL(%s) = %s, want %s", addr, got, want)
		}
	}
}
