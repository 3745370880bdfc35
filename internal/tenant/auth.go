package tenant

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/token"
)

// Roles a request may run as.
const (
	RoleAnon          = "anon"
	RoleAuthenticated = "authenticated"
	RoleService       = "service_role"
)

// Auth is who is calling, as verified against the project.
type Auth struct {
	Project *control.Project
	// KeyRole is the role of the apikey (anon or service_role); "" when none was sent.
	KeyRole string
	// Claims are the effective claims: the bearer token's, else the apikey's.
	// Read only: verified claims are shared by the requests presenting the
	// same token.
	Claims token.Claims
	// Token is the raw bearer JWT when the caller sent a user token (not an sb_ key).
	Token string

	// verified is the cache entry Claims came from, if any: it carries
	// their JSON.
	verified *verifiedToken
}

// Role is the database role the request runs as; anon when claims name none.
func (a *Auth) Role() string {
	if r := a.Claims.Role(); r != "" {
		return r
	}
	return RoleAnon
}

// claimsJSON is Claims.JSON(), from the token cache when Claims are still
// the claims it verified.
func (a *Auth) claimsJSON() string {
	if v := a.verified; v != nil && v.json != "" && reflect.ValueOf(v.claims).Pointer() == reflect.ValueOf(a.Claims).Pointer() {
		return v.json
	}
	return a.Claims.JSON()
}

// IsService reports whether the caller acts as service_role.
func (a *Auth) IsService() bool { return a.Role() == RoleService }

// AuthOptions say what a surface requires.
type AuthOptions struct {
	// RequireAPIKey refuses requests without an apikey (header or ?apikey).
	RequireAPIKey bool
}

// Verifier returns the project's JWT verifier, with the pre-rotation secret
// while its grace window lasts.
func Verifier(p *control.Project, now time.Time) *token.Verifier {
	v := &token.Verifier{Secrets: [][]byte{[]byte(p.JWTSecret)}}
	if p.OldJWTSecret != "" && now.Before(p.OldJWTSecretUntil) {
		v.Secrets = append(v.Secrets, []byte(p.OldJWTSecret))
	}
	var jwtCfg struct {
		Audience string `json:"aud"`
		Issuer   string `json:"iss"`
	}
	_ = p.Section("jwt", &jwtCfg)
	v.Audience, v.Issuer = jwtCfg.Audience, jwtCfg.Issuer
	return v
}

func errKey(msg string) *httpx.Error { return httpx.E(http.StatusUnauthorized, CodeInvalidAPIKey, msg) }

// KeyClaims maps an opaque sb_ key to the claims of the role it stands for, as
// Supabase's gateway does; ok is false when key is not one of p's keys.
func KeyClaims(p *control.Project, key string) (token.Claims, bool) {
	eq := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
	switch {
	case eq(key, p.PublishableKey):
		return token.Claims{"role": RoleAnon, "iss": "madbase", "ref": p.Ref}, true
	case eq(key, p.SecretKey):
		return token.Claims{"role": RoleService, "iss": "madbase", "ref": p.Ref}, true
	}
	return nil, false
}

// VerifyToken checks a JWT or sb_ key against project p and returns its
// claims. It touches no database.
func VerifyToken(p *control.Project, tok string) (token.Claims, error) {
	if token.IsOpaque(tok) {
		c, ok := KeyClaims(p, tok)
		if !ok {
			return nil, errKey("Invalid API key")
		}
		return c, nil
	}
	c, err := Verifier(p, time.Now()).Verify(tok)
	if err != nil {
		return nil, httpx.Wrap(err, http.StatusUnauthorized, CodeBadJWT, jwtMessage(err))
	}
	if ref := c.Ref(); ref != "" && ref != p.Ref {
		return nil, httpx.E(http.StatusUnauthorized, CodeBadJWT, "invalid JWT: issued for another project")
	}
	return c, nil
}

