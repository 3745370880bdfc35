package realtime

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/tenant"
	"github.com/madbase/madbase/internal/token"
)

// tokenError is why a channel's token was refused, worded as Supabase
// Realtime words it: code is the join-reply prefix, msg the system message.
type tokenError struct{ code, msg string }

func (e *tokenError) reason() string { return e.code + ": " + e.msg }

// verifyToken checks a channel token against p. Realtime additionally
// requires role and exp in JWTs.
func verifyToken(p *control.Project, tok string, now time.Time) (token.Claims, *tokenError) {
	c, err := tenant.VerifyToken(p, tok)
	if err != nil {
		return nil, classify(tok, err, now)
	}
	if c.Role() == "" || (!token.IsOpaque(tok) && c.Exp().IsZero()) {
		return nil, &tokenError{"InvalidJWTToken", "Fields `role` and `exp` are required in JWT"}
	}
	return c, nil
}

func classify(tok string, err error, now time.Time) *tokenError {
	switch {
	case errors.Is(err, token.ErrExpired):
		ago := int64(0)
		if exp := unverifiedExp(tok); !exp.IsZero() {
			ago = int64(now.Sub(exp) / time.Second)
		}
		return &tokenError{"InvalidJWTToken", fmt.Sprintf("Token has expired %d seconds ago", ago)}
	case errors.Is(err, token.ErrNoExpiry):
		return &tokenError{"InvalidJWTToken", "Fields `role` and `exp` are required in JWT"}
	case errors.Is(err, token.ErrMalformed), token.IsOpaque(tok):
		return &tokenError{"MalformedJWT", "The token provided is not a valid JWT"}
	default:
		return &tokenError{"JwtSignatureError", "Failed to validate JWT signature"}
	}
}

// jwtErrorMessage is the handshake refusal text for a bad apikey.
func jwtErrorMessage(err error) string {
	switch {
	case errors.Is(err, token.ErrExpired):
		return "Token has expired"
	case errors.Is(err, token.ErrNoExpiry):
		return "Fields `role` and `exp` are required in JWT"
	case errors.Is(err, token.ErrSignature):
		return "Failed to validate JWT signature"
	default:
		return "The token provided is not a valid JWT"
	}
}

// unverifiedExp reads exp from a token already known to be signed, only
// to say how long ago it expired.
func unverifiedExp(tok string) time.Time {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}
	}
	var c struct {
		Exp float64 `json:"exp"`
	}
	if json.Unmarshal(raw, &c) != nil || c.Exp == 0 {
		return time.Time{}
	}
	return time.Unix(int64(c.Exp), 0)
}
