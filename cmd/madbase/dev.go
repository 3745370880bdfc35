package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/madbase/madbase/internal/config"
	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/devdb"
	"github.com/madbase/madbase/internal/server"
	"github.com/madbase/madbase/internal/tenant"
)

// Names under the dev directory.
const (
	devEnvFile   = "dev.env"      // generated secrets, reused by every run
	devPGDir     = "pg"           // the cluster's data directory
	devPGLog     = "postgres.log" // its server log
	devControlDB = "madbase"      // control-plane database
	devProject   = "default"      // the project dev creates, and its database
)

// Variables persisted in dev.env. The encryption key must never change once
// secrets are sealed with it; the others are kept so printed keys and URLs
// stay valid from one run to the next.
const (
	envEncryptionKey = "MADBASE_ENCRYPTION_KEY"
	envAdminToken    = "MADBASE_ADMIN_TOKEN"
	envPGPassword    = "MADBASE_DEV_PG_PASSWORD"
)

// dev runs a local PostgreSQL (initialised on first use) and the API server
// in-process, with project "default" created, until ctx ends; then it drains
// the server and stops PostgreSQL.
func dev(ctx context.Context, args []string, env map[string]string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("madbase dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", ":8000", "address the API listens on")
	dir := fs.String("dir", ".madbase", "directory for the database, file storage and generated secrets")
	pgPort := fs.Int("pg-port", 54322, "port of the local PostgreSQL (on 127.0.0.1)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: madbase dev [flags]\n\n"+
			"Runs a local PostgreSQL under -dir and MadBase on -addr with a project named \"default\",\n"+
			"and prints its URL and keys. Ctrl-C stops both; the next run reuses the data.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "madbase dev: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *pgPort < 1 || *pgPort > 65535 {
		fmt.Fprintln(stderr, "madbase dev: -pg-port must be between 1 and 65535")
		return 2
	}
	if err := runDev(ctx, devOptions{addr: *addr, dir: *dir, pgPort: *pgPort}, env, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "madbase dev: %v\n", err)
		return 1
	}
	return 0
}

type devOptions struct {
	addr   string
	dir    string
	pgPort int
}

