package rest

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/rest/query"
)

// FuzzHeaders feeds the request headers and bodies the handler parses
// itself (Prefer, Accept, Range, CSV and form bodies): none may panic, and
// every refusal must be a client error in PostgREST's dialect.
func FuzzHeaders(f *testing.F) {
	f.Add("count=exact, return=representation", "application/vnd.pgrst.object+json", "0-9", "id,name\n1,a\n", "a=1&b=%20")
	f.Add("handling=strict,max-affected=5,tx=rollback", `application/vnd.pgrst.plan+json; for="application/json"; options=analyze|verbose`, "5-2", "a,b\n1\n", "%zz=1")
	f.Add(",,=,timezone=", "text/csv;q=0.5, image/png;q=1", "10-", "", "&&=")
	f.Fuzz(func(t *testing.T, prefer, accept, rng, csvBody, form string) {
		r := httptest.NewRequest("GET", "/rest/v1/t", nil)
		r.Header.Set("Prefer", prefer)
		r.Header.Set("Accept", accept)
		p := parsePrefer(r.Header)
		_ = p.applied(true, true, true, true)
		if m, err := negotiate(r, true); err == nil {
			_ = m.contentType()
		} else {
			clientErr(t, err)
		}
		params := &query.Params{}
		if err := applyRange(params, rng); err != nil {
			clientErr(t, err)
		} else if rg := params.Range(nil); rg.Limit != nil && *rg.Limit < 0 {
			t.Fatalf("negative limit from Range %q", rng)
		}
		if _, _, err := csvToJSON([]byte(csvBody)); err != nil {
			clientErr(t, err)
		}
		if _, _, err := formToJSON([]byte(form)); err != nil {
			clientErr(t, err)
		}
	})
}

func clientErr(t *testing.T, err error) {
	t.Helper()
	e, ok := err.(*httpx.Error)
	if !ok || e.Status < 400 || e.Status >= 500 || !strings.HasPrefix(e.Code, "PGRST") {
		t.Fatalf("not a PostgREST client error: %#v", err)
	}
	rec := httptest.NewRecorder()
	Render(rec, httptest.NewRequest("GET", "/", nil), e)
	if rec.Code != e.Status || !strings.Contains(rec.Body.String(), `"code":"`+e.Code+`"`) {
		t.Fatalf("rendered %d %s", rec.Code, rec.Body.String())
	}
}
