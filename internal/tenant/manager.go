package tenant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/token"
)

// Options configure a Manager.
type Options struct {
	DefaultProject string
	MaxConns       int32 // per project pool
	// CacheTTL bounds how stale a cached project may be if a change
	// notification is lost; notifications normally invalidate at once.
	CacheTTL time.Duration
}

// Manager resolves projects and owns their pools.
type Manager struct {
	store *control.Store
	log   *slog.Logger
	opt   Options

	// tokens remembers verified JWTs per project (see tokenCache).
	tokens *tokenCache

	mu       sync.Mutex
	projects map[string]cached
	pools    map[string]*poolEntry
	// onChange hooks let surfaces drop their per-project state (schema caches,
	// replication streams) when a project changes.
	onChange []func(ref string)
}

type cached struct {
	p  *control.Project
	at time.Time
}

type poolEntry struct {
	url  string
	pool *pgxpool.Pool
	rolesCache
}

// NewManager returns a Manager over store.
func NewManager(store *control.Store, log *slog.Logger, opt Options) *Manager {
	if opt.MaxConns <= 0 {
		opt.MaxConns = 10
	}
	if opt.CacheTTL <= 0 {
		opt.CacheTTL = 30 * time.Second
	}
	return &Manager{store: store, log: log, opt: opt, tokens: newTokenCache(), projects: map[string]cached{}, pools: map[string]*poolEntry{}}
}

// Store is the control-plane store.
func (m *Manager) Store() *control.Store { return m.store }

// OnChange registers fn to be called with a project's ref whenever it
// changes ("" means: anything may have changed).
func (m *Manager) OnChange(fn func(ref string)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.onChange = append(m.onChange, fn)
}

// Invalidate drops cached state for ref ("" = all) and closes pools whose
// project is gone, disabled or points elsewhere.
func (m *Manager) Invalidate(ref string) {
	m.mu.Lock()
	if ref == "" {
		m.projects = map[string]cached{}
	} else {
		delete(m.projects, ref)
	}
	hooks := append([]func(string){}, m.onChange...)
	m.mu.Unlock()
	m.tokens.drop(ref)
	m.reconcilePools(ref)
	for _, h := range hooks {
		h(ref)
	}
}

func (m *Manager) reconcilePools(ref string) {
	m.mu.Lock()
	var refs []string
	for r := range m.pools {
		if ref == "" || r == ref {
			refs = append(refs, r)
		}
	}
	m.mu.Unlock()
	for _, r := range refs {
		p, err := m.store.Project(context.Background(), r)
		m.mu.Lock()
		e := m.pools[r]
		if e != nil && (err != nil || p.Status != control.StatusActive || p.DBURL != e.url) {
			delete(m.pools, r)
			go e.pool.Close() // waits for checked-out conns; don't block the caller
		}
		m.mu.Unlock()
	}
}

// Watch invalidates caches on control-plane notifications until ctx ends.
func (m *Manager) Watch(ctx context.Context) error {
	return m.store.Listen(ctx, m.Invalidate)
}

// Close closes every pool.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for r, e := range m.pools {
		e.pool.Close()
		delete(m.pools, r)
	}
}

// Project returns the (cached) project with ref.
func (m *Manager) Project(ctx context.Context, ref string) (*control.Project, error) {
	m.mu.Lock()
	c, ok := m.projects[ref]
	m.mu.Unlock()
	if ok && time.Since(c.at) < m.opt.CacheTTL {
		return c.p, nil
	}
	p, err := m.store.Project(ctx, ref)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.projects[ref] = cached{p: p, at: time.Now()}
	m.mu.Unlock()
	return p, nil
}

// Error codes the tenant layer produces; each surface's renderer maps them to
// its dialect.
const (
	CodeProjectNotFound = "project_not_found"
	CodeProjectDisabled = "project_disabled"
	CodeNoAPIKey        = "no_api_key"
	CodeInvalidAPIKey   = "invalid_api_key"
	CodeBadJWT          = "bad_jwt"
	CodeRoleNotAllowed  = "role_not_allowed"
)

var (
	errNotFound = httpx.E(http.StatusNotFound, CodeProjectNotFound, "project not found")
	errDisabled = httpx.E(http.StatusServiceUnavailable, CodeProjectDisabled, "project is disabled")
)

