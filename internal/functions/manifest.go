package functions

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/madbase/madbase/internal/functions/runtime"
)

// Manifest is a function version's configuration, sent with the module at
// deploy (multipart part "manifest") and kept with the version.
type Manifest struct {
	// VerifyJWT (default true) makes the gateway refuse callers without a
	// valid project JWT or API key before the function runs.
	VerifyJWT *bool `json:"verify_jwt,omitempty"`
	// Env is added to the function's environment (over the project's
	// secrets). Stored encrypted.
	Env map[string]string `json:"env,omitempty"`
	// Limits override the project's defaults (settings section "functions").
	Limits Limits `json:"limits"`
	// AllowHosts are the hosts the function may call through the runtime's
	// outbound HTTP ("host", "host:port", "*.domain"); none by default.
	AllowHosts []string `json:"allow_hosts,omitempty"`
	// InjectDBURL puts the project's database URL in SUPABASE_DB_URL.
	InjectDBURL bool `json:"inject_db_url,omitempty"`
}

// Limits bound one invocation. Zero fields fall back to the project's
// defaults, then to the platform's.
type Limits struct {
	TimeoutMS       int64  `json:"timeout_ms,omitempty"`
	MemoryPages     uint32 `json:"memory_pages,omitempty"`
	MaxRequestBody  int64  `json:"max_request_body,omitempty"`
	MaxResponseBody int64  `json:"max_response_body,omitempty"`
}

// Platform ceilings and defaults of Limits.
const (
	MaxTimeout         = 400 * time.Second // Supabase's paid wall clock
	DefaultTimeout     = 150 * time.Second
	MaxMemoryPages     = 16384 // 1 GiB
	DefaultMemoryPages = 4096  // 256 MiB, Supabase's per-function memory
	MaxBodyLimit       = 100 << 20
	DefaultRequestBody = 20 << 20
	DefaultRespBody    = 20 << 20
	// MaxModuleSize is the largest module accepted at deploy (Supabase's
	// bundle limit).
	MaxModuleSize = 20 << 20
	maxEnvVars    = 100
	maxEnvValue   = 48 << 10
)

func (m *Manifest) verifyJWT() bool { return m.VerifyJWT == nil || *m.VerifyJWT }

// Validate checks a manifest as received at deploy.
func (m *Manifest) Validate() error {
	if len(m.Env) > maxEnvVars {
		return fmt.Errorf("env: at most %d variables", maxEnvVars)
	}
	for k, v := range m.Env {
		if !validEnvName(k) {
			return fmt.Errorf("env: invalid name %q: letters, digits and _ only, not starting with a digit or SUPABASE_", k)
		}
		if len(v) > maxEnvValue {
			return fmt.Errorf("env: %s: value over %d bytes", k, maxEnvValue)
		}
		if strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf("env: %s: value contains a NUL byte", k)
		}
	}
	if err := m.Limits.validate("limits."); err != nil {
		return err
	}
	for _, h := range m.AllowHosts {
		if !validAllowHost(h) {
			return fmt.Errorf("allow_hosts: invalid host %q: use host, host:port or *.domain", h)
		}
	}
	return nil
}

func (l Limits) validate(prefix string) error {
	switch {
	case l.TimeoutMS < 0 || time.Duration(l.TimeoutMS)*time.Millisecond > MaxTimeout:
		return fmt.Errorf("%stimeout_ms: must be between 1 and %d", prefix, MaxTimeout.Milliseconds())
	case l.MemoryPages > MaxMemoryPages:
		return fmt.Errorf("%smemory_pages: at most %d (64 KiB pages)", prefix, MaxMemoryPages)
	case l.MaxRequestBody < 0 || l.MaxRequestBody > MaxBodyLimit:
		return fmt.Errorf("%smax_request_body: must be between 1 and %d", prefix, MaxBodyLimit)
	case l.MaxResponseBody < 0 || l.MaxResponseBody > MaxBodyLimit:
		return fmt.Errorf("%smax_response_body: must be between 1 and %d", prefix, MaxBodyLimit)
	}
	return nil
}

// effective layers l over the project's defaults d and the platform's.
func (l Limits) effective(d Limits) runtime.Limits {
	pick := func(a, b, c int64) int64 {
		if a > 0 {
			return a
		}
		if b > 0 {
			return b
		}
		return c
	}
	// Project settings are not validated by this package when written, so
	// the platform ceilings are applied here as well.
	return runtime.Limits{
		Timeout:         min(time.Duration(pick(l.TimeoutMS, d.TimeoutMS, DefaultTimeout.Milliseconds()))*time.Millisecond, MaxTimeout),
		MemoryPages:     uint32(min(pick(int64(l.MemoryPages), int64(d.MemoryPages), DefaultMemoryPages), MaxMemoryPages)),
		MaxRequestBody:  min(pick(l.MaxRequestBody, d.MaxRequestBody, DefaultRequestBody), MaxBodyLimit),
		MaxResponseBody: min(pick(l.MaxResponseBody, d.MaxResponseBody, DefaultRespBody), MaxBodyLimit),
	}
}

var (
	envName      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,255}$`)
	functionName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
)

func validEnvName(s string) bool {
	return envName.MatchString(s) && !strings.HasPrefix(strings.ToUpper(s), "SUPABASE_")
}

// ValidName reports whether s is a valid function name (a Supabase slug:
// letters, digits, '-' and '_', at most 64 characters).
func ValidName(s string) bool { return functionName.MatchString(s) }

func validAllowHost(h string) bool {
	if h == "" || len(h) > 253 || strings.ContainsAny(h, "/@ ?#") {
		return false
	}
	host := h
	if hh, port, err := net.SplitHostPort(h); err == nil {
		if port == "" {
			return false
		}
		host = hh
	}
	host = strings.TrimPrefix(host, "*.")
	return host != "" && !strings.Contains(host, "*")
}
