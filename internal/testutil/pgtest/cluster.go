package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// readyTimeout bounds how long Start waits for a freshly started server to
// accept connections; a loaded CI machine running many packages at once can
// be slow, a broken install should still fail in bounded time.
const readyTimeout = 60 * time.Second

// Cluster is a running throwaway PostgreSQL server owned by this process.
type Cluster struct {
	dir     string // temp root: data/, the unix socket, server.log, owner.pid
	dataDir string
	logPath string
	bin     string
	cred    *syscall.Credential // run as this user (nil: as ourselves)
	port    int
	major   int // server's major version, e.g. 15

	srv *server // nil until the server has been spawned

	cloneMu sync.Mutex // CREATE DATABASE … TEMPLATE must not run concurrently
	seq     atomic.Uint64

	stopOnce sync.Once
	stopErr  error
}

// server is one spawned postmaster process.
type server struct {
	proc    *os.Process
	exited  chan struct{} // closed once the process has been reaped
	waitErr error         // valid after exited is closed
}

// Start initdb's a cluster in a fresh temporary directory and starts it on a
// random free port on 127.0.0.1 with its unix socket in that directory. The
// server runs with wal_level=logical, max_replication_slots=20,
// max_wal_senders=20, fsync=off, synchronous_commit=off, full_page_writes=off,
// max_connections=300 and TimeZone=UTC; every local and host connection,
// replication included, is trusted; the superuser is "postgres".
//
// If the test process dies without calling Stop, the kernel tells the server
// to shut down immediately (parent-death signal), and the next Start removes
// the directory it left behind.
func Start(ctx context.Context) (*Cluster, error) {
	return start(ctx, FreePort)
}

// start is Start with the port picker passed in, for tests.
func start(ctx context.Context, pickPort func() (int, error)) (c *Cluster, err error) {
	bin, err := BinDir()
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	base := tempBase(cred != nil)
	removeStale(base)

	dir, err := os.MkdirTemp(base, "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c = &Cluster{
		dir:     dir,
		dataDir: filepath.Join(dir, "data"),
		logPath: filepath.Join(dir, "server.log"),
		bin:     bin,
		cred:    cred,
	}
	defer func() {
		if err != nil {
			// Never leave a half-started server or its files behind.
			err = errors.Join(err, c.Stop())
			c = nil
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return c, fmt.Errorf("pgtest: %w", err)
	}
	if err := c.chown(dir); err != nil {
		return c, err
	}
	if err := c.initdb(ctx, base); err != nil {
		return c, err
	}
	// A port picked as free can be taken by a parallel test package before the
	// server binds it; try again on a new port when that happens.
	for attempt := 1; ; attempt++ {
		err := c.start(ctx, pickPort)
		if err == nil {
			return c, nil
		}
		if attempt == 3 || !errors.Is(err, errAddrInUse) {
			return c, err
		}
	}
}

// Port returns the TCP port the server listens on at 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// URL returns a connection URL for database db as the superuser.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, url.PathEscape(db))
}

// Exec runs sql in database db on a connection of its own. Without args, sql
// may hold several statements separated by semicolons.
func (c *Cluster) Exec(ctx context.Context, db, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, c.URL(db))
	if err != nil {
		return fmt.Errorf("pgtest: connect to %q: %w", db, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("pgtest: exec in %q: %w", db, err)
	}
	return nil
}

