package functions

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/functions/runtime"
	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/tenant"
	"github.com/madbase/madbase/internal/token"
)

// route is the metrics label of every invocation (never the raw path).
const route = "/functions/v1/{name}"

// gatewayError is a failure answered before or around the function, in the
// shape Supabase's functions gateway uses: {"code", "message"} plus the
// sb-error-code header. Code is the string code, except for JWT failures,
// whose body code is the number 401 as Supabase answers them.
type gatewayError struct {
	status  int
	code    string
	message string
}

func (e *gatewayError) write(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("sb-error-code", e.code)
	var code any = e.code
	if e.status == http.StatusUnauthorized {
		code = http.StatusUnauthorized
	}
	b, _ := json.Marshal(map[string]any{"code": code, "message": e.message})
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

var (
	errNotFound     = &gatewayError{http.StatusNotFound, "NOT_FOUND", "Requested function was not found"}
	errMethod       = &gatewayError{http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "Method not allowed"}
	errNoAuth       = &gatewayError{http.StatusUnauthorized, "UNAUTHORIZED_NO_AUTH_HEADER", "Missing authorization header"}
	errJWTFormat    = &gatewayError{http.StatusUnauthorized, "UNAUTHORIZED_INVALID_JWT_FORMAT", "Invalid JWT"}
	errJWTAlg       = &gatewayError{http.StatusUnauthorized, "UNAUTHORIZED_UNSUPPORTED_TOKEN_ALGORITHM", "Invalid JWT"}
	errJWT          = &gatewayError{http.StatusUnauthorized, "UNAUTHORIZED_LEGACY_JWT", "Invalid JWT"}
	errTooLarge     = &gatewayError{http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE", "Request body too large"}
	errInternal     = &gatewayError{http.StatusInternalServerError, "INTERNAL_ERROR", "Internal server error"}
	errBoot         = &gatewayError{http.StatusServiceUnavailable, "BOOT_ERROR", "Function failed to start (please check logs)"}
	errProjectGone  = &gatewayError{http.StatusNotFound, "NOT_FOUND", "Project not found"}
	errProjectOff   = &gatewayError{http.StatusServiceUnavailable, "PROJECT_DISABLED", "Project is disabled"}
	runtimeMessages = map[string]string{
		"WORKER_ERROR":      "Function exited due to an error (please check logs)",
		"WORKER_LIMIT":      "Function failed due to not having enough compute resources (please check logs)",
		"IDLE_TIMEOUT":      "Function timed out (please check logs)",
		"REQUEST_TOO_LARGE": "Request body too large",
		"BOOT_ERROR":        "Function failed to start (please check logs)",
	}
)

func allowedMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// invoke serves /functions/v1/<name>[/…]: it resolves the project and the
// function, checks the caller when the function wants it, and runs a fresh
// instance on the request.
func (s *Service) invoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	info := httpx.RequestInfo(ctx)
	info.Surface, info.Route = "functions", route
	path := strings.TrimPrefix(r.URL.Path, "/functions/v1") // the function sees /<name>/…
	name, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !ValidName(name) {
		errNotFound.write(w)
		return
	}
	if !allowedMethod(r.Method) {
		errMethod.write(w)
		return
	}
	p, err := s.tenants.Resolve(r)
	if err != nil {
		s.tenantError(w, r, err)
		return
	}
	info.Project = p.Ref
	f, err := s.function(ctx, p.Ref, name)
	if errors.Is(err, errNoFunction) {
		errNotFound.write(w)
		return
	}
	if err != nil {
		s.internal(w, r, "loading function", err)
		return
	}
	var claims token.Claims
	// OPTIONS reaches the function unauthenticated, as on Supabase, so a
	// function can answer its own CORS; real preflights never get here.
	if f.Manifest.verifyJWT() && r.Method != http.MethodOptions {
		var gerr *gatewayError
		if claims, gerr = authorize(r, p); gerr != nil {
			s.met.observe("refused", 0)
			gerr.write(w)
			return
		}
	}
	var defaults Limits
	if err := p.Section("functions", &defaults); err != nil {
		s.log.WarnContext(ctx, "functions: bad project settings section functions", "project", p.Ref, "err", err)
	}
	lim := f.Manifest.Limits.effective(defaults)
	if r.ContentLength > lim.MaxRequestBody {
		s.met.observe("refused", 0)
		errTooLarge.write(w)
		return
	}
	env, err := s.env(ctx, p, f, claims)
	if err != nil {
		s.internal(w, r, "loading secrets", err)
		return
	}
	mod, release, err := s.modules.acquire(ctx, f.SHA256, func(ctx context.Context) ([]byte, error) {
		return s.store.load(ctx, f.SHA256)
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "functions: module failed to load", "project", p.Ref, "function", name, "version", f.Version, "err", err)
			errBoot.write(w)
		}
		return
	}
	defer release()
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return
	}
	header := r.Header.Clone()
	header.Set("Host", r.Host)
	resp, err := s.rt.Invoke(ctx, mod, runtime.Request{
		Method:     r.Method,
		Path:       path,
		RawQuery:   r.URL.RawQuery,
		Header:     header,
		Body:       r.Body,
		Env:        env,
		Limits:     lim,
		AllowHosts: f.Manifest.AllowHosts,
	})
	<-s.slots
	s.finish(w, r, f, resp, err)
}

