package server

import (
	"context"

	"github.com/madbase/madbase/internal/realtime"
)

// mountSurfaces builds each client surface and mounts it on s.mux. Each
// surface adds one call here.
func (s *Server) mountSurfaces(ctx context.Context) error {
	_ = ctx

	// realtime: Phoenix WebSocket, broadcast/presence, postgres_changes.
	rt := realtime.New(realtime.Options{Log: s.log, Tenants: s.tenants, Metrics: s.metrics.Registry})
	s.mux.Handle("/realtime/v1/", rt.Handler())
	s.workers = append(s.workers, rt.Run)
	s.shutdown = append(s.shutdown, rt.Shutdown)

	return nil
}
