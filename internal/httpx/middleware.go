package httpx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
)

type ctxKey struct{}

// state is what Chain keeps per request, in one allocation: the id, the
// Info inner layers fill in, and the status recorder.
type state struct {
	id   string
	info Info
	rec  recorder
}

// RequestID returns the id Chain gave the request.
func RequestID(ctx context.Context) string {
	if st, ok := ctx.Value(ctxKey{}).(*state); ok {
		return st.id
	}
	return ""
}

// Info is request metadata filled in by inner layers (which surface and
// project served it) and read by the logging and metrics layer.
type Info struct {
	Surface string
	Project string
	// Route is the matched route pattern, for metric labels; surfaces with
	// their own mux set it, else the outer mux's r.Pattern is used.
	Route string
}

// RequestInfo returns the request's mutable Info (never nil inside Chain).
func RequestInfo(ctx context.Context) *Info {
	if st, ok := ctx.Value(ctxKey{}).(*state); ok {
		return &st.info
	}
	return &Info{}
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validRequestID keeps client-chosen ids printable and short, since they end
// up in logs.
func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// recorder remembers the status and whether headers were sent.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Observer receives one call per finished request, for metrics.
type Observer func(r *http.Request, info *Info, status int, elapsed time.Duration)

// Chain wraps next with the outer middleware every request passes: request
// id, recover, access log and metrics. Surface-specific layers (CORS, body
// limits, tenant resolution) sit inside.
func Chain(log *slog.Logger, observe Observer, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = newID()
		}
		w.Header().Set("X-Request-Id", id)
		st := &state{id: id, rec: recorder{ResponseWriter: w}}
		info, rec := &st.info, &st.rec
		ctx := context.WithValue(r.Context(), ctxKey{}, st)
		r = r.WithContext(ctx)
		if log.Enabled(ctx, slog.LevelDebug) { // spare building the arguments
			log.DebugContext(ctx, "request started", "request_id", id, "method", r.Method, "path", r.URL.Path,
				"remote", r.RemoteAddr, "user_agent", r.UserAgent())
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.Error("panic in handler", "request_id", id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if !rec.wrote {
					WriteJSON(rec, http.StatusInternalServerError, map[string]any{"error": "internal server error", "code": 500})
				}
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			if info.Route == "" {
				info.Route = r.Pattern
			}
			elapsed := time.Since(start)
			if observe != nil {
				observe(r, info, status, elapsed)
			}
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			log.LogAttrs(ctx, level, "request",
				slog.String("request_id", id),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("surface", info.Surface),
				slog.String("project", info.Project),
				slog.Int("status", status),
				slog.Int64("bytes", rec.bytes),
				slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			)
		}()
		next.ServeHTTP(rec, r)
	})
}

// CORSOptions configures CORS for the API surfaces.
type CORSOptions struct {
	AllowHeaders  []string
	ExposeHeaders []string
}

// DefaultCORS allows what supabase-js sends and exposes what it reads
// (compat/auth-functions.md §1.4).
var DefaultCORS = CORSOptions{
	AllowHeaders: []string{"authorization", "apikey", "x-client-info", "x-supabase-api-version", "content-type",
		"x-retry-count", "traceparent", "tracestate", "baggage", "x-region", "accept-profile", "content-profile",
		"prefer", "range", "range-unit", "x-upsert", "cache-control", "x-metadata", "x-project-ref",
		"tus-resumable", "upload-length", "upload-metadata", "upload-offset", "upload-defer-length", "if-none-match", "accept"},
	ExposeHeaders: []string{"x-supabase-api-version", "x-total-count", "link", "content-range", "x-relay-error",
		"sb-error-code", "x-sb-error-code", "preference-applied", "location", "content-location", "etag",
		"content-length", "content-disposition", "upload-offset", "upload-length", "tus-resumable", "tus-version",
		"tus-extension", "tus-max-size", "x-request-id"},
}

// CORS answers preflights and decorates responses. Browsers call every
// surface from arbitrary origins with the anon key, so the origin is echoed.
func CORS(opt CORSOptions, next http.Handler) http.Handler {
	allow := strings.Join(opt.AllowHeaders, ", ")
	expose := strings.Join(opt.ExposeHeaders, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		h := w.Header()
		if origin != "" {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Add("Vary", "Origin")
		} else {
			h.Set("Access-Control-Allow-Origin", "*")
		}
		h.Set("Access-Control-Expose-Headers", expose)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
			reqHeaders := r.Header.Get("Access-Control-Request-Headers")
			if reqHeaders != "" {
				h.Set("Access-Control-Allow-Headers", reqHeaders)
			} else {
				h.Set("Access-Control-Allow-Headers", allow)
			}
			h.Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// LimitBody caps request bodies; handlers see *http.MaxBytesError past it.
func LimitBody(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && limit > 0 {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}
