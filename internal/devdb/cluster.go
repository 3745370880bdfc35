package devdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser is the cluster's superuser role.
const Superuser = "postgres"

// Cluster is a persistent local PostgreSQL data directory and the server
// running on it.
type Cluster struct {
	DataDir  string // initdb's directory
	LogPath  string // server log (pg_ctl -l)
	Port     int    // TCP port on 127.0.0.1
	Password string // the superuser's password, set at initdb and required on every connection

	bin  string
	cred *syscall.Credential // run the server programs as this user; nil: as ourselves
}

// New describes a cluster in dataDir; nothing is created or started. It
// fails with a *MissingError when PostgreSQL is not installed, and, when
// running as root, when there is no "postgres" OS user to run it as.
func New(dataDir, logPath string, port int, password string) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	return &Cluster{DataDir: dataDir, LogPath: logPath, Port: port, Password: password, bin: bin, cred: cred}, nil
}

// credential is nil unless we are root, then the "postgres" user's: initdb
// and postgres refuse to run as root.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(Superuser)
	if err != nil {
		return nil, fmt.Errorf("running as root, which PostgreSQL refuses, and there is no OS user %q to run it as "+
			"(installing PostgreSQL creates one: apt-get install postgresql): %w", Superuser, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("OS user %s: %w", Superuser, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// Initialized reports whether DataDir already holds a cluster.
func (c *Cluster) Initialized() bool {
	_, err := os.Stat(filepath.Join(c.DataDir, "PG_VERSION"))
	return err == nil
}

// settings are appended to postgresql.conf at initdb. The port is not among
// them: it is given at every start, so -pg-port can change between runs.
const settings = `
# Added by madbase dev.
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
max_connections = 200
timezone = 'UTC'
`

// Init creates the data directory with initdb: UTF-8, C locale, password
// (SCRAM) authentication on every connection, and the settings above. The
// directory must not exist or be empty. When running as root the directory
// is owned by the server's user, and its parent must be reachable by it.
func (c *Cluster) Init(ctx context.Context) error {
	parent := filepath.Dir(c.DataDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	if c.cred != nil && !reachable(parent) {
		return fmt.Errorf("%s is not reachable by the OS user %q that PostgreSQL runs as (every directory above it "+
			"needs o+x); pick another -dir or chmod it", parent, Superuser)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", c.DataDir, err)
	}
	if err := c.chown(c.DataDir); err != nil {
		return err
	}
	// initdb reads the password from a file; it lives in the parent only for
	// the duration of the call.
	pw, err := os.CreateTemp(parent, ".pwfile-")
	if err != nil {
		return err
	}
	defer os.Remove(pw.Name())
	_, werr := pw.WriteString(c.Password + "\n")
	if err := errors.Join(werr, pw.Close(), c.chown(pw.Name())); err != nil {
		return fmt.Errorf("write initdb password file: %w", err)
	}
	out, err := c.run(ctx, "initdb", "-D", c.DataDir, "-U", Superuser, "--pwfile="+pw.Name(),
		"--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8", "--locale=C")
	if err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	f, err := os.OpenFile(filepath.Join(c.DataDir, "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, werr = f.WriteString(settings)
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("configure cluster: %w", err)
	}
	return nil
}

// Running reports whether a server is running on DataDir (pg_ctl status).
func (c *Cluster) Running(ctx context.Context) bool {
	_, err := c.run(ctx, "pg_ctl", "-D", c.DataDir, "status")
	return err == nil
}

// Start starts the server and waits until it accepts connections. A server
// left running on DataDir by an earlier run that did not stop it is stopped
// first, so the port and settings of this run apply.
func (c *Cluster) Start(ctx context.Context) error {
	if err := c.checkVersion(ctx); err != nil {
		return err
	}
	if c.Running(ctx) {
		if err := c.Stop(ctx); err != nil {
			return fmt.Errorf("stop the server left running by an earlier run: %w", err)
		}
	}
	// The log is opened by the server's user (pg_ctl's shell redirection).
	if f, err := os.OpenFile(c.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
		return err
	} else if err := errors.Join(f.Close(), c.chown(c.LogPath)); err != nil {
		return err
	}
	out, err := c.run(ctx, "pg_ctl", "-D", c.DataDir, "-l", c.LogPath, "-w", "-t", "60",
		"-o", "-p "+strconv.Itoa(c.Port), "start")
	if err != nil {
		return fmt.Errorf("start PostgreSQL on port %d: %w\n%s\nserver log (%s):\n%s", c.Port, err, out, c.LogPath, c.logTail())
	}
	// pg_ctl -w waits for the server's "ready" status; connecting once more
	// makes sure it is ours that answers on the port.
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.Exec(ctx, "postgres", "select 1")
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("PostgreSQL started but does not accept connections on port %d: %w", c.Port, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop shuts the server down with pg_ctl's fast mode: sessions are
// disconnected, and the data is checkpointed and left consistent.
func (c *Cluster) Stop(ctx context.Context) error {
	out, err := c.run(ctx, "pg_ctl", "-D", c.DataDir, "-m", "fast", "-w", "-t", "60", "stop")
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// checkVersion refuses binaries of another major version than the data
// directory's, which PostgreSQL would reject with a less helpful message.
func (c *Cluster) checkVersion(ctx context.Context) error {
	b, err := os.ReadFile(filepath.Join(c.DataDir, "PG_VERSION"))
	if err != nil {
		return fmt.Errorf("%s holds no cluster: %w", c.DataDir, err)
	}
	data := strings.TrimSpace(string(b))
	out, err := exec.CommandContext(ctx, filepath.Join(c.bin, "postgres"), "--version").Output()
	if err != nil {
		return fmt.Errorf("postgres --version: %w", err)
	}
	// "postgres (PostgreSQL) 15.19 (Debian 15.19-0+deb12u1)"
	fields := strings.Fields(string(out))
	if len(fields) < 3 {
		return nil
	}
	major, _, _ := strings.Cut(fields[2], ".")
	if major != data {
		alt := "/usr/lib/postgresql/" + data + "/bin"
		return fmt.Errorf("%s was made by PostgreSQL %s but the programs found (%s) are version %s; "+
			"install PostgreSQL %s (%s), or remove the directory to start afresh", c.DataDir, data, c.bin, major, data, alt)
	}
	return nil
}

// URL is a connection URL for database db as the superuser.
func (c *Cluster) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(Superuser, c.Password),
		Host:     "127.0.0.1:" + strconv.Itoa(c.Port),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Exec runs one statement in database db.
func (c *Cluster) Exec(ctx context.Context, db, sql string, args ...any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL(db))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// EnsureDatabase creates database name unless it exists, and reports
// whether it did.
func (c *Cluster) EnsureDatabase(ctx context.Context, name string) (created bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "select exists (select from pg_database where datname = $1)", name).Scan(&exists); err != nil {
		return false, err
	}
	if exists {
		return false, nil
	}
	if _, err := conn.Exec(ctx, "create database "+pgx.Identifier{name}.Sanitize()); err != nil {
		return false, fmt.Errorf("create database %s: %w", name, err)
	}
	return true, nil
}

// run runs one of the server programs as the server's user.
func (c *Cluster) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, prog), args...)
	// initdb wants to be able to stat its working directory; the server's
	// user may not reach ours.
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: c.cred,
		// The server pg_ctl leaves behind must not get the terminal's ^C:
		// madbase dev stops it itself, after the API server has drained.
		Setpgid: true,
	}
	return cmd.CombinedOutput()
}

func (c *Cluster) chown(path string) error {
	if c.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		return fmt.Errorf("hand %s to OS user %s: %w", path, Superuser, err)
	}
	return nil
}

// reachable reports whether every directory from / down to dir lets others
// through (o+x), as the server's user needs.
func reachable(dir string) bool {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

func (c *Cluster) logTail() string {
	b, err := os.ReadFile(c.LogPath)
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	if len(b) > 3000 {
		b = b[len(b)-3000:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return strings.TrimRight(string(b), "\n")
}
