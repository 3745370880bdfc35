package httpx

import (
	"log/slog"
	"net/http"
)

// Handler is an http handler that reports failure by returning an error, so
// error rendering happens in one place per surface.
type Handler func(w http.ResponseWriter, r *http.Request) error

// Renderer writes e in a surface's dialect. It is only called for errors that
// happened before the response was committed.
type Renderer func(w http.ResponseWriter, r *http.Request, e *Error)

// Adapt turns a Handler into an http.Handler: errors are logged (internal
// ones at error level with their cause and the request id) and rendered.
func Adapt(log *slog.Logger, render Renderer, h Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			Fail(log, render, w, r, err)
		}
	})
}

// Fail logs and renders err. Surfaces that do their own dispatch use it
// directly.
func Fail(log *slog.Logger, render Renderer, w http.ResponseWriter, r *http.Request, err error) {
	e := As(err)
	if e.Internal() {
		log.ErrorContext(r.Context(), "request failed",
			"request_id", RequestID(r.Context()), "status", e.Status, "code", e.Code, "err", e.Err)
	} else if e.Err != nil {
		log.DebugContext(r.Context(), "request refused",
			"request_id", RequestID(r.Context()), "status", e.Status, "code", e.Code, "err", e.Err)
	}
	if rw, ok := w.(*recorder); ok && rw.wrote {
		return // headers are gone; the log line is all we can do
	}
	render(w, r, e)
}

// AdminJSON renders the admin API dialect: {"error": message, "code": status,
// "error_code": code}. The field a validation error is about travels in Details.
func AdminJSON(w http.ResponseWriter, _ *http.Request, e *Error) {
	body := map[string]any{"error": e.Message, "code": e.Status, "error_code": e.Code}
	if e.Details != nil {
		body["details"] = e.Details
	}
	for k, v := range e.Extra {
		body[k] = v
	}
	WriteJSON(w, e.Status, body)
}
