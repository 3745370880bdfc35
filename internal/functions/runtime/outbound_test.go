package runtime

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

func TestOutboundHTTP(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://elsewhere.invalid/", http.StatusFound)
			return
		}
		w.Header().Set("X-Upstream", "yes")
		io.WriteString(w, "upstream saw "+r.Method+" "+r.URL.Path+" from="+r.Header.Get("X-From")+" body="+string(b))
	}))
	defer srv.Close()
	out := guest(t, "outbound")
	call := func(t *testing.T, target string, allow []string) string {
		t.Helper()
		resp, err := testRT.Invoke(t.Context(), out, Request{RawQuery: url.QueryEscape(target), AllowHosts: allow})
		if err != nil {
			t.Fatalf("invoke: %v (stderr %s)", err, resp.Stderr)
		}
		return string(resp.Body)
	}
	host := strings.TrimPrefix(srv.URL, "http://")

	t.Run("allowed", func(t *testing.T) {
		body := call(t, srv.URL+"/path", []string{"example.com", host})
		if !strings.HasPrefix(body, "code=0\nHTTP/1.1 200 OK\r\n") ||
			!strings.Contains(body, "X-Upstream: yes\r\n") ||
			!strings.HasSuffix(body, "upstream saw POST /path from=guest body=hello") {
			t.Errorf("response:\n%s", body)
		}
	})
	t.Run("redirect not followed", func(t *testing.T) {
		body := call(t, srv.URL+"/redirect", []string{"127.0.0.1"})
		if !strings.HasPrefix(body, "code=0\nHTTP/1.1 302 Found\r\n") {
			t.Errorf("response:\n%s", body)
		}
	})
	before := hits.Load()
	for name, allow := range map[string][]string{
		"no allow-list":   nil,
		"other host":      {"example.com"},
		"other port":      {"127.0.0.1:1"},
		"wildcard miss":   {"*.0.0.1"},
		"suffix trickery": {"0.0.1"},
	} {
		t.Run(name, func(t *testing.T) {
			if body := call(t, srv.URL+"/path", allow); body != "code=1\n" {
				t.Errorf("response %q, want code=1 (denied)", body)
			}
		})
	}
	if hits.Load() != before {
		t.Error("a denied request reached the server")
	}
	t.Run("bad scheme", func(t *testing.T) {
		if body := call(t, "ftp://"+host+"/x", []string{"127.0.0.1"}); body != "code=2\n" {
			t.Errorf("response %q, want code=2", body)
		}
	})
}

func TestHostAllowed(t *testing.T) {
	for _, tc := range []struct {
		allow  []string
		host   string
		scheme string
		want   bool
	}{
		{[]string{"api.example.com"}, "api.example.com", "https", true},
		{[]string{"API.example.com"}, "api.EXAMPLE.com:8443", "https", true},
		{[]string{"api.example.com:443"}, "api.example.com", "https", true},
		{[]string{"api.example.com:443"}, "api.example.com", "http", false},
		{[]string{"api.example.com:443"}, "api.example.com:444", "https", false},
		{[]string{"*.example.com"}, "a.b.example.com", "https", true},
		{[]string{"*.example.com"}, "example.com", "https", false},
		{[]string{"*.example.com"}, "badexample.com", "https", false},
		{[]string{"*.0.0.1"}, "127.0.0.1", "http", false},
		{[]string{"example.com"}, "example.com.evil.net", "https", false},
		{[]string{"::1"}, "[::1]:80", "http", true},
		{[]string{"[::1]:80"}, "[::1]:80", "http", true},
		{nil, "example.com", "https", false},
	} {
		if got := hostAllowed(tc.allow, tc.host, tc.scheme); got != tc.want {
			t.Errorf("hostAllowed(%q, %q, %s) = %v", tc.allow, tc.host, tc.scheme, got)
		}
	}
}
