package runtime

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"
)

// Defaults applied to zero fields of Limits.
const (
	DefaultTimeout         = 150 * time.Second
	DefaultMemoryPages     = 4096 // 256 MiB, Supabase's per-function memory
	DefaultMaxRequestBody  = 20 << 20
	DefaultMaxResponseBody = 20 << 20
	// MaxStderr bounds the captured stderr of one invocation; beyond it the
	// middle is elided so both the first logs and a final panic survive.
	MaxStderr = 64 << 10
)

// Errors returned by Invoke, to be tested with errors.Is. StatusFor maps them
// to HTTP statuses.
var (
	// ErrInvalidModule: Compile rejected the module.
	ErrInvalidModule = errors.New("functions/runtime: invalid module")
	// ErrTimeout: the guest ran past Limits.Timeout and was interrupted.
	ErrTimeout = errors.New("functions/runtime: time limit exceeded")
	// ErrMemory: the guest tried to grow its memory past Limits.MemoryPages.
	ErrMemory = errors.New("functions/runtime: memory limit exceeded")
	// ErrRequestTooLarge: the request body exceeds Limits.MaxRequestBody; the
	// guest did not run.
	ErrRequestTooLarge = errors.New("functions/runtime: request body too large")
	// ErrResponseTooLarge: the guest wrote more than Limits.MaxResponseBody
	// (plus the header allowance) and was stopped.
	ErrResponseTooLarge = errors.New("functions/runtime: response too large")
	// ErrBadCGI: the guest exited successfully but its stdout is not a CGI
	// response.
	ErrBadCGI = errors.New("functions/runtime: malformed CGI response")
	// ErrTrap: the guest crashed: a WebAssembly trap, a panic, or a non-zero
	// exit code.
	ErrTrap = errors.New("functions/runtime: function crashed")
)

// Limits bound one invocation. Zero fields take the Default* values.
type Limits struct {
	Timeout         time.Duration
	MemoryPages     uint32 // 64 KiB pages; capped at the runtime's MaxMemoryPages
	MaxRequestBody  int64
	MaxResponseBody int64
}

func (l Limits) withDefaults(maxPages uint32) Limits {
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	if l.MemoryPages == 0 {
		l.MemoryPages = DefaultMemoryPages
	}
	l.MemoryPages = min(l.MemoryPages, maxPages)
	if l.MaxRequestBody <= 0 {
		l.MaxRequestBody = DefaultMaxRequestBody
	}
	if l.MaxResponseBody <= 0 {
		l.MaxResponseBody = DefaultMaxResponseBody
	}
	return l
}

// Request is one invocation's input.
type Request struct {
	Method   string // default GET
	Path     string // PATH_INFO, e.g. "/hello/sub"; default "/"
	RawQuery string // QUERY_STRING, without '?'
	Header   http.Header
	Body     io.Reader // may be nil; read fully (up to MaxRequestBody) before the guest starts
	// Env is added to the guest environment (secrets, SUPABASE_URL, …). It
	// overrides HTTP_* variables derived from Header but not the request
	// meta-variables (REQUEST_METHOD, PATH_INFO, …).
	Env    map[string]string
	Limits Limits
	// AllowHosts lists the hosts madbase.http_request may reach: "host" (any
	// port), "host:port", or "*.domain" (any subdomain). Empty means no
	// outbound HTTP.
	AllowHosts []string
}

// Response is one invocation's result. Invoke returns a non-nil Response
// whenever the guest ran, even with an error, so that Stderr, Duration and
// MemoryBytes can be logged; Status, Header and Body are then empty.
type Response struct {
	Status      int
	Header      http.Header
	Body        []byte
	Stderr      []byte        // bounded to MaxStderr
	Duration    time.Duration // instantiation plus run
	MemoryBytes uint64        // peak linear memory
}

