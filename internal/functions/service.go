package functions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/functions/runtime"
	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/tenant"
)

// Options configure a Service.
type Options struct {
	Log     *slog.Logger
	Tenants *tenant.Manager
	// Metrics, when set, receives the service's collectors.
	Metrics *prometheus.Registry
	// DataDir is MADBASE_DATA_DIR: modules are kept under DataDir/functions
	// and wazero's compilation cache under DataDir/functions/cache.
	DataDir string
	// PublicURL gives a project's API URL (config.PublicURLFor), the
	// functions' SUPABASE_URL unless the project's api_url setting says
	// otherwise.
	PublicURL func(ref string) string
	// MaxModules bounds the compiled modules kept in memory (default 32).
	MaxModules int
	// MaxConcurrent bounds invocations running at once; more wait for a
	// slot as long as their client does (default 128).
	MaxConcurrent int
	// LogEntries is how many invocations are kept per function (default 100).
	LogEntries int
	// CacheTTL bounds how long a function's metadata or a project's secrets
	// may be served stale when a change on another node went unnoticed
	// (default 30 s; changes on this node apply at once).
	CacheTTL time.Duration
	// HTTPClient performs the functions' outbound requests (nil: default).
	HTTPClient *http.Client
}

// Service is the /functions/v1 surface and its admin endpoints.
type Service struct {
	opt     Options
	log     *slog.Logger
	tenants *tenant.Manager
	store   *store
	rt      *runtime.Runtime
	modules *modules
	logs    *logBook
	slots   chan struct{}
	met     *metrics

	mu      sync.Mutex
	fns     map[fnKey]cachedFn
	secrets map[string]cachedSecrets
	// gen counts invalidations, so that a lookup that raced with one does
	// not put what it read before it back into the cache.
	gen uint64

	closeOnce sync.Once
}

type cachedFn struct {
	f  *Function // nil: known not to exist
	at time.Time
}

type cachedSecrets struct {
	kv map[string]string
	at time.Time
}

// maxCachedFns bounds the function metadata cache, which also remembers
// names that do not exist (so probing random names costs no query each).
const maxCachedFns = 10000

// New starts the functions runtime and registers the service's hooks with
// the tenant manager.
func New(ctx context.Context, opt Options) (*Service, error) {
	if opt.Log == nil || opt.Tenants == nil {
		return nil, errors.New("functions: Log and Tenants are required")
	}
	if opt.DataDir == "" {
		return nil, errors.New("functions: DataDir is required")
	}
	if opt.MaxModules <= 0 {
		opt.MaxModules = 32
	}
	if opt.MaxConcurrent <= 0 {
		opt.MaxConcurrent = 128
	}
	if opt.LogEntries <= 0 {
		opt.LogEntries = 100
	}
	if opt.CacheTTL <= 0 {
		opt.CacheTTL = 30 * time.Second
	}
	dir := filepath.Join(opt.DataDir, "functions")
	rt, err := runtime.New(ctx, runtime.Config{CacheDir: filepath.Join(dir, "cache"), MaxMemoryPages: MaxMemoryPages, HTTPClient: opt.HTTPClient})
	if err != nil {
		return nil, err
	}
	cs := opt.Tenants.Store()
	s := &Service{
		opt:     opt,
		log:     opt.Log,
		tenants: opt.Tenants,
		store:   &store{pool: cs.Pool(), box: cs.Box(), dir: dir},
		rt:      rt,
		modules: newModules(rt, opt.MaxModules),
		logs:    newLogBook(opt.LogEntries),
		slots:   make(chan struct{}, opt.MaxConcurrent),
		fns:     map[fnKey]cachedFn{},
		secrets: map[string]cachedSecrets{},
	}
	s.met = newMetrics(s)
	if opt.Metrics != nil {
		if err := s.met.register(opt.Metrics); err != nil {
			_ = rt.Close(ctx)
			return nil, fmt.Errorf("functions: metrics: %w", err)
		}
	}
	opt.Tenants.OnChange(s.projectChanged)
	return s, nil
}

// Run waits for ctx to end, then releases the runtime; as a server worker
// it stops after in-flight requests have drained.
func (s *Service) Run(ctx context.Context) error {
	<-ctx.Done()
	return s.Close(context.WithoutCancel(ctx))
}