// Resolve finds the project a request is for: header x-project-ref, then a
// <ref>.<host> subdomain, then the apikey's project, then the default.
func (m *Manager) Resolve(r *http.Request) (*control.Project, error) {
	ctx := r.Context()
	if ref := r.Header.Get("X-Project-Ref"); ref != "" {
		return m.active(ctx, ref)
	}
	if ref := subdomain(r.Host); ref != "" {
		if p, err := m.active(ctx, ref); err == nil || httpx.As(err).Code != CodeProjectNotFound {
			return p, err
		}
		// A host like api.example.com: "api" is not a project; fall through.
	}
	if key := APIKey(r); key != "" {
		if token.IsOpaque(key) {
			p, err := m.store.ProjectByKey(ctx, key)
			if err == nil {
				return m.checkStatus(p)
			}
			if !errors.Is(err, control.ErrNotFound) {
				return nil, httpx.Wrap(err, http.StatusInternalServerError, "internal_error", "control plane unavailable")
			}
		} else if ref := token.UnverifiedRef(key); ref != "" {
			return m.active(ctx, ref)
		}
	}
	if m.opt.DefaultProject != "" {
		return m.active(ctx, m.opt.DefaultProject)
	}
	return nil, errNotFound
}

func (m *Manager) active(ctx context.Context, ref string) (*control.Project, error) {
	p, err := m.Project(ctx, ref)
	if errors.Is(err, control.ErrNotFound) {
		return nil, errNotFound.With(fmt.Errorf("ref %q", ref))
	}
	if err != nil {
		return nil, httpx.Wrap(err, http.StatusInternalServerError, "internal_error", "control plane unavailable")
	}
	return m.checkStatus(p)
}

func (m *Manager) checkStatus(p *control.Project) (*control.Project, error) {
	switch p.Status {
	case control.StatusActive:
		return p, nil
	case control.StatusDisabled:
		return nil, errDisabled
	default:
		return nil, errNotFound
	}
}

// subdomain returns the first label of host when it has at least two labels
// and is not an IP address ("alpha.localhost:8000" → "alpha").
func subdomain(host string) string {
	if h, _, ok := strings.Cut(host, ":"); ok && !strings.HasPrefix(host, "[") {
		host = h
	}
	label, rest, ok := strings.Cut(host, ".")
	if !ok || rest == "" || label == "" {
		return ""
	}
	if label[0] >= '0' && label[0] <= '9' {
		return "" // 127.0.0.1 and the like
	}
	return label
}

// APIKey returns the request's apikey header or query parameter.
func APIKey(r *http.Request) string {
	if k := r.Header.Get("apikey"); k != "" {
		return k
	}
	return r.URL.Query().Get("apikey")
}

// Pool returns the project's pool, creating it on first use.
func (m *Manager) Pool(ctx context.Context, p *control.Project) (*pgxpool.Pool, error) {
	e, err := m.entry(ctx, p)
	if err != nil {
		return nil, err
	}
	return e.pool, nil
}

func (m *Manager) entry(ctx context.Context, p *control.Project) (*poolEntry, error) {
	m.mu.Lock()
	e := m.pools[p.Ref]
	if e != nil && e.url == p.DBURL {
		m.mu.Unlock()
		return e, nil
	}
	m.mu.Unlock()
	cfg, err := pgxpool.ParseConfig(p.DBURL)
	if err != nil {
		return nil, fmt.Errorf("tenant %s: %w", p.Ref, err)
	}
	cfg.MaxConns = m.opt.MaxConns
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.ConnConfig.RuntimeParams["application_name"] = "madbase"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("tenant %s: %w", p.Ref, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.pools[p.Ref]; e != nil {
		if e.url == p.DBURL {
			pool.Close()
			return e, nil
		}
		go e.pool.Close()
	}
	e = &poolEntry{url: p.DBURL, pool: pool}
	m.pools[p.Ref] = e
	return e, nil
}

// PoolStats reports each open pool's statistics, for metrics.
func (m *Manager) PoolStats() map[string]*pgxpool.Stat {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]*pgxpool.Stat, len(m.pools))
	for r, e := range m.pools {
		out[r] = e.pool.Stat()
	}
	return out
}
