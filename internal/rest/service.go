package rest

import (
	"context"
	"log/slog"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/tenant"
)

// Options are the Service's dependencies.
type Options struct {
	Log     *slog.Logger
	Tenants *tenant.Manager
	// BodyLimit caps request bodies (default 64 MiB).
	BodyLimit int64
	// Metrics receives the schema cache's collectors (nil: not exported).
	Metrics prometheus.Registerer
}

// Service serves /rest/v1 for every project.
type Service struct {
	log       *slog.Logger
	tenants   *tenant.Manager
	bodyLimit int64

	// base parents the per-project schema listeners; Close cancels it.
	base    context.Context
	stopAll context.CancelFunc

	metrics *collectors

	mu     sync.Mutex
	caches map[string]*projectCache
}

// New builds the service and subscribes it to project changes, which drop
// the project's schema cache and listener.
func New(opt Options) *Service {
	if opt.BodyLimit <= 0 {
		opt.BodyLimit = 64 << 20
	}
	base, cancel := context.WithCancel(context.Background())
	s := &Service{log: opt.Log, tenants: opt.Tenants, bodyLimit: opt.BodyLimit, base: base, stopAll: cancel,
		metrics: newCollectors(opt.Metrics), caches: map[string]*projectCache{}}
	opt.Tenants.OnChange(s.drop)
	return s
}

// Handler is the /rest/v1/ surface: CORS, then project resolution and
// authentication (errors in PostgREST's dialect), then the API.
func (s *Service) Handler() http.Handler {
	api := httpx.Adapt(s.log, Render, s.serve)
	return httpx.CORS(httpx.DefaultCORS, s.tenants.Guard("rest", s.log, Render, nil, api))
}

// Run keeps the schema listeners until ctx ends, then stops them.
func (s *Service) Run(ctx context.Context) error {
	<-ctx.Done()
	s.Close()
	return nil
}

// Close stops every schema listener and forgets the caches.
func (s *Service) Close() {
	s.stopAll()
	s.drop("")
}