// Close releases the runtime and every compiled module.
func (s *Service) Close(ctx context.Context) error {
	var err error
	s.closeOnce.Do(func() { err = s.rt.Close(ctx) })
	return err
}

// projectChanged drops what is cached about a project; when the project is
// gone for good (its functions cascaded away with it), its logs and the
// modules nothing refers to any more go too.
func (s *Service) projectChanged(ref string) {
	s.mu.Lock()
	s.gen++
	if ref == "" {
		s.fns = map[fnKey]cachedFn{}
		s.secrets = map[string]cachedSecrets{}
	} else {
		for k := range s.fns {
			if k.ref == ref {
				delete(s.fns, k)
			}
		}
		delete(s.secrets, ref)
	}
	s.mu.Unlock()
	if ref == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.tenants.Store().Project(ctx, ref); !errors.Is(err, control.ErrNotFound) {
		return
	}
	s.logs.drop(ref, "")
	if err := s.store.collect(ctx); err != nil {
		s.log.Warn("functions: collecting unused modules", "project", ref, "err", err)
	}
}

// forget drops the cached metadata of one function on this node and tells
// the other nodes to drop theirs.
func (s *Service) forget(ctx context.Context, ref, name string) {
	s.mu.Lock()
	s.gen++
	delete(s.fns, fnKey{ref, name})
	s.mu.Unlock()
	if _, err := s.store.pool.Exec(ctx, "select pg_notify($1, $2)", control.NotifyChannel, ref); err != nil {
		s.log.Warn("functions: notifying other nodes", "project", ref, "err", err)
	}
}

// function returns ref/name at its active version, from the cache when
// fresh; errNoFunction when there is none.
func (s *Service) function(ctx context.Context, ref, name string) (*Function, error) {
	k := fnKey{ref, name}
	s.mu.Lock()
	c, ok := s.fns[k]
	gen := s.gen
	s.mu.Unlock()
	if ok && time.Since(c.at) < s.opt.CacheTTL {
		if c.f == nil {
			return nil, errNoFunction
		}
		return c.f, nil
	}
	f, err := s.store.function(ctx, ref, name)
	if err != nil && !errors.Is(err, errNoFunction) {
		return nil, err
	}
	s.mu.Lock()
	if s.gen == gen {
		if len(s.fns) >= maxCachedFns {
			s.fns = map[fnKey]cachedFn{}
		}
		s.fns[k] = cachedFn{f: f, at: time.Now()}
	}
	s.mu.Unlock()
	return f, err
}

// projectSecrets returns a project's decrypted secrets, cached.
func (s *Service) projectSecrets(ctx context.Context, ref string) (map[string]string, error) {
	s.mu.Lock()
	c, ok := s.secrets[ref]
	gen := s.gen
	s.mu.Unlock()
	if ok && time.Since(c.at) < s.opt.CacheTTL {
		return c.kv, nil
	}
	kv, err := s.tenants.Store().Secrets(ctx, ref)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.gen == gen {
		s.secrets[ref] = cachedSecrets{kv: kv, at: time.Now()}
	}
	s.mu.Unlock()
	return kv, nil
}

// Handler serves /functions/v1/: CORS preflights, then invocations.
func (s *Service) Handler() http.Handler {
	return httpx.CORS(httpx.DefaultCORS, http.HandlerFunc(s.invoke))
}

// MountAdmin mounts the management endpoints through the admin API's handle
// (which checks the admin token and renders admin errors).
func (s *Service) MountAdmin(handle func(pattern string, h httpx.Handler)) {
	const base = "/admin/v1/projects/{ref}/functions"
	handle("GET "+base, s.adminList)
	handle("PUT "+base+"/{name}", s.adminDeploy)
	handle("GET "+base+"/{name}", s.adminGet)
	handle("DELETE "+base+"/{name}", s.adminDelete)
	handle("GET "+base+"/{name}/versions", s.adminVersions)
	handle("POST "+base+"/{name}/rollback", s.adminRollback)
	handle("GET "+base+"/{name}/logs", s.adminLogs)
}