// finish records the invocation and answers the client.
func (s *Service) finish(w http.ResponseWriter, r *http.Request, f *Function, resp *runtime.Response, err error) {
	ctx := r.Context()
	status, code, known := 0, "", true
	outcome := "ok"
	if err != nil {
		status, code, known = runtime.StatusFor(err)
		switch {
		case !known:
			outcome = "error"
		case code == "IDLE_TIMEOUT":
			outcome = "timeout"
		case code == "WORKER_LIMIT":
			outcome = "limit"
		case code == "REQUEST_TOO_LARGE":
			outcome = "refused"
		default:
			outcome = "error"
		}
	} else {
		status = resp.Status
	}
	if !known && ctx.Err() != nil {
		status = 499 // the client left; nobody reads the answer
	} else if !known {
		status = http.StatusInternalServerError
	}
	entry := LogEntry{
		Time:      time.Now().UTC(),
		RequestID: httpx.RequestID(ctx),
		Version:   f.Version,
		Method:    r.Method,
		Path:      strings.TrimPrefix(r.URL.Path, "/functions/v1"),
		Status:    status,
		Lines:     []string{},
	}
	if err != nil {
		entry.Error = strings.TrimPrefix(err.Error(), "functions/runtime: ")
	}
	var dur time.Duration
	if resp != nil {
		dur = resp.Duration
		entry.DurationMS = float64(resp.Duration.Microseconds()) / 1000
		entry.MemoryBytes = resp.MemoryBytes
		entry.Lines = logLines(resp.Stderr)
	}
	s.logs.add(fnKey{f.Ref, f.Name}, entry)
	s.met.observe(outcome, dur)
	level := slog.LevelDebug
	if err != nil {
		level = slog.LevelWarn
	}
	if s.log.Enabled(ctx, level) {
		attrs := []any{"request_id", entry.RequestID, "project", f.Ref, "function", f.Name, "version", f.Version,
			"status", status, "duration_ms", entry.DurationMS, "memory_bytes", entry.MemoryBytes}
		if err != nil {
			attrs = append(attrs, "err", entry.Error)
			if n := len(entry.Lines); n > 0 {
				attrs = append(attrs, "stderr_tail", entry.Lines[max(0, n-5):])
			}
		}
		s.log.Log(ctx, level, "function invoked", attrs...)
	}
	switch {
	case err == nil:
		h := w.Header()
		for k, v := range resp.Header {
			h[k] = v // the function's own CORS headers win over the gateway's
		}
		h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
		w.WriteHeader(resp.Status)
		_, _ = w.Write(resp.Body)
	case status == 499:
	case !known:
		errInternal.write(w)
	default:
		msg := runtimeMessages[code]
		if msg == "" {
			msg = http.StatusText(status)
		}
		(&gatewayError{status, code, msg}).write(w)
	}
}

