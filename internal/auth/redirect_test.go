package auth

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAllowedRedirect(t *testing.T) {
	st := &Settings{SiteURL: "https://app.example.com", RedirectURLs: []string{"https://*.preview.example.com/**", "myapp://callback"}}
	for raw, want := range map[string]bool{
		"https://app.example.com/welcome":         true,
		"https://app.example.com:8443/x":          false,
		"http://app.example.com/":                 false,
		"https://evil.example.com/":               false,
		"https://app.example.com.evil.test/":      false,
		"http://localhost:3000/cb":                true,
		"http://127.0.0.1:5173/":                  true,
		"http://[::1]:8080/":                      true,
		"https://pr-1.preview.example.com/a/b":    true,
		"https://a.b.preview.example.com/":        false,
		"https://pr-1.preview.example.com#frag":   false, // the glob needs a path
		"https://pr-1.preview.example.com/#frag":  true,
		"myapp://callback":                        true,
		"javascript:alert(1)":                     false,
		"//evil.test/":                            false,
		"":                                        false,
		"https://app.example.com@evil.test/":      false,
		"HTTPS://APP.EXAMPLE.COM/upper-is-fine":   true,
		"https://pr-1.preview.example.com.evil/x": false,
	} {
		if got := allowedRedirect(st, raw); got != want {
			t.Errorf("allowedRedirect(%q) = %v, want %v", raw, got, want)
		}
	}
}

// Site URLs on localhost allow any port, as GoTrue does.
func TestAllowedRedirectLocalhostSite(t *testing.T) {
	st := &Settings{SiteURL: "http://localhost:3000"}
	if !allowedRedirect(st, "http://localhost:4000/x") {
		t.Error("another localhost port refused")
	}
}

func TestRequestAPIVersion(t *testing.T) {
	for h, want := range map[string]string{"2024-01-01": "2024-01-01", "2030-12-31": "2024-01-01", "2023-12-31": "",
		"": "", "garbage": "", "2024-13-01": ""} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Supabase-Api-Version", h)
		if got := requestAPIVersion(r); got != want {
			t.Errorf("version of %q = %q, want %q", h, got, want)
		}
	}
}

// FuzzAllowedRedirect: redirect_to is attacker-controlled; the check must
// never panic and never allow a host other than the site's, a loopback
// one, or an allow-listed one.
func FuzzAllowedRedirect(f *testing.F) {
	for _, s := range []string{"https://app.example.com/x", "http://localhost:1/", "https://a.preview.example.com/**",
		"javascript:alert(1)", "https://app.example.com@evil/", "http://[::1]/", "%", "https://x/#a#b"} {
		f.Add(s)
	}
	st := &Settings{SiteURL: "https://app.example.com", RedirectURLs: []string{"https://*.preview.example.com/**"}}
	f.Fuzz(func(t *testing.T, raw string) {
		if !allowedRedirect(st, raw) {
			return
		}
		lower := strings.ToLower(raw)
		if !strings.HasPrefix(lower, "https://app.example.com") && !strings.HasPrefix(lower, "http://localhost") &&
			!strings.HasPrefix(lower, "https://localhost") && !strings.HasPrefix(lower, "http://127.") &&
			!strings.HasPrefix(lower, "https://127.") && !strings.HasPrefix(lower, "http://[") && !strings.HasPrefix(lower, "https://[") &&
			!strings.Contains(lower, ".preview.example.com/") {
			t.Errorf("allowed %q", raw)
		}
	})
}
