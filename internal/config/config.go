package config

import (
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is everything `madbase serve` reads from its environment.
type Config struct {
	DatabaseURL    string        // MADBASE_DATABASE_URL: control-plane PostgreSQL
	Addr           string        // MADBASE_ADDR
	PublicURL      string        // MADBASE_PUBLIC_URL; may contain {ref}
	AdminToken     string        // MADBASE_ADMIN_TOKEN
	DataDir        string        // MADBASE_DATA_DIR
	EncryptionKey  []byte        // MADBASE_ENCRYPTION_KEY (32 bytes from 64 hex chars)
	LogLevel       slog.Level    // MADBASE_LOG_LEVEL
	RedisURL       string        // MADBASE_REDIS_URL
	DefaultProject string        // MADBASE_DEFAULT_PROJECT
	MaxConns       int32         // MADBASE_TENANT_MAX_CONNS: pool size per project
	ShutdownGrace  time.Duration // MADBASE_SHUTDOWN_TIMEOUT: how long SIGTERM waits for in-flight requests
}

// Error names the variable that is wrong, so the process can exit with one
// clear line.
type Error struct {
	Var string
	Msg string
}

func (e *Error) Error() string { return e.Var + ": " + e.Msg }

// FromEnv builds a Config from environment-style key/value pairs.
func FromEnv(env map[string]string) (*Config, error) {
	c := &Config{
		DatabaseURL:    strings.TrimSpace(env["MADBASE_DATABASE_URL"]),
		Addr:           or(env["MADBASE_ADDR"], ":8000"),
		PublicURL:      strings.TrimRight(or(env["MADBASE_PUBLIC_URL"], "http://localhost:8000"), "/"),
		AdminToken:     env["MADBASE_ADMIN_TOKEN"],
		DataDir:        or(env["MADBASE_DATA_DIR"], "./.madbase"),
		RedisURL:       env["MADBASE_REDIS_URL"],
		DefaultProject: env["MADBASE_DEFAULT_PROJECT"],
		MaxConns:       10,
		ShutdownGrace:  30 * time.Second,
	}
	if c.DatabaseURL == "" {
		return nil, &Error{"MADBASE_DATABASE_URL", "is required (postgres://user:pass@host:5432/db)"}
	}
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, &Error{"MADBASE_DATABASE_URL", "must be a postgres:// URL"}
	}
	if u, err := url.Parse(strings.ReplaceAll(c.PublicURL, "{ref}", "ref")); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &Error{"MADBASE_PUBLIC_URL", "must be an absolute http(s) URL"}
	}
	if c.AdminToken != "" && len(c.AdminToken) < 16 {
		return nil, &Error{"MADBASE_ADMIN_TOKEN", "must be at least 16 characters"}
	}
	key := strings.TrimSpace(env["MADBASE_ENCRYPTION_KEY"])
	if key == "" {
		return nil, &Error{"MADBASE_ENCRYPTION_KEY", "is required: 64 hex characters (openssl rand -hex 32)"}
	}
	k, err := hex.DecodeString(key)
	if err != nil || len(k) != 32 {
		return nil, &Error{"MADBASE_ENCRYPTION_KEY", "must be 64 hex characters (32 bytes)"}
	}
	c.EncryptionKey = k
	switch strings.ToLower(or(env["MADBASE_LOG_LEVEL"], "info")) {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		return nil, &Error{"MADBASE_LOG_LEVEL", "must be one of debug, info, warn, error"}
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			return nil, &Error{"MADBASE_REDIS_URL", "must be a redis:// or rediss:// URL"}
		}
	}
	if v := env["MADBASE_TENANT_MAX_CONNS"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return nil, &Error{"MADBASE_TENANT_MAX_CONNS", "must be an integer between 1 and 1000"}
		}
		c.MaxConns = int32(n)
	}
	if v := env["MADBASE_SHUTDOWN_TIMEOUT"]; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, &Error{"MADBASE_SHUTDOWN_TIMEOUT", "must be a duration such as 30s"}
		}
		c.ShutdownGrace = d
	}
	if c.DefaultProject != "" && !ValidRef(c.DefaultProject) {
		return nil, &Error{"MADBASE_DEFAULT_PROJECT", fmt.Sprintf("%q is not a valid project ref", c.DefaultProject)}
	}
	return c, nil
}

// ValidRef reports whether s is a project ref: [a-z][a-z0-9-]{2,39}.
func ValidRef(s string) bool {
	if len(s) < 3 || len(s) > 40 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// PublicURLFor is the externally visible base URL of project ref.
func (c *Config) PublicURLFor(ref string) string {
	return strings.ReplaceAll(c.PublicURL, "{ref}", ref)
}

// Environ splits os.Environ-style entries into a map.
func Environ(kv []string) map[string]string {
	m := make(map[string]string, len(kv))
	for _, e := range kv {
		if k, v, ok := strings.Cut(e, "="); ok {
			m[k] = v
		}
	}
	return m
}

func or(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return v
}
