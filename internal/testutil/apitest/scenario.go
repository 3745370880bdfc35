package apitest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Scenario is one request and what its answer must look like.
type Scenario struct {
	Name    string
	Method  string
	Path    string
	Headers map[string]string
	// Body is sent as is when a string, else JSON-encoded.
	Body any

	ExpectedStatus int
	// ExpectedContent are substrings the body must contain.
	ExpectedContent []string
	// NotExpectedContent are substrings the body must not contain.
	NotExpectedContent []string
	// ExpectedHeaders must be present with these exact values.
	ExpectedHeaders map[string]string
	// ExpectedJSON, when set, must equal the body decoded as JSON for each
	// top-level key it lists (a partial match).
	ExpectedJSON map[string]any
	// Check runs extra assertions.
	Check func(t *testing.T, res *http.Response, body []byte)
}

// Do sends one request through h and returns the recorded response and body.
func Do(h http.Handler, method, path string, headers map[string]string, body any) (*http.Response, []byte) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = strings.NewReader(string(b))
	default:
		j, _ := json.Marshal(b)
		r = strings.NewReader(string(j))
	}
	req := httptest.NewRequest(method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		if strings.EqualFold(k, "host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// Run runs the scenario as a subtest.
func (s Scenario) Run(t *testing.T, h http.Handler) {
	t.Helper()
	name := s.Name
	if name == "" {
		name = s.Method + " " + s.Path
	}
	t.Run(name, func(t *testing.T) {
		res, body := Do(h, s.Method, s.Path, s.Headers, s.Body)
		if s.ExpectedStatus != 0 && res.StatusCode != s.ExpectedStatus {
			t.Fatalf("status %d, want %d; body: %s", res.StatusCode, s.ExpectedStatus, body)
		}
		for _, c := range s.ExpectedContent {
			if !strings.Contains(string(body), c) {
				t.Errorf("body lacks %q: %s", c, body)
			}
		}
		for _, c := range s.NotExpectedContent {
			if strings.Contains(string(body), c) {
				t.Errorf("body contains %q: %s", c, body)
			}
		}
		for k, v := range s.ExpectedHeaders {
			if got := res.Header.Get(k); got != v {
				t.Errorf("header %s = %q, want %q", k, got, v)
			}
		}
		if s.ExpectedJSON != nil {
			var got map[string]any
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("body is not a JSON object: %v: %s", err, body)
			}
			for k, want := range s.ExpectedJSON {
				wb, _ := json.Marshal(want)
				gb, _ := json.Marshal(got[k])
				if string(wb) != string(gb) {
					t.Errorf("%s = %s, want %s", k, gb, wb)
				}
			}
		}
		if s.Check != nil {
			s.Check(t, res, body)
		}
	})
}

// Run runs scenarios in order.
func Run(t *testing.T, h http.Handler, scenarios []Scenario) {
	t.Helper()
	for _, s := range scenarios {
		s.Run(t, h)
	}
}
