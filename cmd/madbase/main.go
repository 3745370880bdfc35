// Command madbase is the MadBase binary: a Supabase-compatible backend
// serving many projects over their own PostgreSQL databases.
//
// Subcommands: serve, dev, migrate, version.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/madbase/madbase/internal/config"
	"github.com/madbase/madbase/internal/server"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

const usage = `usage: madbase <command>

commands:
  serve     run the API server (configured by MADBASE_* environment variables)
  dev       run a local PostgreSQL and MadBase with a default project
  migrate   apply control-plane migrations and bootstrap every project's database, then exit
  version   print the version
`

func run(args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "serve":
		return serve(ctx, config.Environ(environ), stderr)
	case "migrate":
		return migrateCmd(ctx, config.Environ(environ), stdout, stderr)
	case "dev":
		return dev(ctx, args[1:], config.Environ(environ), stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "madbase", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "madbase: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func loadConfig(env map[string]string, stderr io.Writer) (*config.Config, *slog.Logger, bool) {
	cfg, err := config.FromEnv(env)
	if err != nil {
		fmt.Fprintf(stderr, "madbase: %v\n", err)
		return nil, nil, false
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	return cfg, log, true
}

func serve(ctx context.Context, env map[string]string, stderr io.Writer) int {
	cfg, log, ok := loadConfig(env, stderr)
	if !ok {
		return 2
	}
	log.Debug("configuration loaded", "addr", cfg.Addr, "data_dir", cfg.DataDir)
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "madbase: %v\n", err)
		return 1
	}
	defer srv.Close()
	if err := srv.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "madbase: %v\n", err)
		return 1
	}
	return 0
}

func migrateCmd(ctx context.Context, env map[string]string, stdout, stderr io.Writer) int {
	cfg, log, ok := loadConfig(env, stderr)
	if !ok {
		return 2
	}
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "madbase: %v\n", err)
		return 1
	}
	defer srv.Close()
	n, failed := srv.BootstrapAll(ctx)
	fmt.Fprintf(stdout, "control plane migrated; %d project database(s) bootstrapped, %d failed\n", n, failed)
	if failed > 0 {
		return 1
	}
	return 0
}
