package rest

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/rest/query"
)

func TestParsePrefer(t *testing.T) {
	n := int64(5)
	for _, tc := range []struct {
		in      []string
		want    prefs
		applied string
	}{
		{nil, prefs{}, ""},
		{[]string{"return=representation"}, prefs{Return: "representation"}, "return=representation"},
		{[]string{"count=exact, return=minimal", "count=planned"}, prefs{Count: "exact", Return: "minimal"}, "return=minimal, count=exact"},
		{[]string{"resolution=merge-duplicates,missing=default,tx=rollback"}, prefs{Resolution: "merge-duplicates", Missing: "default", Tx: "rollback"},
			"resolution=merge-duplicates, missing=default, tx=rollback"},
		{[]string{"handling=strict, max-affected=5"}, prefs{Handling: "strict", MaxAffected: &n}, "handling=strict, max-affected=5"},
		{[]string{"max-affected=5"}, prefs{MaxAffected: &n}, ""},
		{[]string{"params=single-object, return=bogus, count=exact"}, prefs{Count: "exact", Invalid: []string{"params=single-object", "return=bogus"}}, "count=exact"},
		{[]string{"return=bogus, return=minimal"}, prefs{Return: "minimal", Invalid: []string{"return=bogus"}}, "return=minimal"},
		{[]string{"timezone=Asia/Tokyo"}, prefs{Timezone: "Asia/Tokyo"}, "timezone=Asia/Tokyo"},
		{[]string{"timezone=Mars/Olympus"}, prefs{Invalid: []string{"timezone=Mars/Olympus"}}, ""},
	} {
		h := http.Header{}
		for _, v := range tc.in {
			h.Add("Prefer", v)
		}
		got := parsePrefer(h)
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%q: (-want +got)\n%s", tc.in, d)
		}
		if a := got.applied(true, true, true, true); a != tc.applied {
			t.Errorf("%q: applied %q, want %q", tc.in, a, tc.applied)
		}
	}
}

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		accept string
		plan   bool
		want   string // content type, or the error code
	}{
		{"", false, "application/json; charset=utf-8"},
		{"*/*", false, "application/json; charset=utf-8"},
		{"application/json, text/csv", false, "application/json; charset=utf-8"},
		{"text/csv;q=0.9, application/vnd.pgrst.object+json", false, "application/vnd.pgrst.object+json; charset=utf-8"},
		{"application/vnd.pgrst.object+json;nulls=stripped", false, "application/vnd.pgrst.object+json; nulls=stripped; charset=utf-8"},
		{"application/vnd.pgrst.array+json;nulls=stripped", false, "application/vnd.pgrst.array+json; nulls=stripped; charset=utf-8"},
		{"text/csv", false, "text/csv; charset=utf-8"},
		{"image/png, application/xml", false, "PGRST107"},
		{"application/json;q=0", false, "PGRST107"},
		{"application/vnd.pgrst.plan", false, "PGRST107"},
		{`application/vnd.pgrst.plan+json; for="application/vnd.pgrst.object+json"; options=analyze|buffers|bogus`, true,
			`application/vnd.pgrst.plan+json; for="application/vnd.pgrst.object+json"; options=analyze|buffers; charset=utf-8`},
		{"application/vnd.pgrst.plan", true, `application/vnd.pgrst.plan+text; for="application/json"; charset=utf-8`},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept", tc.accept)
		m, err := negotiate(r, tc.plan)
		got := ""
		if err != nil {
			got = err.Error()
			if e, ok := err.(*httpx.Error); ok {
				got = e.Code
			}
		} else {
			got = m.contentType()
		}
		if got != tc.want {
			t.Errorf("Accept %q: %q, want %q", tc.accept, got, tc.want)
		}
	}
}

func TestApplyRange(t *testing.T) {
	i := func(n int64) *int64 { return &n }
	for _, tc := range []struct {
		header string
		limit  *int64
		offset int64
		want   query.PathRange
		err    bool
	}{
		{"", nil, 0, query.PathRange{}, false},
		{"0-9", nil, 0, query.PathRange{Limit: i(10)}, false},
		{"5-", nil, 0, query.PathRange{Offset: 5}, false},
		{"items=0-9", nil, 0, query.PathRange{}, false},
		{"0-9", i(5), 0, query.PathRange{Limit: i(5)}, false},
		{"2-9", i(5), 4, query.PathRange{Offset: 4, Limit: i(5)}, false},
		{"0-3", i(10), 2, query.PathRange{Offset: 2, Limit: i(2)}, false},
		{"20-30", i(5), 0, query.PathRange{Offset: 20, Limit: i(0)}, false},
		{"5-2", nil, 0, query.PathRange{}, true},
	} {
		p := &query.Params{}
		if tc.limit != nil || tc.offset != 0 {
			p.SetRange(query.PathRange{Limit: tc.limit, Offset: tc.offset})
		}
		err := applyRange(p, tc.header)
		if (err != nil) != tc.err {
			t.Errorf("%q: err %v", tc.header, err)
			continue
		}
		if err != nil {
			continue
		}
		got := p.Range(nil)
		got.Path = nil
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%q limit %v offset %d: (-want +got)\n%s", tc.header, tc.limit, tc.offset, d)
		}
	}
}