func runDev(ctx context.Context, opt devOptions, env map[string]string, stdout, stderr io.Writer) (err error) {
	dir, err := filepath.Abs(opt.dir)
	if err != nil {
		return err
	}
	// 0755: when running as root, PostgreSQL runs as another user and must
	// be able to reach the data directory inside.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	secrets, err := loadDevEnv(filepath.Join(dir, devEnvFile))
	if err != nil {
		return err
	}

	pg, err := devdb.New(filepath.Join(dir, devPGDir), filepath.Join(dir, devPGLog), opt.pgPort, secrets[envPGPassword])
	if err != nil {
		return err
	}
	if !pg.Initialized() {
		fmt.Fprintf(stderr, "madbase dev: initialising PostgreSQL in %s\n", pg.DataDir)
		if err := pg.Init(ctx); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "madbase dev: starting PostgreSQL on 127.0.0.1:%d (log: %s)\n", opt.pgPort, pg.LogPath)
	if err := pg.Start(ctx); err != nil {
		return err
	}
	defer func() {
		// ctx is done by now when we were interrupted; stopping must still run.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 90*time.Second)
		defer cancel()
		fmt.Fprintln(stderr, "madbase dev: stopping PostgreSQL")
		if serr := pg.Stop(sctx); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	for _, db := range []string{devControlDB, devProject} {
		if _, err := pg.EnsureDatabase(ctx, db); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", opt.addr)
	if err != nil {
		return fmt.Errorf("-addr %s: %w", opt.addr, err)
	}
	defer ln.Close() // Serve closes it too; this covers the early returns
	cenv := map[string]string{}
	for k, v := range env {
		cenv[k] = v
	}
	cenv["MADBASE_DATABASE_URL"] = pg.URL(devControlDB)
	cenv["MADBASE_ADDR"] = opt.addr
	cenv["MADBASE_DATA_DIR"] = dir
	cenv["MADBASE_DEFAULT_PROJECT"] = devProject
	cenv[envEncryptionKey] = secrets[envEncryptionKey]
	cenv[envAdminToken] = secrets[envAdminToken]
	if strings.TrimSpace(env["MADBASE_PUBLIC_URL"]) == "" {
		cenv["MADBASE_PUBLIC_URL"] = localURL(ln.Addr())
	}
	cfg, err := config.FromEnv(cenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	p, err := ensureDevProject(ctx, srv.Tenants(), pg.URL(devProject))
	if err != nil {
		return err
	}
	printDevBanner(stdout, cfg, p, pg, dir)
	if err := srv.Serve(ctx, ln); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// ensureDevProject returns project "default", creating it (with sign-ups
// confirmed at once, since a dev machine has no mail server) when absent.
// Its database URL is brought up to date when -pg-port changed since the
// project was created.
func ensureDevProject(ctx context.Context, m *tenant.Manager, dbURL string) (*control.Project, error) {
	p, err := m.Store().Project(ctx, devProject)
	switch {
	case errors.Is(err, control.ErrNotFound):
		p, err = m.Provision(ctx, tenant.Spec{
			Ref:      devProject,
			Name:     "Default project",
			DBURL:    dbURL,
			Settings: map[string]json.RawMessage{"auth": json.RawMessage(`{"autoconfirm": true}`)},
		})
		if err != nil {
			return nil, fmt.Errorf("create project %q: %w", devProject, err)
		}
		return p, nil
	case err != nil:
		return nil, err
	}
	if p.DBURL != dbURL {
		p.DBURL = dbURL
		if err := m.Store().Update(ctx, p); err != nil {
			return nil, fmt.Errorf("update project %q's database URL: %w", devProject, err)
		}
		m.Invalidate(p.Ref)
	}
	return p, nil
}

// localURL is the browser-facing URL of a listener bound to addr: the
// wildcard address becomes localhost.
func localURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://localhost:8000"
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() || ip.IsLoopback() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func printDevBanner(w io.Writer, cfg *config.Config, p *control.Project, pg *devdb.Cluster, dir string) {
	status := ""
	if p.Status != control.StatusActive {
		status = "  (status: " + p.Status + "; enable it with POST /admin/v1/projects/default/enable)"
	}
	rows := [][2]string{
		{"API URL", cfg.PublicURLFor(p.Ref)},
		{"Project", p.Ref + status},
		{"anon key", p.AnonKey},
		{"service_role key", p.ServiceRoleKey},
		{"publishable key", p.PublishableKey},
		{"secret key", p.SecretKey},
		{"Admin token", cfg.AdminToken},
		{"Database URL", pg.URL(devProject)},
	}
	fmt.Fprintln(w, "\nMadBase is running.")
	fmt.Fprintln(w)
	for _, r := range rows {
		fmt.Fprintf(w, "  %-18s%s\n", r[0]+":", r[1])
	}
	fmt.Fprintf(w, "\n  Admin API:  curl -H 'Authorization: Bearer %s' %s/admin/v1/projects\n", cfg.AdminToken, cfg.PublicURLFor(p.Ref))
	fmt.Fprintf(w, "  psql:       psql '%s'\n", pg.URL(devProject))
	fmt.Fprintf(w, "\nGenerated secrets are kept in %s. Press Ctrl-C to stop.\n\n", filepath.Join(dir, devEnvFile))
}

// loadDevEnv reads path's KEY=VALUE lines and fills in (and writes back)
// any of the persisted secrets that are missing. The file is kept 0600.
func loadDevEnv(path string) (map[string]string, error) {
	vals := map[string]string{}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return nil, fmt.Errorf("%s:%d: want KEY=VALUE", path, n)
			}
			vals[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	changed := false
	for _, k := range []string{envEncryptionKey, envAdminToken, envPGPassword} {
		if vals[k] != "" {
			continue
		}
		vals[k] = randomHex(32)
		changed = true
	}
	if !changed {
		return vals, os.Chmod(path, 0o600)
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	sb.WriteString("# Generated by madbase dev; reused by every run. Keep it secret.\n" +
		"# Losing MADBASE_ENCRYPTION_KEY makes the stored project secrets unreadable.\n")
	for _, k := range keys {
		sb.WriteString(k + "=" + vals[k] + "\n")
	}
	tmp := path + ".tmp." + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, []byte(sb.String()), 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return nil, err
	}
	return vals, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}