// Invoke runs a fresh instance of m on req. The instance has no filesystem,
// no network (outbound HTTP only through madbase.http_request and AllowHosts),
// real clocks and a cryptographic random source.
func (rt *Runtime) Invoke(ctx context.Context, m *Module, req Request) (*Response, error) {
	lim := req.Limits.withDefaults(rt.maxPages)
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(io.LimitReader(req.Body, lim.MaxRequestBody+1))
		if err != nil {
			return nil, fmt.Errorf("functions/runtime: read request body: %w", err)
		}
		if int64(len(body)) > lim.MaxRequestBody {
			return nil, fmt.Errorf("%w: over %d bytes", ErrRequestTooLarge, lim.MaxRequestBody)
		}
	}
	env, err := cgiEnv(&req, len(body))
	if err != nil {
		return nil, err
	}

	ctx, cancelTimeout := context.WithTimeout(ctx, lim.Timeout)
	defer cancelTimeout()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	stdout := &cappedWriter{max: lim.MaxResponseBody + maxHeaderBytes, onOverflow: func() { cancel(ErrResponseTooLarge) }}
	stderr := &logBuffer{max: MaxStderr}
	mem := &memoryLimiter{limit: uint64(lim.MemoryPages) * pageSize, hint: min(m.memHint.Load(), maxMemoryHint)}
	inv := &invocation{rt: rt, allow: req.AllowHosts, maxResponse: lim.MaxResponseBody}
	ictx := experimental.WithMemoryAllocator(context.WithValue(ctx, invocationKey{}, inv), mem)

	cfg := wazero.NewModuleConfig().
		WithName(""). // anonymous: many instances of one module may run at once
		WithArgs("function").
		WithStdin(bytes.NewReader(body)).
		WithStdout(stdout).
		WithStderr(stderr).
		// wazero defaults to deterministic fake clocks and randomness; functions
		// need real time and unpredictable tokens.
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader).
		// A sleeping guest must wake when the invocation ends, or a
		// time.Sleep(time.Hour) would pin a goroutine past the deadline.
		WithNanosleep(func(ns int64) {
			t := time.NewTimer(time.Duration(ns))
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		})
	for _, kv := range env {
		cfg = cfg.WithEnv(kv[0], kv[1])
	}

	start := time.Now()
	runErr := rt.run(ictx, m, cfg, mem)
	resp := &Response{Stderr: stderr.Bytes(), Duration: time.Since(start), MemoryBytes: mem.peak.Load()}

	switch {
	case stdout.overflow:
		return resp, fmt.Errorf("%w: over %d bytes", ErrResponseTooLarge, lim.MaxResponseBody)
	case runErr != nil && mem.refused.Load():
		return resp, fmt.Errorf("%w: %d pages (%d MiB)", ErrMemory, lim.MemoryPages, uint64(lim.MemoryPages)*pageSize>>20)
	case runErr != nil:
		var exit *sys.ExitError
		if errors.As(runErr, &exit) {
			switch exit.ExitCode() {
			case sys.ExitCodeDeadlineExceeded:
				if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
					return resp, fmt.Errorf("functions/runtime: invocation aborted: %w", err)
				}
				return resp, fmt.Errorf("%w: %s", ErrTimeout, lim.Timeout)
			case sys.ExitCodeContextCanceled:
				return resp, fmt.Errorf("functions/runtime: invocation aborted: %w", context.Cause(ctx))
			}
			return resp, fmt.Errorf("%w: exit code %d", ErrTrap, exit.ExitCode())
		}
		return resp, fmt.Errorf("%w: %w", ErrTrap, runErr)
	}
	status, header, out, err := parseCGI(stdout.buf.Bytes())
	if err != nil {
		return resp, err
	}
	if int64(len(out)) > lim.MaxResponseBody {
		return resp, fmt.Errorf("%w: over %d bytes", ErrResponseTooLarge, lim.MaxResponseBody)
	}
	resp.Status, resp.Header, resp.Body = status, header, out
	m.memHint.Store(resp.MemoryBytes)
	return resp, nil
}

