package token

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are a token's claims as JSON decoded them. Kept as a map so every
// claim (custom ones included) reaches request.jwt.claims unchanged.
type Claims map[string]any

func (c Claims) str(k string) string {
	s, _ := c[k].(string)
	return s
}

// Role is the database role the token asks for.
func (c Claims) Role() string { return c.str("role") }

// Sub is the user id.
func (c Claims) Sub() string { return c.str("sub") }

// Ref is the project ref the token was issued for.
func (c Claims) Ref() string { return c.str("ref") }

// Email is the user's email claim.
func (c Claims) Email() string { return c.str("email") }

// SessionID is GoTrue's session_id claim.
func (c Claims) SessionID() string { return c.str("session_id") }

// Exp is the expiry, zero when absent.
func (c Claims) Exp() time.Time {
	switch v := c["exp"].(type) {
	case float64:
		return time.Unix(int64(v), 0)
	case json.Number:
		n, _ := v.Int64()
		return time.Unix(n, 0)
	}
	return time.Time{}
}

// JSON is the claims as request.jwt.claims expects them.
func (c Claims) JSON() string {
	b, _ := json.Marshal(map[string]any(c))
	return string(b)
}

// Errors a verifier returns; callers map all of them to 401.
var (
	ErrMalformed = errors.New("token is malformed")
	ErrSignature = errors.New("token signature is invalid")
	ErrExpired   = errors.New("token has expired")
	ErrNoExpiry  = errors.New("token has no exp claim")
	ErrClaims    = errors.New("token claims are invalid")
)

// Sign makes an HS256 JWT.
func Sign(secret []byte, c Claims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(c))
	t.Header["typ"] = "JWT"
	return t.SignedString(secret)
}

// Verifier checks tokens of one project.
type Verifier struct {
	// Secrets are tried in order; more than one during a key-rotation grace window.
	Secrets  [][]byte
	Audience string // required aud when set
	Issuer   string // required iss when set
	Leeway   time.Duration
	Now      func() time.Time
}

// Verify checks signature, alg, exp (required), nbf, and aud/iss when set.
func (v *Verifier) Verify(tok string) (Claims, error) {
	if strings.Count(tok, ".") != 2 {
		return nil, ErrMalformed
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(v.Leeway),
		jwt.WithTimeFunc(now),
		jwt.WithJSONNumber(),
	}
	if v.Audience != "" {
		opts = append(opts, jwt.WithAudience(v.Audience))
	}
	if v.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.Issuer))
	}
	p := jwt.NewParser(opts...)
	var lastErr error = ErrSignature
	for _, secret := range v.Secrets {
		mc := jwt.MapClaims{}
		_, err := p.ParseWithClaims(tok, mc, func(*jwt.Token) (any, error) { return secret, nil })
		if err == nil {
			return normalise(mc), nil
		}
		switch {
		case errors.Is(err, jwt.ErrTokenSignatureInvalid):
			lastErr = ErrSignature
			continue // maybe the other secret
		case errors.Is(err, jwt.ErrTokenMalformed):
			return nil, ErrMalformed
		case errors.Is(err, jwt.ErrTokenUnverifiable):
			return nil, fmt.Errorf("%w: unexpected signing method", ErrSignature)
		case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && !hasExp(tok):
			return nil, ErrNoExpiry
		case errors.Is(err, jwt.ErrTokenExpired):
			return nil, ErrExpired
		default:
			return nil, fmt.Errorf("%w: %v", ErrClaims, err)
		}
	}
	return nil, lastErr
}

// normalise turns json.Number back into float64 so claims re-marshal as the
// client sent them and callers can type-switch simply.
func normalise(mc jwt.MapClaims) Claims {
	c := make(Claims, len(mc))
	for k, v := range mc {
		c[k] = denumber(v)
	}
	return c
}

func denumber(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return float64(i)
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = denumber(e)
		}
	case []any:
		for i, e := range x {
			x[i] = denumber(e)
		}
	}
	return v
}

func hasExp(tok string) bool {
	parts := strings.Split(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var c map[string]json.RawMessage
	if json.Unmarshal(raw, &c) != nil {
		return false
	}
	_, ok := c["exp"]
	return ok
}

// UnverifiedRef reads the ref claim without checking the signature. It is
// only used to pick which project's secret to verify with.
func UnverifiedRef(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Ref string `json:"ref"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return ""
	}
	return c.Ref
}

// APIKey makes a project's legacy anon or service_role key.
func APIKey(secret []byte, ref, role string, now time.Time) (string, error) {
	return Sign(secret, Claims{
		"iss":  "madbase",
		"ref":  ref,
		"role": role,
		"iat":  now.Unix(),
		"exp":  now.AddDate(10, 0, 0).Unix(),
	})
}

// Opaque key prefixes as Supabase's new API keys use.
const (
	PublishablePrefix = "sb_publishable_"
	SecretPrefix      = "sb_secret_"
)

// NewOpaqueKey returns prefix followed by 32 random URL-safe characters.
func NewOpaqueKey(prefix string) string {
	return prefix + RandomString(24)
}

// RandomString is n random bytes, base64url-encoded.
func RandomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// IsOpaque reports whether s looks like an sb_ key rather than a JWT.
func IsOpaque(s string) bool {
	return strings.HasPrefix(s, PublishablePrefix) || strings.HasPrefix(s, SecretPrefix)
}
