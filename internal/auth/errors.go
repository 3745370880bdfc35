package auth

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/tenant"
)

// apiVersion2024 is the only API version GoTrue knows besides "initial".
const apiVersion2024 = "2024-01-01"

// oauthKey in Error.Extra marks an OAuth-style error, rendered as
// {"error","error_description"} (GoTrue's missing refresh_token answer).
const oauthKey = "\x00oauth"

// requestAPIVersion maps the request's X-Supabase-Api-Version to the version
// GoTrue would use: any valid date on or after 2024-01-01 means 2024-01-01.
func requestAPIVersion(r *http.Request) string {
	v := r.Header.Get("X-Supabase-Api-Version")
	t, err := time.Parse("2006-01-02", v)
	if err != nil {
		return ""
	}
	if t.Before(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
		return ""
	}
	return apiVersion2024
}

// Render is THE renderer of GoTrue's error dialect: the 2024-01-01 shape
// {"code","message"} when the request asked for that version (echoing the
// header, which auth-js reads to know where the code is), else the legacy
// {"code":<status>,"error_code","msg"}; X-Sb-Error-Code either way.
func Render(w http.ResponseWriter, r *http.Request, e *httpx.Error) {
	status, code, msg := e.Status, e.Code, e.Message
	// The tenant layer's codes, as GoTrue and its gateway answer them.
	switch code {
	case tenant.CodeBadJWT:
		status = http.StatusForbidden // GoTrue answers bad_jwt with 403
	case tenant.CodeNoAPIKey, tenant.CodeInvalidAPIKey:
		status = http.StatusUnauthorized
	case "internal_error":
		code = "unexpected_failure"
	}
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if code == "" {
		if status >= 500 {
			code = "unexpected_failure"
		} else {
			code = "unknown"
		}
	}
	h := w.Header()
	if _, ok := e.Extra[oauthKey]; ok {
		httpx.WriteJSON(w, status, map[string]any{"error": code, "error_description": msg})
		return
	}
	if code != "weak_password" { // GoTrue sends no header for weak passwords
		h.Set("X-Sb-Error-Code", code)
	}
	body := map[string]any{}
	for k, v := range e.Extra {
		body[k] = v
	}
	if requestAPIVersion(r) == apiVersion2024 {
		h.Set("X-Supabase-Api-Version", apiVersion2024)
		body["code"], body["message"] = code, msg
	} else {
		body["code"], body["error_code"], body["msg"] = status, code, msg
		if status >= 500 {
			body["error_id"] = httpx.RequestID(r.Context())
		}
	}
	httpx.WriteJSON(w, status, body)
}

func bad(code, msg string) *httpx.Error    { return httpx.E(http.StatusBadRequest, code, msg) }
func unproc(code, msg string) *httpx.Error { return httpx.E(http.StatusUnprocessableEntity, code, msg) }
func forbid(code, msg string) *httpx.Error { return httpx.E(http.StatusForbidden, code, msg) }

func validation(msg string) *httpx.Error { return bad("validation_failed", msg) }

func oauthError(code, desc string) *httpx.Error {
	e := bad(code, desc)
	e.Extra = map[string]any{oauthKey: true}
	return e
}

func internal(err error) *httpx.Error {
	return httpx.Wrap(err, http.StatusInternalServerError, "unexpected_failure", "Internal server error")
}

func weakPassword(reasons []string, msg string) *httpx.Error {
	e := unproc("weak_password", msg)
	e.Extra = map[string]any{"weak_password": map[string]any{"reasons": reasons}}
	return e
}

func tooSoon(wait time.Duration) *httpx.Error {
	secs := int(wait.Seconds() + 0.999)
	if secs < 1 {
		secs = 1
	}
	return httpx.E(http.StatusTooManyRequests, "over_email_send_rate_limit",
		"For security purposes, you can only request this after "+strconv.Itoa(secs)+" seconds.")
}

// Canned errors with GoTrue's texts (compat/auth-functions.md §4.3).
var (
	errInvalidCredentials = bad("invalid_credentials", "Invalid login credentials")
	errEmailNotConfirmed  = bad("email_not_confirmed", "Email not confirmed")
	errUserAlreadyExists  = unproc("user_already_exists", "User already registered")
	errEmailExists        = unproc("email_exists", "A user with this email address has already been registered")
	errPhoneExists        = unproc("phone_exists", "A user with this phone number has already been registered")
	errSignupDisabled     = unproc("signup_disabled", "Signups not allowed for this instance")
	errAnonDisabled       = unproc("anonymous_provider_disabled", "Anonymous sign-ins are disabled")
	errOTPDisabled        = unproc("otp_disabled", "Signups not allowed for otp")
	errNotAdmin           = forbid("not_admin", "User not allowed")
	errMissingSub         = forbid("bad_jwt", "invalid claim: missing sub claim")
	errNoAuthorization    = httpx.E(http.StatusUnauthorized, "no_authorization", "This endpoint requires a valid Bearer token")
	errUserNotFoundJWT    = forbid("user_not_found", "User from sub claim in JWT does not exist")
	errSessionNotFound    = forbid("session_not_found", "Session from session_id claim in JWT does not exist")
	errUserNotFound       = httpx.E(http.StatusNotFound, "user_not_found", "User not found")
	errRefreshNotFound    = bad("refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found")
	errRefreshUsed        = bad("refresh_token_already_used", "Invalid Refresh Token: Already Used")
	errRefreshInvalid     = validation("Refresh token is not valid")
	errBanned             = bad("user_banned", "User is banned")
	errOTPExpired         = forbid("otp_expired", "Token has expired or is invalid")
	errLinkExpired        = forbid("otp_expired", "Email link is invalid or has expired")
	errSamePassword       = unproc("same_password", "New password should be different from the old password.")
	errRateLimited        = httpx.E(http.StatusTooManyRequests, "over_request_rate_limit", "Request rate limit reached")
	errEmailRateLimited   = httpx.E(http.StatusTooManyRequests, "over_email_send_rate_limit", "email rate limit exceeded")
	errFlowNotFound       = httpx.E(http.StatusNotFound, "flow_state_not_found", "invalid flow state, no valid flow state found")
	errFlowExpired        = unproc("flow_state_expired", "invalid flow state, flow state has expired")
	errBadCodeVerifier    = bad("bad_code_verifier", "code challenge does not match previously saved code verifier")
	errPasswordTooLong    = validation("Password cannot be longer than 72 characters")
	errInvalidEmail       = validation("Unable to validate email address: invalid format")
)

// asBadJSON turns a body decode failure into GoTrue's bad_json.
func asBadJSON(err error) *httpx.Error {
	if err == httpx.ErrBodyTooLarge {
		return httpx.E(http.StatusRequestEntityTooLarge, "request_entity_too_large", "Request body too large")
	}
	return bad("bad_json", "Could not parse request body as JSON: "+strings.TrimPrefix(err.Error(), "json: "))
}
