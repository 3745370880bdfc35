package auth

import (
	"net"
	"net/url"
	"regexp"
	"strings"
)

// redirectTo picks where an email link or verify lands: the request's
// redirect_to (query, else header) when allowed, else the Referer when
// allowed, else the site URL — GoTrue's order. A refused redirect is not an
// error; the site URL is used instead.
func redirectTo(c *call) string {
	for _, cand := range []string{c.r.URL.Query().Get("redirect_to"), c.r.Header.Get("Redirect-To"), c.r.Header.Get("Referer")} {
		if cand != "" && allowedRedirect(c.st, cand) {
			return cand
		}
	}
	return c.st.SiteURL
}

// allowedRedirect: same scheme and host as the site URL (any port on
// localhost), any loopback address, or a match of one of the project's
// redirect_urls globs ('*' within one label or path segment, '**' across);
// localhost and loopback addresses are always allowed.
func allowedRedirect(st *Settings, raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" && u.Scheme != "" && u.Opaque != "" {
		return false
	}
	base := raw
	if i := strings.IndexByte(base, '#'); i >= 0 {
		base = base[:i]
	}
	if site, err := url.Parse(st.SiteURL); err == nil && site.Host != "" {
		if strings.EqualFold(site.Scheme, u.Scheme) && strings.EqualFold(site.Hostname(), u.Hostname()) {
			if site.Port() == u.Port() || strings.EqualFold(u.Hostname(), "localhost") {
				return true
			}
		}
	}
	// Loopback targets stay on the user's own machine (local development).
	if u.Scheme == "http" || u.Scheme == "https" {
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() || strings.EqualFold(u.Hostname(), "localhost") {
			return true
		}
	}
	for _, pattern := range st.RedirectURLs {
		pattern = strings.TrimSpace(pattern)
		if i := strings.IndexByte(pattern, '#'); i >= 0 {
			pattern = pattern[:i]
		}
		if pattern == "" {
			continue
		}
		if pattern == base || globMatch(pattern, base) {
			return true
		}
	}
	return false
}

// globMatch matches s against a glob with '.' and '/' as separators.
func globMatch(pattern, s string) bool {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*':
			if i+1 < len(pattern) && pattern[i+1] == '*' {
				b.WriteString(".*")
				i++
			} else {
				b.WriteString(`[^./]*`)
			}
		case '?':
			b.WriteString(`[^./]`)
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	return err == nil && re.MatchString(s)
}
