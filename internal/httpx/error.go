package httpx

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is the one error type of the platform. Status and Code are what the
// client is told; Message is safe to show; Err is the internal cause, which
// is logged and never rendered.
type Error struct {
	Status  int
	Code    string
	Message string
	// Details and Hint feed dialects that carry them (PostgREST).
	Details any
	Hint    any
	// Extra holds dialect-specific fields (e.g. GoTrue's weak_password reasons).
	Extra map[string]any
	Err   error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.Status, e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Internal reports whether the error is the server's fault, so its cause must
// be logged and hidden.
func (e *Error) Internal() bool { return e.Status >= 500 }

// E builds a client-facing error.
func E(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// Wrap attaches an internal cause to a client-facing error.
func Wrap(err error, status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message, Err: err}
}

// Errorf is a 400 with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return E(http.StatusBadRequest, code, fmt.Sprintf(format, args...))
}

// As converts any error into an *Error: an *Error anywhere in the chain is
// returned as is; anything else becomes an opaque 500 whose cause is kept for
// the log only.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Wrap(err, http.StatusInternalServerError, "internal_error", "internal server error")
}

// With returns a copy of e with a different cause; used where one canned
// error (say, "not found") is returned from several places.
func (e *Error) With(err error) *Error {
	c := *e
	c.Err = err
	return &c
}
