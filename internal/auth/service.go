package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/password"
	"github.com/madbase/madbase/internal/ratelimit"
	"github.com/madbase/madbase/internal/tenant"
)

// Options are the Service's dependencies.
type Options struct {
	Log     *slog.Logger
	Tenants *tenant.Manager
	// PublicURL is the project's default public base URL (config's
	// PublicURLFor); a project's api_url setting overrides it.
	PublicURL func(ref string) string
	// Hasher hashes passwords; nil means argon2id with OWASP parameters and
	// one evaluation per CPU at a time.
	Hasher *password.Hasher
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Limiter keeps the rate-limit budgets; nil means this process's own
	// buckets (each node of a cluster then has its own).
	Limiter ratelimit.Allower
}

// Service serves /auth/v1. Mount it behind tenant.Manager.Guard with Render
// and Open; it is safe for concurrent use.
type Service struct {
	log     *slog.Logger
	tenants *tenant.Manager
	public  func(string) string
	hasher  *password.Hasher
	limiter ratelimit.Allower
	now     func() time.Time
	mux     *http.ServeMux
}

// New builds the service and its routes.
func New(o Options) (*Service, error) {
	if o.Log == nil || o.Tenants == nil || o.PublicURL == nil {
		return nil, fmt.Errorf("auth: Log, Tenants and PublicURL are required")
	}
	if o.Hasher == nil {
		h, err := password.NewHasher(password.DefaultParams(), 0)
		if err != nil {
			return nil, err
		}
		o.Hasher = h
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Limiter == nil {
		o.Limiter = ratelimit.New(o.Now)
	}
	s := &Service{log: o.Log, tenants: o.Tenants, public: o.PublicURL, hasher: o.Hasher,
		limiter: o.Limiter, now: o.Now, mux: http.NewServeMux()}
	s.routes()
	return s, nil
}

// Open lists the routes GoTrue's gateway serves without an apikey: email
// links and OAuth redirects arrive from a browser with none.
func Open(r *http.Request) bool {
	switch strings.TrimSuffix(r.URL.Path, "/") {
	case "/auth/v1/verify", "/auth/v1/callback", "/auth/v1/authorize", "/auth/v1/.well-known/jwks.json":
		return true
	}
	return false
}

func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// call is one request's project context.
type call struct {
	p    *control.Project
	st   *Settings
	a    *tenant.Auth
	pool *pgxpool.Pool
	r    *http.Request
}

type handler func(w http.ResponseWriter, r *http.Request, c *call) error

func (s *Service) handle(pattern string, h handler) {
	s.mux.Handle(pattern, httpx.Adapt(s.log, Render, func(w http.ResponseWriter, r *http.Request) error {
		httpx.RequestInfo(r.Context()).Route = pattern
		a := tenant.FromContext(r.Context())
		if a == nil || a.Project == nil {
			return internal(fmt.Errorf("auth: request reached the service without tenant.Guard"))
		}
		st, err := loadSettings(a.Project)
		if err != nil {
			return internal(err)
		}
		pool, err := s.tenants.Pool(r.Context(), a.Project)
		if err != nil {
			return internal(err)
		}
		return h(w, r, &call{p: a.Project, st: st, a: a, pool: pool, r: r})
	}))
}

func (s *Service) routes() {
	const v = "/auth/v1"
	s.handle("POST "+v+"/signup", s.signup)
	s.handle("POST "+v+"/token", s.token)
	s.handle("GET "+v+"/user", s.getUser)
	s.handle("PUT "+v+"/user", s.putUser)
	s.handle("POST "+v+"/logout", s.logout)
	s.handle("POST "+v+"/recover", s.recover)
	s.handle("POST "+v+"/otp", s.otp)
	s.handle("POST "+v+"/magiclink", s.otp)
	s.handle("GET "+v+"/verify", s.verifyGet)
	s.handle("POST "+v+"/verify", s.verifyPost)
	s.handle("POST "+v+"/resend", s.resend)
	s.handle("GET "+v+"/reauthenticate", s.reauthenticate)
	s.handle("GET "+v+"/settings", s.settings)
	s.handle("GET "+v+"/health", s.health)
	s.handle("GET "+v+"/.well-known/jwks.json", s.jwks)
	s.handle("GET "+v+"/jwks", s.jwks)
	s.handle("GET "+v+"/authorize", s.authorize)
	s.handle("GET "+v+"/callback", s.authorize)
	s.handle("POST "+v+"/invite", s.invite)
	s.handle("GET "+v+"/admin/users", s.adminListUsers)
	s.handle("POST "+v+"/admin/users", s.adminCreateUser)
	s.handle("GET "+v+"/admin/users/{id}", s.adminGetUser)
	s.handle("PUT "+v+"/admin/users/{id}", s.adminUpdateUser)
	s.handle("DELETE "+v+"/admin/users/{id}", s.adminDeleteUser)
	s.handle("POST "+v+"/admin/generate_link", s.generateLink)
	s.handle(v+"/", func(w http.ResponseWriter, r *http.Request, c *call) error {
		return httpx.E(http.StatusNotFound, "not_found", "Not Found")
	})
}

// decode reads a JSON body; an empty body is an empty object.
func decode(r *http.Request, v any) error {
	err := httpx.DecodeJSON(r, v, 1<<20)
	switch {
	case err == nil:
		return nil
	case err.Error() == "EOF":
		return nil
	}
	return asBadJSON(err)
}

// publicURL is the project's public base URL: its api_url setting, else the
// server's.
func (s *Service) publicURL(p *control.Project) string {
	var custom string
	if p.Section("api_url", &custom) == nil && custom != "" {
		return strings.TrimRight(custom, "/")
	}
	return strings.TrimRight(s.public(p.Ref), "/")
}

func (s *Service) authURL(p *control.Project) string { return s.publicURL(p) + "/auth/v1" }

// clientIP is the address rate limits and audit entries use: the
// configured trusted header's first hop, else the peer address.
func clientIP(r *http.Request, st *Settings) string {
	if st != nil && st.RateLimitHeader != "" {
		if v := r.Header.Get(st.RateLimitHeader); v != "" {
			first, _, _ := strings.Cut(v, ",")
			if ip := net.ParseIP(strings.TrimSpace(first)); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.String()
	}
	return ""
}

// limitIP spends one request of the per-IP budget named bucket.
func (s *Service) limitIP(c *call, bucket string, n int, window time.Duration, burst int) error {
	if n <= 0 {
		return nil
	}
	burst = min(burst, n)
	key := c.p.Ref + "\x00" + bucket + "\x00" + clientIP(c.r, c.st)
	if ok, _ := s.limiter.Allow(key, ratelimit.PerWindow(n, window, burst)); !ok {
		return errRateLimited
	}
	return nil
}

// limitOTP is the per-IP limit on everything that sends a one-time code or
// link (sign-up, magic link, OTP, recovery, resend, email change).
func (s *Service) limitOTP(c *call) error {
	return s.limitIP(c, "otp", limitOr(c.st.RateLimitOTP, 30), 5*time.Minute, 30)
}

// limitVerify is the per-IP limit on checking one-time codes and links.
func (s *Service) limitVerify(c *call) error {
	return s.limitIP(c, "verify", limitOr(c.st.RateLimitVerify, 30), 5*time.Minute, 30)
}

// audit writes one auth.audit_log_entries row, GoTrue's payload shape.
func audit(ctx context.Context, q querier, c *call, actor *user, action, logType string, traits map[string]any) error {
	payload := map[string]any{"action": action, "log_type": logType, "actor_via_sso": false}
	if actor != nil {
		payload["actor_id"] = actor.ID
		payload["actor_username"] = actor.Email
		if n, ok := actor.UserMeta["full_name"].(string); ok {
			payload["actor_name"] = n
		}
	} else if c.a != nil && c.a.IsService() {
		payload["actor_id"] = nilUUID
		payload["actor_username"] = "service_role"
	}
	if traits != nil {
		payload["traits"] = traits
	}
	b, _ := json.Marshal(payload)
	if _, err := q.Exec(ctx, `insert into auth.audit_log_entries (instance_id, id, payload, created_at, ip_address)
		values ($1, $2, $3, now(), $4)`, nilUUID, newUUID(), string(b), clientIP(c.r, c.st)); err != nil {
		return fmt.Errorf("auth: audit %s: %w", action, err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) error {
	httpx.WriteJSON(w, http.StatusOK, v)
	return nil
}
