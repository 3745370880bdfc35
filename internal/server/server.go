package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/madbase/madbase/internal/admin"
	"github.com/madbase/madbase/internal/bus"
	"github.com/madbase/madbase/internal/config"
	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/metrics"
	"github.com/madbase/madbase/internal/ratelimit"
	"github.com/madbase/madbase/internal/secret"
	"github.com/madbase/madbase/internal/tenant"
)

// Server is a running MadBase node.
type Server struct {
	cfg     *config.Config
	log     *slog.Logger
	store   *control.Store
	tenants *tenant.Manager
	metrics *metrics.Metrics
	admin   *admin.API
	mux     *http.ServeMux
	// raw are the surfaces that parse their whole path themselves, by
	// prefix; see mountRaw.
	raw     []rawRoute
	handler http.Handler

	// workers run until the server's context ends (replication streams,
	// cache listeners); shutdown hooks run when draining starts (closing
	// WebSockets with 1001).
	workers  []func(ctx context.Context) error
	shutdown []func()

	// bus connects this node to the others (MADBASE_REDIS_URL); nil on a
	// single node.
	bus bus.Bus
	// limiter keeps the surfaces' rate-limit budgets for the whole cluster
	// (over the bus's Redis); nil on a single node.
	limiter ratelimit.Allower
}

// New builds a server: connects to and migrates the control plane, and
// mounts every surface.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Server, error) {
	box, err := secret.New(cfg.EncryptionKey)
	if err != nil {
		return nil, err
	}
	store, err := control.Open(ctx, cfg.DatabaseURL, box)
	if err != nil {
		return nil, err
	}
	if err := store.Ping(ctx); err != nil {
		store.Close()
		return nil, fmt.Errorf("control database unreachable (MADBASE_DATABASE_URL): %w", err)
	}
	if _, err := store.Migrate(ctx); err != nil {
		store.Close()
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		log:     log,
		store:   store,
		tenants: tenant.NewManager(store, log, tenant.Options{DefaultProject: cfg.DefaultProject, MaxConns: cfg.MaxConns}),
		metrics: metrics.New(),
		mux:     http.NewServeMux(),
	}
	s.metrics.PoolStats(s.tenants.PoolStats)
	s.admin = admin.New(log, s.tenants, admin.Options{Token: cfg.AdminToken, PublicURL: cfg.PublicURLFor})
	s.mux.HandleFunc("GET /health", s.health)
	s.mux.Handle("GET /metrics", s.metrics.Handler())
	s.mux.Handle("/admin/v1/", s.admin)
	if cfg.RedisURL != "" {
		// Nodes of one deployment share the control database; its name
		// keeps deployments (and tests) sharing one Redis apart.
		var db string
		if err := store.Pool().QueryRow(ctx, `select current_database()`).Scan(&db); err != nil {
			s.Close()
			return nil, fmt.Errorf("control database: %w", err)
		}
		rb, err := bus.NewRedis(ctx, cfg.RedisURL, "madbase:"+db+":", log)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("MADBASE_REDIS_URL: %w", err)
		}
		s.bus = rb
		s.limiter = newSharedLimiter(rb, log)
	}
	if err := s.mountSurfaces(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.mux.Handle("/", httpx.Adapt(log, httpx.AdminJSON, func(w http.ResponseWriter, r *http.Request) error {
		return httpx.E(http.StatusNotFound, "not_found", "no route for "+r.Method+" "+r.URL.Path)
	}))
	s.handler = httpx.Chain(log, func(r *http.Request, info *httpx.Info, status int, elapsed time.Duration) {
		s.metrics.Observe(info.Surface, info.Route, info.Project, status, elapsed)
	}, http.HandlerFunc(s.route))
	s.workers = append(s.workers, s.tenants.Watch, s.bootstrapAll)
	return s, nil
}

type rawRoute struct {
	prefix  string
	handler http.Handler
}

// mountRaw mounts h for every path under prefix exactly as sent. ServeMux
// answers a path holding "//", "." or ".." segments with a redirect to its
// cleaned form, and a client that follows it (fetch re-sends even a POST's
// body on 307) reaches another object or row than it named; these surfaces
// read their paths themselves and refuse such names in their own dialect.
// The mux keeps the prefix too, for its redirect of the bare prefix
// (/rest/v1 to /rest/v1/).
func (s *Server) mountRaw(prefix string, h http.Handler) {
	s.raw = append(s.raw, rawRoute{prefix, h})
	s.mux.Handle(prefix, h)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	for _, rr := range s.raw {
		if strings.HasPrefix(r.URL.Path, rr.prefix) {
			rr.handler.ServeHTTP(w, r)
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// Handler is the whole HTTP API, for tests.
func (s *Server) Handler() http.Handler { return s.handler }

// Tenants is the tenant manager, for tests and the dev command.
func (s *Server) Tenants() *tenant.Manager { return s.tenants }

// Close releases pools.
func (s *Server) Close() {
	if s.bus != nil {
		_ = s.bus.Close()
	}
	s.tenants.Close()
	s.store.Close()
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("health: control plane unreachable", "err", err)
		httpx.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// bootstrapAll re-runs the (idempotent) tenant bootstrap for every active
// project at start, so a new MadBase version's tenant migrations apply
// without anyone touching each project.
func (s *Server) bootstrapAll(ctx context.Context) error {
	s.BootstrapAll(ctx)
	return nil
}

// BootstrapAll bootstraps every active project's database and reports how
// many succeeded and failed; failures are logged.
func (s *Server) BootstrapAll(ctx context.Context) (ok, failed int) {
	ps, err := s.store.Projects(ctx, false)
	if err != nil {
		s.log.Error("bootstrap: listing projects", "err", err)
		return 0, 1
	}
	for _, p := range ps {
		if p.Status != control.StatusActive {
			continue
		}
		n, err := tenant.Bootstrap(ctx, p.DBURL)
		if err != nil {
			s.log.Error("bootstrap failed", "project", p.Ref, "err", err)
			failed++
			continue
		}
		ok++
		if n > 0 {
			s.log.Info("tenant migrations applied", "project", p.Ref, "count", n)
		}
	}
	return ok, failed
}

// Run serves on the configured address until ctx ends, then drains.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("MADBASE_ADDR: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then stops accepting, runs shutdown
// hooks, waits for in-flight requests (up to the configured grace) and
// stops the workers.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	for _, f := range s.shutdown {
		srv.RegisterOnShutdown(f)
	}
	wctx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for _, w := range s.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w(wctx); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Error("background worker stopped", "err", err)
			}
		}()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("madbase listening", "addr", ln.Addr().String(), "public_url", s.cfg.PublicURL)
	select {
	case err := <-errc:
		stopWorkers()
		wg.Wait()
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down: draining in-flight requests", "grace", s.cfg.ShutdownGrace.String())
	dctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	err := srv.Shutdown(dctx)
	stopWorkers()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	s.log.Info("shutdown complete")
	return nil
}