// CreateTemplate creates database name, calls setup with its URL (to run
// migrations, say), then marks it a template that accepts no connections, so
// that NewDB can clone it cheaply. Connections setup left open are
// terminated, since PostgreSQL cannot clone a database that is in use. If
// setup fails the database is dropped.
func (c *Cluster) CreateTemplate(ctx context.Context, name string, setup func(ctx context.Context, url string) error) error {
	ident := pgx.Identifier{name}.Sanitize()
	if err := c.createDB(ctx, name, "template1"); err != nil {
		return fmt.Errorf("pgtest: create template %q: %w", name, err)
	}
	if setup != nil {
		if err := setup(ctx, c.URL(name)); err != nil {
			drop := c.Exec(context.WithoutCancel(ctx), "postgres", "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
			return errors.Join(fmt.Errorf("pgtest: set up template %q: %w", name, err), drop)
		}
	}
	if err := c.Exec(ctx, "postgres", "ALTER DATABASE "+ident+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("pgtest: mark %q as template: %w", name, err)
	}
	err := c.Exec(ctx, "postgres",
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name)
	if err != nil {
		return fmt.Errorf("pgtest: disconnect from template %q: %w", name, err)
	}
	return nil
}

// createDB clones template into a new database called name.
func (c *Cluster) createDB(ctx context.Context, name, template string) error {
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	if c.major >= 15 {
		// Copying the files beats WAL-logging every block (15's default) by
		// about five times for small test databases; the checkpoints it
		// needs are cheap with fsync off.
		sql += " STRATEGY FILE_COPY"
	}
	// PostgreSQL refuses to clone a template while another session, including
	// another clone in progress, is using it.
	c.cloneMu.Lock()
	defer c.cloneMu.Unlock()
	return c.Exec(ctx, "postgres", sql)
}

// Stop shuts the server down immediately (SIGQUIT to the postmaster, which is
// what pg_ctl stop -m immediate sends) and removes the cluster's directory.
// It is safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

func (c *Cluster) stop() error {
	var errs []error
	if s := c.srv; s != nil {
		select {
		case <-s.exited:
		default:
			_ = s.proc.Signal(syscall.SIGQUIT)
			select {
			case <-s.exited:
			case <-time.After(15 * time.Second):
				_ = s.proc.Kill()
				<-s.exited
				errs = append(errs, fmt.Errorf("pgtest: server did not stop on SIGQUIT within 15s; killed it"))
			}
		}
	}
	if c.dir != "" {
		if err := os.RemoveAll(c.dir); err != nil {
			errs = append(errs, fmt.Errorf("pgtest: remove cluster directory: %w", err))
		}
	}
	return errors.Join(errs...)
}

var errAddrInUse = errors.New("address already in use")

// start spawns the postmaster on a newly picked port and waits until it
// accepts connections.
func (c *Cluster) start(ctx context.Context, pickPort func() (int, error)) error {
	port, err := pickPort()
	if err != nil {
		return fmt.Errorf("pgtest: pick a port: %w", err)
	}
	c.port = port
	logFile, err := os.OpenFile(c.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer logFile.Close()

	args := []string{
		"-D", c.dataDir,
		"-p", strconv.Itoa(port),
		"-h", "127.0.0.1",
		"-k", c.dir,
		"-c", "wal_level=logical",
		"-c", "max_replication_slots=20",
		"-c", "max_wal_senders=20",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
		"-c", "TimeZone=UTC",
		"-c", "logging_collector=off",
	}
	s, err := spawn(filepath.Join(c.bin, "postgres"), args, c.dir, logFile, c.cred)
	if err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	c.srv = s

	readyCtx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := c.waitReady(readyCtx, s); err != nil {
		logTail := c.logTail()
		if errors.Is(err, errExited) && strings.Contains(logTail, "could not bind") {
			err = errors.Join(err, errAddrInUse)
		}
		return fmt.Errorf("pgtest: postgres on port %d: %w\nserver log:\n%s", port, err, logTail)
	}
	return nil
}

var errExited = errors.New("server exited during startup")

// waitReady polls until the server accepts connections on its TCP port.
func (c *Cluster) waitReady(ctx context.Context, s *server) error {
	// A server that exits (say, port taken) must not leave us waiting out a
	// connection attempt to whatever holds the port.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		err := c.ping(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("%w (%v)", errExited, s.waitErr)
		default:
		}
		select {
		case <-s.exited:
			return fmt.Errorf("%w (%v)", errExited, s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last attempt: %v)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ping connects over TCP and checks that the server answering is ours: the
// port was free when picked, but a parallel test package's server may have
// taken it since, and ours will then fail to bind and exit.
func (c *Cluster) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var dataDir string
	if err := conn.QueryRow(ctx, "SHOW data_directory").Scan(&dataDir); err != nil {
		return err
	}
	if dataDir != c.dataDir {
		return fmt.Errorf("port %d is served by another cluster (%s)", c.port, dataDir)
	}
	c.major = majorVersion(conn.PgConn().ParameterStatus("server_version"))
	return nil
}

// majorVersion reads the leading number of a server_version such as "15.8"
// or "16beta1 (Debian 16~beta1-1)"; 0 if there is none.
func majorVersion(v string) int {
	end := strings.IndexFunc(v, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(v)
	}
	n, _ := strconv.Atoi(v[:end])
	return n
}

// spawn starts a long-running child that the kernel signals with SIGQUIT
// (immediate shutdown, for postgres) if this process dies first.
func spawn(path string, args []string, dir string, out *os.File, cred *syscall.Credential) (*server, error) {
	s := &server{exited: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		// The parent-death signal fires when the thread that forked the child
		// exits, not the process. Pin this goroutine to its OS thread until the
		// child is gone, so only the test process's death triggers it.
		runtime.LockOSThread()
		defer close(s.exited)
		cmd := exec.Command(path, args...)
		cmd.Dir = dir
		cmd.Stdout = out
		cmd.Stderr = out
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential: cred,
			Pdeathsig:  syscall.SIGQUIT,
			Setpgid:    true, // a terminal's ^C is for the test binary, not the server
		}
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		s.proc = cmd.Process
		started <- nil
		s.waitErr = cmd.Wait()
		// Returning while locked ends the thread; the child is already reaped.
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return s, nil
}

// serverCredential returns the user to run initdb and postgres as: nil for
// ourselves, or the "postgres" OS user when we are root, which both refuse.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and PostgreSQL refuses root: need an OS user \"postgres\" to run it as "+
			"(installing the postgresql package creates one; or run the tests as a non-root user): %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func (c *Cluster) chown(path string) error {
	if c.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// tempBase is the directory cluster directories are made in. A roomy tmpfs
// (/dev/shm) comes first: copying and writing a cluster there is several
// times faster than on disk, and nothing in it has to survive. Otherwise the
// usual temp dir, except that unix socket paths are limited to about 100
// bytes and a server running as another user must be able to reach its
// directory, so /tmp when TMPDIR is long or (as root) not traversable.
func tempBase(asOther bool) string {
	const shm = "/dev/shm"
	var fs syscall.Statfs_t
	if syscall.Statfs(shm, &fs) == nil && fs.Type == tmpfsMagic &&
		uint64(fs.Bavail)*uint64(fs.Bsize) >= 1<<30 && traversable(shm) && syscall.Access(shm, 2 /* W_OK */) == nil {
		return shm
	}
	base := os.TempDir()
	if len(base) > 60 || (asOther && !traversable(base)) {
		return "/tmp"
	}
	return base
}

// tmpfsMagic is TMPFS_MAGIC from linux/magic.h.
const tmpfsMagic = 0x01021994

func traversable(dir string) bool {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == "/" || d == "." {
			return true
		}
	}
}

// removeStale deletes cluster directories left by test processes that died
// without calling Stop (killed, or a test panicked). A directory is stale
// when the process named in its owner.pid is gone (or, lacking that file, when
// it is over a day old); if its server somehow
// outlived its owner, it is told to shut down and the directory is left for
// a later run. Best effort: errors are ignored.
func removeStale(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, "pgtest-*"))
	for _, dir := range dirs {
		owner, ok := readPID(filepath.Join(dir, "owner.pid"))
		if !ok {
			// Being set up right now, or its owner died before writing the file.
			if fi, err := os.Stat(dir); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
				_ = os.RemoveAll(dir)
			}
			continue
		}
		if alive(owner) {
			continue
		}
		dataDir := filepath.Join(dir, "data")
		if pm, ok := readPID(filepath.Join(dataDir, "postmaster.pid")); ok && alive(pm) {
			// Only signal a process that is really this cluster's server.
			cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pm))
			if err == nil && bytes.Contains(cmdline, []byte(dataDir)) {
				_ = syscall.Kill(pm, syscall.SIGQUIT)
			}
			continue
		}
		_ = os.RemoveAll(dir)
	}
}

// readPID reads the first line of a pid file.
func readPID(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	return pid, err == nil && pid > 0
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, for
// the servers tests start.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail returns the end of the server log, for error messages.
func (c *Cluster) logTail() string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read server log: %v)", err)
	}
	return tail(b, 4096)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return strings.TrimRight(string(b), "\n")
}
