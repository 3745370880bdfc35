package config

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
)

const key = "0000000000000000000000000000000000000000000000000000000000000001"

func TestFromEnv(t *testing.T) {
	base := func() map[string]string {
		return map[string]string{"MADBASE_DATABASE_URL": "postgres://u@h/db", "MADBASE_ENCRYPTION_KEY": key}
	}
	c, err := FromEnv(base())
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8000" || c.PublicURL != "http://localhost:8000" || c.DataDir != "./.madbase" || c.LogLevel != slog.LevelInfo {
		t.Fatalf("defaults wrong: %+v", c)
	}
	tests := []struct {
		name, key, val, wantVar string
	}{
		{"missing db", "MADBASE_DATABASE_URL", "", "MADBASE_DATABASE_URL"},
		{"bad db", "MADBASE_DATABASE_URL", "mysql://x", "MADBASE_DATABASE_URL"},
		{"missing key", "MADBASE_ENCRYPTION_KEY", "", "MADBASE_ENCRYPTION_KEY"},
		{"short key", "MADBASE_ENCRYPTION_KEY", "abcd", "MADBASE_ENCRYPTION_KEY"},
		{"bad level", "MADBASE_LOG_LEVEL", "loud", "MADBASE_LOG_LEVEL"},
		{"bad url", "MADBASE_PUBLIC_URL", "localhost", "MADBASE_PUBLIC_URL"},
		{"short token", "MADBASE_ADMIN_TOKEN", "x", "MADBASE_ADMIN_TOKEN"},
		{"bad default", "MADBASE_DEFAULT_PROJECT", "A", "MADBASE_DEFAULT_PROJECT"},
		{"bad redis", "MADBASE_REDIS_URL", "http://x", "MADBASE_REDIS_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := base()
			env[tt.key] = tt.val
			_, err := FromEnv(env)
			var ce *Error
			if !errors.As(err, &ce) || ce.Var != tt.wantVar {
				t.Fatalf("err = %v, want one naming %s", err, tt.wantVar)
			}
			if !strings.HasPrefix(err.Error(), tt.wantVar) {
				t.Fatalf("message %q does not start with the variable", err)
			}
		})
	}
	env := base()
	env["MADBASE_LOG_LEVEL"] = "debug"
	env["MADBASE_PUBLIC_URL"] = "https://{ref}.api.example.com/"
	c, err = FromEnv(env)
	if err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != slog.LevelDebug || c.PublicURLFor("alpha") != "https://alpha.api.example.com" {
		t.Fatalf("got %v %q", c.LogLevel, c.PublicURLFor("alpha"))
	}
}

func TestValidRef(t *testing.T) {
	for s, want := range map[string]bool{"abc": true, "alpha-1": true, "ab": false, "1ab": false, "Abc": false,
		"a_b": false, strings.Repeat("a", 40): true, strings.Repeat("a", 41): false, "a-b-": true} {
		if ValidRef(s) != want {
			t.Errorf("ValidRef(%q) = %v", s, !want)
		}
	}
}