func jwtMessage(err error) string {
	switch {
	case errors.Is(err, token.ErrExpired):
		return "invalid JWT: unable to parse or verify signature, token has invalid claims: token is expired"
	case errors.Is(err, token.ErrNoExpiry):
		return "invalid JWT: token has no exp claim"
	case errors.Is(err, token.ErrMalformed):
		return "invalid JWT: token is malformed"
	default:
		return "invalid JWT: unable to parse or verify signature"
	}
}

// Authenticate verifies the request's apikey and bearer token against p.
func Authenticate(r *http.Request, p *control.Project, opt AuthOptions) (*Auth, error) {
	return authenticate(r, p, opt, func(p *control.Project, tok string) (*verifiedToken, error) {
		c, err := VerifyToken(p, tok)
		return &verifiedToken{claims: c}, err
	})
}

// authenticate is Authenticate with the token check supplied (the Manager's
// goes through its cache of verified tokens).
func authenticate(r *http.Request, p *control.Project, opt AuthOptions, verify func(*control.Project, string) (*verifiedToken, error)) (*Auth, error) {
	a := &Auth{Project: p}
	key := APIKey(r)
	if key != "" {
		v, err := verify(p, key)
		if err != nil {
			return nil, errKey("Invalid API key").With(err)
		}
		switch v.claims.Role() {
		case RoleAnon, RoleService:
		default:
			return nil, errKey("Invalid API key: not a project key")
		}
		a.KeyRole, a.Claims, a.verified = v.claims.Role(), v.claims, v
	} else if opt.RequireAPIKey {
		return nil, httpx.E(http.StatusUnauthorized, CodeNoAPIKey, "No API key found in request")
	}
	if authz := r.Header.Get("Authorization"); authz != "" {
		tok, ok := cutBearer(authz)
		if !ok {
			return nil, httpx.E(http.StatusUnauthorized, CodeBadJWT, "invalid Authorization header: expected Bearer token")
		}
		// supabase-js sends the key as the bearer too when there is no
		// session: it was verified above, once is enough.
		if tok != key || a.Claims == nil {
			v, err := verify(p, tok)
			if err != nil {
				return nil, err
			}
			a.Claims, a.verified = v.claims, v
		}
		if !token.IsOpaque(tok) {
			a.Token = tok
		}
	}
	if a.Claims == nil {
		a.Claims = token.Claims{"role": RoleAnon}
	}
	return a, nil
}

func cutBearer(h string) (string, bool) {
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:]), true
	}
	return "", false
}

type authKey struct{}

// WithAuth stores a in ctx.
func WithAuth(ctx context.Context, a *Auth) context.Context {
	return context.WithValue(ctx, authKey{}, a)
}

// FromContext returns the request's Auth set by Guard.
func FromContext(ctx context.Context) *Auth {
	a, _ := ctx.Value(authKey{}).(*Auth)
	return a
}

// Guard resolves the project and authenticates the caller before next runs;
// failures are rendered by the surface's renderer. open lists requests that
// need no apikey (email links, public objects); they are still authenticated
// if they carry credentials.
func (m *Manager) Guard(surface string, log interface {
	ErrorContext(ctx context.Context, msg string, args ...any)
	DebugContext(ctx context.Context, msg string, args ...any)
}, render httpx.Renderer, open func(*http.Request) bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := httpx.RequestInfo(r.Context())
		info.Surface = surface
		fail := func(err error) {
			e := httpx.As(err)
			if e.Internal() && e.Code != CodeProjectDisabled {
				log.ErrorContext(r.Context(), "tenant resolution failed", "request_id", httpx.RequestID(r.Context()), "err", e.Err)
			}
			render(w, r, e)
		}
		p, err := m.Resolve(r)
		if err != nil {
			fail(err)
			return
		}
		info.Project = p.Ref
		a, err := authenticate(r, p, AuthOptions{RequireAPIKey: open == nil || !open(r)}, m.tokens.verify)
		if err != nil {
			fail(err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithAuth(r.Context(), a)))
	})
}
