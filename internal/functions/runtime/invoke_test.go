package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type echoed struct {
	Method        string            `json:"method"`
	Path          string            `json:"path"`
	Query         string            `json:"query"`
	ContentType   string            `json:"content_type"`
	ContentLength string            `json:"content_length"`
	Headers       map[string]string `json:"headers"`
	Body          string            `json:"body"`
}

func invokeEcho(t testing.TB, ctx context.Context, req Request) echoed {
	t.Helper()
	resp, err := testRT.Invoke(ctx, guest(t, "echo"), req)
	if err != nil {
		t.Fatalf("invoke echo: %v", err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.Status)
	}
	var got echoed
	if err := json.Unmarshal(resp.Body, &got); err != nil {
		t.Fatalf("echo body %q: %v", resp.Body, err)
	}
	return got
}

func TestInvokeEcho(t *testing.T) {
	t.Parallel()
	body := `{"name":"Functions"}`
	req := Request{
		Method:   http.MethodPost,
		Path:     "/hello/sub/path",
		RawQuery: "a=1&b=x%20y",
		Header: http.Header{
			"Content-Type":  {"application/json"},
			"Authorization": {"Bearer abc"},
			"X-Multi":       {"one", "two"},
			"X-Bad":         {"nul\x00byte"},
		},
		Body: strings.NewReader(body),
	}
	resp, err := testRT.Invoke(t.Context(), guest(t, "echo"), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Function") != "echo" {
		t.Errorf("status %d headers %v", resp.Status, resp.Header)
	}
	var got echoed
	if err := json.Unmarshal(resp.Body, &got); err != nil {
		t.Fatalf("body %q: %v", resp.Body, err)
	}
	want := echoed{
		Method: "POST", Path: "/hello/sub/path", Query: "a=1&b=x%20y",
		ContentType: "application/json", ContentLength: fmt.Sprint(len(body)),
		Headers: map[string]string{"authorization": "Bearer abc", "x-multi": "one, two"},
		Body:    body,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("echo (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(resp.Stderr), "echo: handled POST /hello/sub/path") {
		t.Errorf("stderr = %q", resp.Stderr)
	}
	if resp.Duration <= 0 || resp.MemoryBytes == 0 || resp.MemoryBytes > DefaultMemoryPages*pageSize {
		t.Errorf("duration %s memory %d", resp.Duration, resp.MemoryBytes)
	}

	// No body: CONTENT_LENGTH and CONTENT_TYPE are unset, method defaults to GET.
	got = invokeEcho(t, t.Context(), Request{Path: "/hello"})
	if got.Method != "GET" || got.ContentLength != "" || got.ContentType != "" || got.Body != "" {
		t.Errorf("bodiless request echoed as %+v", got)
	}
}
