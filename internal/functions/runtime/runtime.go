package runtime

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// DefaultMaxMemoryPages is the runtime-wide memory ceiling (1 GiB) used when
// Config.MaxMemoryPages is zero. Per-invocation limits (Limits.MemoryPages)
// are enforced below it.
const DefaultMaxMemoryPages = 16384

// Config configures a Runtime.
type Config struct {
	// CacheDir holds wazero's on-disk compilation cache so that compiling a
	// module already compiled by an earlier process is cheap. Empty means
	// compiled code lives in memory only.
	CacheDir string
	// MaxMemoryPages caps every module's linear memory (64 KiB pages); modules
	// declaring a larger minimum fail to compile. Zero means
	// DefaultMaxMemoryPages.
	MaxMemoryPages uint32
	// HTTPClient performs the guests' outbound requests (madbase.http_request).
	// Nil means a client over http.DefaultTransport. Redirects are never
	// followed for the guest, whatever the client says, so that a redirect
	// cannot escape the allow-list; the guest sees the 3xx.
	HTTPClient *http.Client
}

// Runtime compiles and runs edge functions. It is safe for concurrent use.
type Runtime struct {
	wr       wazero.Runtime
	cache    wazero.CompilationCache
	maxPages uint32
	client   *http.Client
}

// Module is a compiled, validated function ready to be invoked any number of
// times concurrently; compile once at deploy, never per request.
type Module struct {
	cm wazero.CompiledModule
	// memHint is the peak memory of the latest successful invocation: most
	// requests to a function need about the same, and allocating it at once
	// saves the copies of growing page by page (a third of a warm Go echo).
	memHint atomic.Uint64
}

// New starts a Runtime with WASI preview1 and the madbase host module
// available to guests.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.MaxMemoryPages == 0 {
		cfg.MaxMemoryPages = DefaultMaxMemoryPages
	}
	if cfg.MaxMemoryPages > 65536 {
		return nil, fmt.Errorf("functions/runtime: MaxMemoryPages %d exceeds the WebAssembly limit of 65536", cfg.MaxMemoryPages)
	}
	rc := wazero.NewRuntimeConfig().
		// Interrupt guests (even in tight loops) when the invocation context
		// ends: this is how timeouts and the response-size cut-off stop them.
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(cfg.MaxMemoryPages)
	var cache wazero.CompilationCache
	if cfg.CacheDir != "" {
		var err error
		if cache, err = wazero.NewCompilationCacheWithDir(cfg.CacheDir); err != nil {
			return nil, fmt.Errorf("functions/runtime: compilation cache %s: %w", cfg.CacheDir, err)
		}
		rc = rc.WithCompilationCache(cache)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{}
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	rt := &Runtime{wr: wazero.NewRuntimeWithConfig(ctx, rc), cache: cache, maxPages: cfg.MaxMemoryPages, client: &c}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt.wr); err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("functions/runtime: instantiate WASI: %w", err)
	}
	if err := rt.instantiateHost(ctx); err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("functions/runtime: instantiate host module: %w", err)
	}
	return rt, nil
}

// Close releases the runtime and every module compiled by it.
func (rt *Runtime) Close(ctx context.Context) error {
	err := rt.wr.Close(ctx)
	if rt.cache != nil {
		err = errors.Join(err, rt.cache.Close(ctx))
	}
	return err
}

// Compile validates and compiles a WASI preview1 command module: it must
// compile, export a `_start` function taking and returning nothing, and import
// only functions that exist in wasi_snapshot_preview1 or madbase. Failures
// wrap ErrInvalidModule. Compiling a multi-megabyte Go module takes seconds.
func (rt *Runtime) Compile(ctx context.Context, wasm []byte) (*Module, error) {
	cm, err := rt.wr.CompileModule(ctx, mergeDataSegments(wasm))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	if err := rt.validate(ctx, cm); err != nil {
		_ = cm.Close(ctx)
		return nil, err
	}
	return &Module{cm: cm}, nil
}

func (rt *Runtime) validate(ctx context.Context, cm wazero.CompiledModule) error {
	start, ok := cm.ExportedFunctions()["_start"]
	if !ok {
		return fmt.Errorf("%w: no exported _start function; build a WASI command module (e.g. GOOS=wasip1 GOARCH=wasm go build)", ErrInvalidModule)
	}
	if len(start.ParamTypes()) != 0 || len(start.ResultTypes()) != 0 {
		return fmt.Errorf("%w: _start must take no parameters and return nothing", ErrInvalidModule)
	}
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod != wasi_snapshot_preview1.ModuleName && mod != hostModuleName {
			return fmt.Errorf("%w: imports %s.%s; only %s and %s are available", ErrInvalidModule, mod, name, wasi_snapshot_preview1.ModuleName, hostModuleName)
		}
	}
	// Link without running _start, so that an unknown import name or an
	// oversized memory fails at deploy rather than on the first request.
	mod, err := rt.wr.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	return mod.Close(ctx)
}

// Close releases the compiled code. Invocations still running are unaffected.
func (m *Module) Close(ctx context.Context) error {
	return m.cm.Close(ctx)
}
