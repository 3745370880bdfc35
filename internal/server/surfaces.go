package server

import (
	"context"

	"github.com/madbase/madbase/internal/auth"
	"github.com/madbase/madbase/internal/functions"
	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/realtime"
	"github.com/madbase/madbase/internal/rest"
	"github.com/madbase/madbase/internal/storage"
)

// mountSurfaces builds each client surface and mounts it on s.mux, or with
// mountRaw when it routes its whole path itself. Each surface adds one call
// here.
func (s *Server) mountSurfaces(ctx context.Context) error {
	_ = ctx

	// realtime: Phoenix WebSocket, broadcast/presence, postgres_changes.
	rt := realtime.New(realtime.Options{Log: s.log, Tenants: s.tenants, Metrics: s.metrics.Registry, Bus: s.bus})
	s.mux.Handle("/realtime/v1/", rt.Handler())
	s.workers = append(s.workers, rt.Run)
	s.shutdown = append(s.shutdown, rt.Shutdown)

	// auth: GoTrue-compatible /auth/v1 (users in the tenant's auth schema).
	authSvc, err := auth.New(auth.Options{Log: s.log, Tenants: s.tenants, PublicURL: s.cfg.PublicURLFor, Limiter: s.limiter})
	if err != nil {
		return err
	}
	s.mux.Handle("/auth/v1/", httpx.CORS(httpx.DefaultCORS, httpx.LimitBody(1<<20,
		s.tenants.Guard("auth", s.log, auth.Render, auth.Open, authSvc))))

	// storage: Supabase Storage-compatible /storage/v1 (metadata under RLS, file or S3 bytes).
	st := storage.New(storage.Options{Log: s.log, Tenants: s.tenants, DataDir: s.cfg.DataDir})
	s.mountRaw("/storage/v1/", st.Handler())
	s.workers = append(s.workers, st.Run)

	// rest: PostgREST-compatible /rest/v1 (one SQL statement per request; schema cache per project).
	restSvc := rest.New(rest.Options{Log: s.log, Tenants: s.tenants, Metrics: s.metrics.Registry})
	s.mountRaw("/rest/v1/", restSvc.Handler())
	s.workers = append(s.workers, restSvc.Run)

	// functions: /functions/v1 edge functions (WASI modules on wazero) and their admin endpoints.
	fnSvc, err := functions.New(ctx, functions.Options{Log: s.log, Tenants: s.tenants, Metrics: s.metrics.Registry,
		DataDir: s.cfg.DataDir, PublicURL: s.cfg.PublicURLFor})
	if err != nil {
		return err
	}
	s.mountRaw("/functions/v1/", fnSvc.Handler())
	fnSvc.MountAdmin(s.admin.Handle)
	s.workers = append(s.workers, fnSvc.Run)

	return nil
}
