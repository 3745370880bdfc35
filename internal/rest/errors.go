package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/pg"
	"github.com/madbase/madbase/internal/rest/query"
	"github.com/madbase/madbase/internal/tenant"
	"github.com/madbase/madbase/internal/token"
)

// restErr builds a PostgREST-dialect error.
func restErr(status int, code, msg string, details, hint any) *httpx.Error {
	return &httpx.Error{Status: status, Code: code, Message: msg, Details: details, Hint: hint}
}

// headersKey carries response headers an error must set (PGRST raises,
// WWW-Authenticate) in httpx.Error.Extra; they are never rendered in the body.
const headersKey = "headers"

// convert maps any error the handler meets to an *httpx.Error in
// PostgREST's dialect: library errors keep their PGRST code, database
// errors pass their SQLSTATE, message, detail and hint through with
// PostgREST's status mapping. Anything else is an opaque 500 whose cause
// (possibly naming SQL) only reaches the log.
func convert(err error, anon bool, sql string) error {
	var he *httpx.Error
	if errors.As(err, &he) {
		return he
	}
	var qe *query.Error
	if errors.As(err, &qe) {
		return &httpx.Error{Status: qe.Status, Code: qe.Code, Message: qe.Message, Details: qe.Details, Hint: qe.Hint, Err: err}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pgError(pe, anon, sql)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &httpx.Error{Status: http.StatusGatewayTimeout, Code: "PGRST003", Message: "Timed out acquiring connection from connection pool.", Err: err}
	}
	if sql != "" {
		err = fmt.Errorf("%w (sql: %s)", err, sql)
	}
	return &httpx.Error{Status: http.StatusInternalServerError, Code: "PGRSTX00", Message: "Internal server error", Err: err}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func pgError(pe *pgconn.PgError, anon bool, sql string) *httpx.Error {
	e := &httpx.Error{Code: pe.Code, Message: pe.Message, Details: nullable(pe.Detail), Hint: nullable(pe.Hint),
		Err: fmt.Errorf("%w (sql: %s)", pe, sql)}
	switch {
	case pe.Code == "42501":
		e.Status = http.StatusForbidden
		if anon {
			e.Status = http.StatusUnauthorized
		}
	case pe.Code == "21000":
		e.Status = http.StatusInternalServerError
		if strings.HasSuffix(pe.Message, "requires a WHERE clause") {
			e.Status = http.StatusBadRequest
		}
	case pe.Code == "22023" && strings.HasPrefix(pe.Message, "role ") && strings.HasSuffix(pe.Message, "does not exist"):
		e.Status = http.StatusUnauthorized
	case pe.Code == "PGRST":
		return customError(pe)
	case len(pe.Code) == 5 && strings.HasPrefix(pe.Code, "PT"):
		if n, err := strconv.Atoi(pe.Code[2:]); err == nil && n >= 100 && n <= 599 {
			e.Status = n
		} else {
			e.Status = http.StatusInternalServerError
		}
	default:
		e.Status = pg.Status(pe.Code)
	}
	return e
}

// customError decodes RAISE SQLSTATE 'PGRST' USING MESSAGE = '{code,
// message, details, hint}', DETAIL = '{status, headers}' (PostgREST's way
// for functions to control the whole error response).
func customError(pe *pgconn.PgError) *httpx.Error {
	var body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details any    `json:"details"`
		Hint    any    `json:"hint"`
	}
	var detail struct {
		Status  int               `json:"status"`
		Headers map[string]string `json:"headers"`
	}
	if json.Unmarshal([]byte(pe.Message), &body) != nil || json.Unmarshal([]byte(pe.Detail), &detail) != nil ||
		detail.Status < 100 || detail.Status > 599 {
		return restErr(http.StatusInternalServerError, "PGRST121",
			"Could not parse JSON in the \"RAISE SQLSTATE 'PGRST'\" error", pe.Message, nil)
	}
	e := restErr(detail.Status, body.Code, body.Message, body.Details, body.Hint)
	if len(detail.Headers) > 0 {
		e.Extra = map[string]any{headersKey: detail.Headers}
	}
	return e
}

