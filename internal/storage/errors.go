package storage

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/pg"
	"github.com/madbase/madbase/internal/tenant"
	"github.com/madbase/madbase/internal/token"
)

// Keys of httpx.Error.Extra this surface uses.
const (
	extraError = "error"       // Storage's legacy "error" text
	extraReal  = "real_status" // render e.Status as the HTTP status too
)

// serr is a Storage error: status is the semantic status that goes into the
// body's statusCode string; the HTTP status is 400 (see render).
func serr(status int, code, errText, msg string) *httpx.Error {
	return &httpx.Error{Status: status, Code: code, Message: msg, Extra: map[string]any{extraError: errText}}
}

// realErr is a Storage error sent with its real HTTP status.
func realErr(status int, code, errText, msg string) *httpx.Error {
	e := serr(status, code, errText, msg)
	e.Extra[extraReal] = true
	return e
}

func errNoSuchBucket() *httpx.Error {
	return serr(404, "NoSuchBucket", "Bucket not found", "Bucket not found")
}

func errNoSuchKey() *httpx.Error { return serr(404, "NoSuchKey", "not_found", "Object not found") }

func errKeyExists() *httpx.Error {
	return serr(409, "KeyAlreadyExists", "Duplicate", "The resource already exists")
}

func errResourceExists() *httpx.Error {
	return serr(409, "ResourceAlreadyExists", "Duplicate", "The resource already exists")
}

func errBucketExists() *httpx.Error {
	return serr(409, "BucketAlreadyExists", "Duplicate", "The resource already exists")
}

func errNotEmpty() *httpx.Error {
	return serr(409, "ResourceNotEmpty", "ResourceNotEmpty", "The bucket you tried to delete is not empty")
}

func errTooLarge() *httpx.Error {
	return serr(413, "EntityTooLarge", "Payload too large", "The object exceeded the maximum allowed size")
}

func errMime(ct string) *httpx.Error {
	return serr(415, "InvalidMimeType", "invalid_mime_type", fmt.Sprintf("mime type %s is not supported", ct))
}

func errRLS() *httpx.Error {
	return serr(403, "AccessDenied", "Unauthorized", "new row violates row-level security policy")
}

func errInvalidKey(key string) *httpx.Error {
	return serr(400, "InvalidKey", "InvalidKey", "Invalid key: "+key)
}

func errInvalidBucketName() *httpx.Error {
	return serr(400, "InvalidBucketName", "Invalid Input", "Bucket name invalid")
}

func errInvalid(msg string) *httpx.Error { return serr(400, "InvalidRequest", "Error", msg) }

func errServiceOnly() *httpx.Error {
	return realErr(403, "AccessDenied", "Unauthorized", "Access denied: Invalid role")
}

func errInvalidSignature(msg string) *httpx.Error {
	return serr(400, "InvalidSignature", "InvalidSignature", msg)
}

func errNotEnabled(what string) *httpx.Error {
	return serr(400, "FeatureNotEnabled", "FeatureNotEnabled", what+" is not enabled on this server")
}

func errRange() *httpx.Error {
	return realErr(416, "InvalidRange", "Range Not Satisfiable", "The requested range is not satisfiable")
}

// jwtMessage is the message the jose library Supabase uses gives for err.
func jwtMessage(tok string, err error) string {
	switch {
	case errors.Is(err, token.ErrExpired):
		return `"exp" claim timestamp check failed`
	case errors.Is(err, token.ErrMalformed):
		if strings.Count(tok, ".") != 2 {
			return "Invalid Compact JWS"
		}
		return "JWS Protected Header is invalid"
	case errors.Is(err, token.ErrNoExpiry):
		return `missing required "exp" claim`
	default:
		return "signature verification failed"
	}
}

// dbErr maps a PostgreSQL error from a metadata statement to the Storage
// dialect; onUnique names the 409 the caller's operation reports.
func dbErr(err error, onUnique func() *httpx.Error) error {
	if err == nil {
		return nil
	}
	var he *httpx.Error
	if errors.As(err, &he) {
		return err
	}
	switch pg.Code(err) {
	case "42501":
		return errRLS().With(err)
	case "23505":
		if onUnique == nil {
			onUnique = errResourceExists
		}
		return onUnique().With(err)
	case "23503":
		return errNoSuchBucket().With(err)
	case "57014":
		return realErr(544, "DatabaseTimeout", "DatabaseTimeout", "The connection to the database timed out").With(err)
	}
	return fmt.Errorf("storage metadata: %w", err)
}

// render writes e in Storage's dialect. TUS requests get TUS's plain-text
// errors with real statuses.
func render(w http.ResponseWriter, r *http.Request, e *httpx.Error) {
	e = translate(r, e)
	status := e.Status
	real := status >= 500
	if v, ok := e.Extra[extraReal].(bool); ok && v {
		real = true
	}
	if isTUS(r) {
		h := w.Header()
		h.Set("Tus-Resumable", tusVersion)
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			_, _ = w.Write([]byte(e.Message))
		}
		return
	}
	httpStatus := http.StatusBadRequest
	if real {
		httpStatus = status
	}
	errText, _ := e.Extra[extraError].(string)
	msg := e.Message
	if status >= 500 && status != 544 && status != 503 {
		// Internal causes stay in the log.
		errText, msg = "Internal", "Internal Server Error"
		if e.Code == "" || e.Code == "internal_error" {
			e.Code = "InternalError"
		}
	}
	body := map[string]any{"statusCode": strconv.Itoa(status), "code": e.Code, "error": errText, "message": msg}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if r.Method == http.MethodHead {
		w.WriteHeader(httpStatus)
		return
	}
	httpx.WriteJSON(w, httpStatus, body)
}

// translate maps the platform's own errors (tenant resolution, keys, JWTs,
// body limits) into Storage's codes.
func translate(r *http.Request, e *httpx.Error) *httpx.Error {
	if _, ok := e.Extra[extraError]; ok {
		return e
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(e.Err, &mbe):
		return errTooLarge().With(e.Err)
	case e.Code == tenant.CodeBadJWT:
		tok := r.Header.Get("Authorization")
		if len(tok) > 7 {
			tok = tok[7:]
		}
		return serr(403, "AccessDenied", "Unauthorized", jwtMessage(tok, e.Err)).With(e.Err)
	case e.Code == tenant.CodeNoAPIKey || e.Code == tenant.CodeInvalidAPIKey:
		return realErr(401, "Unauthorized", "Unauthorized", e.Message).With(e.Err)
	case e.Code == tenant.CodeRoleNotAllowed:
		return serr(403, "AccessDenied", "Unauthorized", "Access denied: Invalid role").With(e.Err)
	case e.Code == tenant.CodeProjectDisabled:
		return realErr(503, "ServiceUnavailable", "Service Unavailable", e.Message).With(e.Err)
	case e.Status == http.StatusNotFound:
		return realErr(404, "TenantNotFound", "Not Found", e.Message).With(e.Err)
	case e.Status >= 500:
		c := *e
		c.Extra = map[string]any{extraError: "Internal"}
		if c.Code == "" || c.Code == "internal_error" {
			c.Code = "InternalError"
		}
		return &c
	}
	c := *e
	c.Extra = map[string]any{extraError: "Error", extraReal: e.Status != http.StatusBadRequest && e.Status >= 400}
	return &c
}

// asStorage returns the *httpx.Error in err's chain, or nil.
func asStorage(err error) *httpx.Error {
	var e *httpx.Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