func (s *Service) tenantError(w http.ResponseWriter, r *http.Request, err error) {
	e := httpx.As(err)
	switch {
	case e.Code == tenant.CodeProjectNotFound:
		errProjectGone.write(w)
	case e.Code == tenant.CodeProjectDisabled:
		errProjectOff.write(w)
	default:
		s.internal(w, r, "resolving project", err)
	}
}

func (s *Service) internal(w http.ResponseWriter, r *http.Request, what string, err error) {
	if r.Context().Err() != nil {
		return
	}
	s.log.ErrorContext(r.Context(), "functions: "+what, "request_id", httpx.RequestID(r.Context()), "err", err)
	errInternal.write(w)
}

// authorize applies verify_jwt: a valid project JWT (or sb_ key) in
// Authorization, else — as supabase-js sends with a publishable key and no
// session — a valid project key in apikey.
func authorize(r *http.Request, p *control.Project) (token.Claims, *gatewayError) {
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) < 8 || !strings.EqualFold(h[:7], "bearer ") {
			return nil, errJWTFormat
		}
		return verify(p, strings.TrimSpace(h[7:]))
	}
	if key := tenant.APIKey(r); key != "" {
		return verify(p, key)
	}
	return nil, errNoAuth
}

func verify(p *control.Project, tok string) (token.Claims, *gatewayError) {
	if token.IsOpaque(tok) {
		c, ok := tenant.KeyClaims(p, tok)
		if !ok {
			return nil, errJWT
		}
		return c, nil
	}
	head, _, ok := strings.Cut(tok, ".")
	if !ok || strings.Count(tok, ".") != 2 {
		return nil, errJWTFormat
	}
	hb, err := base64.RawURLEncoding.DecodeString(head)
	var hdr struct {
		Alg string `json:"alg"`
	}
	if err != nil || json.Unmarshal(hb, &hdr) != nil {
		return nil, errJWTFormat
	}
	if hdr.Alg != "HS256" {
		return nil, errJWTAlg
	}
	c, err := tenant.VerifyToken(p, tok)
	if err != nil {
		return nil, errJWT
	}
	return c, nil
}

// env is what the function finds in its environment besides the CGI
// variables: the project's URL and keys, its secrets, the manifest's env,
// the database URL when asked for, and the verified claims.
func (s *Service) env(ctx context.Context, p *control.Project, f *Function, claims token.Claims) (map[string]string, error) {
	secrets, err := s.projectSecrets(ctx, p.Ref)
	if err != nil {
		return nil, err
	}
	env := make(map[string]string, len(secrets)+len(f.Manifest.Env)+10)
	for k, v := range secrets {
		env[k] = v
	}
	for k, v := range f.Manifest.Env {
		env[k] = v
	}
	env["SUPABASE_URL"] = s.apiURL(p)
	env["SUPABASE_ANON_KEY"] = p.AnonKey
	env["SUPABASE_SERVICE_ROLE_KEY"] = p.ServiceRoleKey
	pub, _ := json.Marshal(map[string]string{"default": p.PublishableKey})
	sec, _ := json.Marshal(map[string]string{"default": p.SecretKey})
	env["SUPABASE_PUBLISHABLE_KEYS"] = string(pub)
	env["SUPABASE_SECRET_KEYS"] = string(sec)
	env["SB_EXECUTION_ID"] = httpx.RequestID(ctx)
	env["DENO_DEPLOYMENT_ID"] = p.Ref + "_" + f.Name + "_" + strconv.Itoa(f.Version)
	if f.Manifest.InjectDBURL {
		env["SUPABASE_DB_URL"] = p.DBURL
	}
	// Only the gateway says who the caller is: a secret or manifest
	// variable of that name never reaches the function.
	delete(env, "JWT_CLAIMS")
	if claims != nil {
		env["JWT_CLAIMS"] = claims.JSON()
	}
	return env, nil
}

func (s *Service) apiURL(p *control.Project) string {
	var custom string
	if p.Section("api_url", &custom) == nil && custom != "" {
		return strings.TrimRight(custom, "/")
	}
	if s.opt.PublicURL != nil {
		return strings.TrimRight(s.opt.PublicURL(p.Ref), "/")
	}
	return ""
}