// Render writes e as PostgREST does: {code, details, hint, message} with
// the tenant layer's own codes (missing/invalid keys, JWT failures,
// unknown or disabled project) translated into PostgREST's.
func Render(w http.ResponseWriter, r *http.Request, e *httpx.Error) {
	e = translate(e, r)
	h := w.Header()
	if hs, ok := e.Extra[headersKey].(map[string]string); ok {
		for k, v := range hs {
			h.Set(k, v)
		}
	}
	if e.Status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		if e.Code == "PGRST301" || e.Code == "PGRST303" {
			h.Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+strings.ReplaceAll(e.Message, `"`, `'`)+`"`)
		} else {
			h.Set("WWW-Authenticate", "Bearer")
		}
	}
	if e.Status == http.StatusServiceUnavailable && h.Get("Retry-After") == "" {
		h.Set("Retry-After", "1")
	}
	h.Set("Proxy-Status", "PostgREST; error="+e.Code)
	body, err := json.Marshal(struct {
		Code    string `json:"code"`
		Details any    `json:"details"`
		Hint    any    `json:"hint"`
		Message string `json:"message"`
	}{e.Code, e.Details, e.Hint, e.Message})
	if err != nil {
		body = []byte(`{"code":"PGRSTX00","details":null,"hint":null,"message":"Internal server error"}`)
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func translate(e *httpx.Error, r *http.Request) *httpx.Error {
	c := *e
	switch e.Code {
	case tenant.CodeNoAPIKey:
		c.Code, c.Message = "PGRST302", "No API key found in request"
		c.Hint = "No `apikey` request header or url param was found."
	case tenant.CodeInvalidAPIKey:
		c.Code, c.Message = "PGRST301", "Invalid API key"
		c.Hint = "Double check your Supabase `anon` or `service_role` API key."
	case tenant.CodeBadJWT:
		c.Code, c.Message = jwtError(e)
		if c.Message == "Expected 3 parts in JWT" {
			tok := strings.TrimSpace(r.Header.Get("Authorization"))
			if len(tok) >= 7 && strings.EqualFold(tok[:7], "bearer ") {
				tok = strings.TrimSpace(tok[7:])
			}
			if n := strings.Count(tok, ".") + 1; n != 3 {
				c.Message = fmt.Sprintf("Expected 3 parts in JWT; got %d", n)
			} else {
				c.Message = "JWT cryptographic operation failed"
			}
		}
	case tenant.CodeRoleNotAllowed:
		// PostgREST lets PostgreSQL refuse the switch: 42501, 403 for a
		// role other than anon.
		c.Status, c.Code = http.StatusForbidden, "42501"
		c.Message = "permission denied to set role"
		if e.Err != nil {
			var role string
			if _, err := fmt.Sscanf(e.Err.Error(), "role %q", &role); err == nil {
				c.Message = fmt.Sprintf("permission denied to set role %q", role)
			}
		}
	case tenant.CodeProjectNotFound:
		c.Code, c.Message = "PGRST125", "Project not found"
	case tenant.CodeProjectDisabled, "database_unavailable":
		c.Code, c.Message = "PGRST000", "Database connection error. Retrying the connection."
	case "internal_error":
		c.Code, c.Message = "PGRSTX00", "Internal server error"
	}
	return &c
}

// jwtError words a rejected bearer token as PostgREST does.
func jwtError(e *httpx.Error) (code, msg string) {
	switch {
	case errors.Is(e, token.ErrExpired):
		return "PGRST303", "JWT expired"
	case errors.Is(e, token.ErrNoExpiry):
		return "PGRST303", "The JWT 'exp' claim must be a number"
	case errors.Is(e, token.ErrClaims):
		return "PGRST303", "JWT claims invalid"
	case errors.Is(e, token.ErrMalformed):
		return "PGRST301", "Expected 3 parts in JWT"
	case strings.Contains(e.Message, "another project"):
		return "PGRST301", "JWT cryptographic operation failed"
	case strings.Contains(e.Message, "Authorization header"):
		return "PGRST301", "Empty JWT is sent in Authorization header"
	}
	return "PGRST301", "JWT cryptographic operation failed"
}
