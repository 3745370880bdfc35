package server

import "context"

// mountSurfaces builds each client surface and mounts it on s.mux. Each
// surface adds one call here.
func (s *Server) mountSurfaces(ctx context.Context) error {
	_ = ctx
	return nil
}
