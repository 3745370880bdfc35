package tenant

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// headersReference is request.headers as encoding/json makes it.
func headersReference(h http.Header) string {
	m := make(map[string]string, len(h))
	for k, v := range h {
		m[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestHeadersJSON(t *testing.T) {
	for _, h := range []http.Header{
		nil,
		{},
		{"Apikey": {"eyJhbGciOi.x.y"}, "Authorization": {"Bearer eyJ"}, "X-Client-Info": {"supabase-js/2"}, "Accept": {"*/*"}},
		{"Accept": {"a", "b"}, "Empty": {}, "Blank": {""}},
		{"X-Html": {"<b>&"}, "X-Quote": {`"q" \ `}, "X-Ctl": {"a\tb"}, "X-Utf8": {"é\u2028"}, "X-Bad": {"\xff"}},
		{"x-lower": {"1"}, "X-Lower": {"2"}},
		{"Ünïcode": {"1"}, "A": {"2"}},
		{"A-B": {"1"}, "A": {"2"}, "a-a": {"3"}, "AB": {"4"}, "A_b": {"5"}},
	} {
		got, want := headersJSON(h), headersReference(h)
		if h.Get("X-Lower") != "" {
			// Two spellings of one name: either value, as before.
			if got != `{"x-lower":"1"}` && got != `{"x-lower":"2"}` {
				t.Errorf("headersJSON(%v) = %s", h, got)
			}
			continue
		}
		if got != want {
			t.Errorf("headersJSON(%v) = %s, want %s", h, got, want)
		}
	}
}

func FuzzHeadersJSON(f *testing.F) {
	f.Add("Apikey", "eyJ.a.b", "X-Client-Info", "supabase-js/2.0", "Accept", "<&>")
	f.Add("a", "\x00", "B", "\xff\xfe", "c-D", "\u2029")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		h := http.Header{}
		h[k1] = append(h[k1], v1)
		h[k2] = append(h[k2], v2)
		h[k3] = append(h[k3], v3)
		if l1, l2, l3 := strings.ToLower(k1), strings.ToLower(k2), strings.ToLower(k3); (l1 == l2 && k1 != k2) || (l1 == l3 && k1 != k3) || (l2 == l3 && k2 != k3) {
			return // two spellings of one name: the value kept is arbitrary
		}
		if got, want := headersJSON(h), headersReference(h); got != want {
			t.Fatalf("headersJSON(%q) = %s, want %s", h, got, want)
		}
	})
}