// run instantiates m and calls _start. Instantiation and start are separate so
// that a module whose initial memory already exceeds the invocation's limit
// (which the allocator must still hand out) never runs.
func (rt *Runtime) run(ctx context.Context, m *Module, cfg wazero.ModuleConfig, mem *memoryLimiter) error {
	mod, err := rt.wr.InstantiateModule(ctx, m.cm, cfg.WithStartFunctions())
	if err != nil {
		return err
	}
	defer mod.Close(context.WithoutCancel(ctx))
	if mem.refused.Load() {
		return errInitialMemory
	}
	_, err = mod.ExportedFunction("_start").Call(ctx)
	if exit, ok := err.(*sys.ExitError); ok && exit.ExitCode() == 0 {
		return nil
	}
	return err
}

// errInitialMemory: the module's declared minimum memory exceeds the limit.
var errInitialMemory = errors.New("initial memory above the limit")

// StatusFor maps an Invoke error to the HTTP status and sb-error-code Supabase
// answers with (compat/auth-functions.md §9.3): resource limits are 546
// WORKER_LIMIT, the time limit 504 IDLE_TIMEOUT (hosted Supabase's answer when
// a request outlives its deadline), crashes and bad output 500 WORKER_ERROR.
// ok is false for errors this package does not classify (context
// cancellation by the caller, I/O errors reading the request).
func StatusFor(err error) (status int, code string, ok bool) {
	switch {
	case errors.Is(err, ErrRequestTooLarge):
		return http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE", true
	case errors.Is(err, ErrTimeout):
		return http.StatusGatewayTimeout, "IDLE_TIMEOUT", true
	case errors.Is(err, ErrMemory), errors.Is(err, ErrResponseTooLarge):
		return 546, "WORKER_LIMIT", true
	case errors.Is(err, ErrTrap), errors.Is(err, ErrBadCGI):
		return http.StatusInternalServerError, "WORKER_ERROR", true
	case errors.Is(err, ErrInvalidModule):
		return http.StatusServiceUnavailable, "BOOT_ERROR", true
	}
	return 0, "", false
}

// cappedWriter buffers stdout up to max bytes; the first write beyond it
// fails and calls onOverflow, which stops the guest.
type cappedWriter struct {
	buf        bytes.Buffer
	max        int64
	overflow   bool
	onOverflow func()
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	if w.overflow {
		return 0, ErrResponseTooLarge
	}
	if int64(w.buf.Len())+int64(len(p)) > w.max {
		w.overflow = true
		w.onOverflow()
		return 0, ErrResponseTooLarge
	}
	return w.buf.Write(p)
}

// logBuffer keeps the first and last max/2 bytes written and counts the rest.
type logBuffer struct {
	max    int
	head   []byte
	tail   []byte // ring of the most recent bytes once head is full
	pos    int    // next write position in tail when it is full
	elided int64
}

func (b *logBuffer) Write(p []byte) (int, error) {
	n := len(p)
	half := b.max / 2
	if room := half - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head = append(b.head, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 {
		if len(b.tail) < half {
			k := min(half-len(b.tail), len(p))
			b.tail = append(b.tail, p[:k]...)
			p = p[k:]
			continue
		}
		k := min(half-b.pos, len(p))
		copy(b.tail[b.pos:], p[:k])
		b.elided += int64(k)
		b.pos = (b.pos + k) % half
		p = p[k:]
	}
	return n, nil
}

// Bytes returns the captured output, with a marker where bytes were dropped.
func (b *logBuffer) Bytes() []byte {
	out := append([]byte(nil), b.head...)
	if b.elided > 0 {
		out = fmt.Appendf(out, "\n…[%d bytes elided]…\n", b.elided)
	}
	out = append(out, b.tail[b.pos:]...)
	return append(out, b.tail[:b.pos]...)
}
