package rest_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/madbase/madbase/internal/testutil/apitest"
)

func TestRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]any{"schemas": []string{"public", "api"}, "plan_enabled": true})
	a := e.hdr("anon")
	with := func(kv ...string) map[string]string { return e.hdr("anon", kv...) }
	apitest.Run(t, e.Handler, []apitest.Scenario{
		{Name: "plain read", Method: "GET", Path: "/rest/v1/countries?select=id,name&order=id", Headers: a, ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"Content-Range": "0-2/*", "Content-Type": "application/json; charset=utf-8"},
			Check:           jsonEq(`[{"id":1,"name":"Japan"},{"id":2,"name":"France"},{"id":3,"name":"Chad"}]`)},
		{Name: "filters and aliases", Method: "GET", Path: "/rest/v1/cities?select=n:name,population&population=gte.2100&name=neq.Paris&order=population.desc", Headers: a,
			ExpectedStatus: 200, Check: jsonEq(`[{"n":"Tokyo","population":14000},{"n":"Osaka","population":2700}]`)},
		{Name: "in, is, like", Method: "GET", Path: "/rest/v1/cities?select=id&or=(id.in.(1,2),name.like.L*)&country_id=not.is.null&order=id", Headers: a,
			ExpectedStatus: 200, Check: jsonEq(`[{"id":1},{"id":2},{"id":4}]`)},
		{Name: "json path and array ops", Method: "GET", Path: "/rest/v1/items?select=name,b:data->a->>b&tags=cs.{red}", Headers: a,
			ExpectedStatus: 200, Check: jsonEq(`[{"name":"a","b":"x"}]`)},
		{Name: "fts and range", Method: "GET", Path: "/rest/v1/items?select=name&tsv=fts(english).cat&r=adj.[5,10)", Headers: a,
			ExpectedStatus: 200, Check: jsonEq(`[{"name":"a"}]`)},
		{Name: "eq.null is the string", Method: "GET", Path: "/rest/v1/countries?select=id&code=eq.null", Headers: a, ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"Content-Range": "*/*"}, Check: jsonEq(`[]`)},
		{Name: "many-to-one", Method: "GET", Path: "/rest/v1/cities?select=name,countries(name)&id=eq.3", Headers: a, ExpectedStatus: 200,
			Check: jsonEq(`[{"name":"Paris","countries":{"name":"France"}}]`)},
		{Name: "one-to-many with embedded filter and order", Method: "GET",
			Path: "/rest/v1/countries?select=name,cities(name)&cities.order=name.desc&cities.population=gt.1000&order=id", Headers: a, ExpectedStatus: 200,
			Check: jsonEq(`[{"name":"Japan","cities":[{"name":"Tokyo"},{"name":"Osaka"}]},{"name":"France","cities":[{"name":"Paris"}]},{"name":"Chad","cities":[]}]`)},
		{Name: "inner embed drops parents", Method: "GET", Path: "/rest/v1/countries?select=name,cities!inner(name)&cities.name=eq.Lyon", Headers: a, ExpectedStatus: 200,
			Check: jsonEq(`[{"name":"France","cities":[{"name":"Lyon"}]}]`)},
		{Name: "one-to-one", Method: "GET", Path: "/rest/v1/countries?select=name,capitals(city_name)&order=id", Headers: a, ExpectedStatus: 200,
			Check: jsonEq(`[{"name":"Japan","capitals":{"city_name":"Tokyo"}},{"name":"France","capitals":{"city_name":"Paris"}},{"name":"Chad","capitals":null}]`)},
		{Name: "many-to-many", Method: "GET", Path: "/rest/v1/users?select=name,teams(name)&id=eq.1&teams.order=id", Headers: a, ExpectedStatus: 200,
			Check: jsonEq(`[{"name":"Ann","teams":[{"name":"red"},{"name":"blue"}]}]`)},
		{Name: "view with inherited FK", Method: "GET", Path: "/rest/v1/big_cities?select=name,countries(code)&order=city_id", Headers: a, ExpectedStatus: 200,
			Check: jsonEq(`[{"name":"Tokyo","countries":{"code":"JP"}},{"name":"Osaka","countries":{"code":"JP"}},{"name":"Paris","countries":{"code":"FR"}}]`)},
		{Name: "self reference both ways", Method: "GET", Path: "/rest/v1/employees?select=name,manager:manager_id(name),reports:employees(name)&id=eq.2", Headers: a,
			ExpectedStatus: 200, Check: jsonEq(`[{"name":"Mid","manager":{"name":"Boss"},"reports":[{"name":"Low"},{"name":"Low2"}]}]`)},
		{Name: "ambiguous embed", Method: "GET", Path: "/rest/v1/orders?select=*,addresses(*)", Headers: a, ExpectedStatus: 300,
			ExpectedJSON: map[string]any{"code": "PGRST201"}, ExpectedContent: []string{"addresses!billing", "many-to-one"}},
		{Name: "hint disambiguates", Method: "GET", Path: "/rest/v1/orders?select=name,billing:addresses!billing(street),shipping:addresses!shipping(street)&id=eq.1", Headers: a,
			ExpectedStatus: 200, Check: jsonEq(`[{"name":"o1","billing":{"street":"Main St"},"shipping":{"street":"Side St"}}]`)},
		{Name: "no relationship", Method: "GET", Path: "/rest/v1/countries?select=*,teams(*)", Headers: a, ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "PGRST200"}},
		{Name: "unknown table", Method: "GET", Path: "/rest/v1/countrie", Headers: a, ExpectedStatus: 404,
			ExpectedJSON: map[string]any{"code": "PGRST205", "message": "Could not find the table 'public.countrie' in the schema cache"}},
		{Name: "unknown column is PG's 42703", Method: "GET", Path: "/rest/v1/countries?select=nope", Headers: a, ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "42703", "details": nil}, NotExpectedContent: []string{"SELECT"}},
		{Name: "bad value is 22P02", Method: "GET", Path: "/rest/v1/countries?id=eq.abc", Headers: a, ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "22P02"}},
		{Name: "parse error", Method: "GET", Path: "/rest/v1/countries?id=zz.1", Headers: a, ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "PGRST100"}},
		{Name: "aggregates disabled by default", Method: "GET", Path: "/rest/v1/cities?select=count()", Headers: a, ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "PGRST123"}},
		{Name: "bad select", Method: "GET", Path: "/rest/v1/countries?select=id,(", Headers: a, ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "PGRST100"}},
		{Name: "content location is the canonical query", Method: "GET", Path: "/rest/v1/countries?select=id,name&order=id&name=like.J*&id=in.(1,2)", Headers: a,
			ExpectedStatus: 200, ExpectedHeaders: map[string]string{"Content-Location": "/countries?id=in.%281%2C2%29&name=like.J%2A&order=id&select=id%2Cname"}},
		{Name: "content location without a query", Method: "HEAD", Path: "/rest/v1/countries", Headers: a,
			ExpectedStatus: 200, ExpectedHeaders: map[string]string{"Content-Location": "/countries"}},
		{Name: "root describes the schema", Method: "GET", Path: "/rest/v1/", Headers: a, ExpectedStatus: 200,
			ExpectedContent:    []string{`"swagger":"2.0"`, `"/countries"`, `"big_cities"`, `"/rpc/add"`, `"(rpc) hello"`},
			NotExpectedContent: []string{`"/widgets"`}, Check: rpcDoc},
		{Name: "invalid path", Method: "GET", Path: "/rest/v1/a/b/c", Headers: a, ExpectedStatus: 404, ExpectedJSON: map[string]any{"code": "PGRST125"}},
		{Name: "unsupported method", Method: "TRACE", Path: "/rest/v1/countries", Headers: a, ExpectedStatus: 405, ExpectedJSON: map[string]any{"code": "PGRST117"}},
		{Name: "count exact, partial", Method: "GET", Path: "/rest/v1/cities?select=id&order=id&limit=2&offset=1", Headers: with("Prefer", "count=exact"),
			ExpectedStatus: 206, ExpectedHeaders: map[string]string{"Content-Range": "1-2/5", "Preference-Applied": "count=exact"}, Check: jsonEq(`[{"id":2},{"id":3}]`)},
		{Name: "count exact, complete", Method: "GET", Path: "/rest/v1/cities?select=id", Headers: with("Prefer", "count=exact"),
			ExpectedStatus: 200, ExpectedHeaders: map[string]string{"Content-Range": "0-4/5"}},
		{Name: "count of nothing", Method: "GET", Path: "/rest/v1/cities?id=gt.100", Headers: with("Prefer", "count=exact"),
			ExpectedStatus: 200, ExpectedHeaders: map[string]string{"Content-Range": "*/0"}},
		{Name: "offset past the end", Method: "GET", Path: "/rest/v1/cities?offset=100", Headers: with("Prefer", "count=exact"),
			ExpectedStatus: 416, ExpectedHeaders: map[string]string{"Content-Range": "*/5"},
			ExpectedJSON: map[string]any{"code": "PGRST103", "details": "An offset of 100 was requested, but there are only 5 rows."}},
		{Name: "offset at the end", Method: "GET", Path: "/rest/v1/cities?offset=5", Headers: with("Prefer", "count=exact"),
			ExpectedStatus: 206, ExpectedHeaders: map[string]string{"Content-Range": "*/5"}, Check: jsonEq(`[]`)},
		{Name: "max-affected is not for reads", Method: "GET", Path: "/rest/v1/cities?select=id", Headers: with("Prefer", "handling=strict, max-affected=1"),
			ExpectedStatus: 200, ExpectedHeaders: map[string]string{"Preference-Applied": "handling=strict"}, Check: rows(5)},
		{Name: "offset past the end without count", Method: "GET", Path: "/rest/v1/cities?offset=100", Headers: a,
			ExpectedStatus: 200, ExpectedHeaders: map[string]string{"Content-Range": "*/*"}},
		{Name: "planned count", Method: "HEAD", Path: "/rest/v1/cities", Headers: with("Prefer", "count=planned"),
			Check: func(t *testing.T, res *http.Response, body []byte) {
				if cr := res.Header.Get("Content-Range"); !strings.Contains(cr, "/") || strings.HasSuffix(cr, "/*") {
					t.Errorf("Content-Range %q has no planned total", cr)
				}
				if len(body) != 0 {
					t.Errorf("HEAD body %q", body)
				}
			}},
		{Name: "Range header", Method: "GET", Path: "/rest/v1/cities?select=id&order=id", Headers: with("Range", "1-2", "Range-Unit", "items"),
			ExpectedStatus: 200, ExpectedHeaders: map[string]string{"Content-Range": "1-2/*"}, Check: jsonEq(`[{"id":2},{"id":3}]`)},
		{Name: "inverted Range", Method: "GET", Path: "/rest/v1/cities", Headers: with("Range", "5-2"), ExpectedStatus: 416,
			ExpectedJSON: map[string]any{"code": "PGRST103"}},
		{Name: "negative limit", Method: "GET", Path: "/rest/v1/cities?limit=-1", Headers: a, ExpectedStatus: 416},
		{Name: "limit 0", Method: "GET", Path: "/rest/v1/cities?limit=0", Headers: a, ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"Content-Range": "*/*"}, Check: jsonEq(`[]`)},
		{Name: "HEAD", Method: "HEAD", Path: "/rest/v1/cities", Headers: a, ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"Content-Range": "0-4/*"}},
		{Name: "singular", Method: "GET", Path: "/rest/v1/countries?select=name&id=eq.1", Headers: with("Accept", "application/vnd.pgrst.object+json"),
			ExpectedStatus: 200, ExpectedHeaders: map[string]string{"Content-Type": "application/vnd.pgrst.object+json; charset=utf-8"},
			Check: jsonEq(`{"name":"Japan"}`)},
		{Name: "singular of many", Method: "GET", Path: "/rest/v1/countries", Headers: with("Accept", "application/vnd.pgrst.object+json"),
			ExpectedStatus: 406, ExpectedJSON: map[string]any{"code": "PGRST116", "details": "The result contains 3 rows",
				"message": "Cannot coerce the result to a single JSON object"}},
		{Name: "singular of none", Method: "GET", Path: "/rest/v1/countries?id=eq.9", Headers: with("Accept", "application/vnd.pgrst.object+json"),
			ExpectedStatus: 406, ExpectedJSON: map[string]any{"code": "PGRST116", "details": "The result contains 0 rows"}},
		{Name: "csv", Method: "GET", Path: "/rest/v1/countries?select=id,code&order=id", Headers: with("Accept", "text/csv"), ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"Content-Type": "text/csv; charset=utf-8"},
			Check: func(t *testing.T, res *http.Response, body []byte) {
				if want := "id,code\n1,JP\n2,FR\n3,"; string(body) != want {
					t.Errorf("csv %q, want %q", body, want)
				}
			}},
		{Name: "stripped nulls", Method: "GET", Path: "/rest/v1/countries?select=id,code&id=eq.3", Headers: with("Accept", "application/vnd.pgrst.array+json;nulls=stripped"),
			ExpectedStatus: 200, Check: jsonEq(`[{"id":3}]`)},
		{Name: "unavailable media type", Method: "GET", Path: "/rest/v1/countries", Headers: with("Accept", "image/png"), ExpectedStatus: 406,
			ExpectedJSON: map[string]any{"code": "PGRST107", "message": "None of these media types are available: image/png"}},
		{Name: "plan", Method: "GET", Path: "/rest/v1/countries?id=eq.1", Headers: with("Accept", "application/vnd.pgrst.plan+json"), ExpectedStatus: 200,
			ExpectedContent: []string{`"Plan"`}},
		{Name: "profile", Method: "GET", Path: "/rest/v1/widgets", Headers: with("Accept-Profile", "api"), ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"Content-Profile": "api"}, Check: jsonEq(`[{"id":1,"name":"gear"}]`)},
		{Name: "default profile with several schemas", Method: "GET", Path: "/rest/v1/countries?id=eq.1&select=id", Headers: a, ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"Content-Profile": "public"}},
		{Name: "unexposed profile", Method: "GET", Path: "/rest/v1/countries", Headers: with("Accept-Profile", "auth"), ExpectedStatus: 406,
			ExpectedJSON: map[string]any{"code": "PGRST106", "message": "Invalid schema: auth", "hint": "Only the following schemas are exposed: public, api"}},
		{Name: "strict prefs", Method: "GET", Path: "/rest/v1/countries", Headers: with("Prefer", "handling=strict, bogus=1"), ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "PGRST122", "details": "Invalid preferences: bogus=1"}},
		{Name: "timezone", Method: "GET", Path: "/rest/v1/rpc/now_text", Headers: with("Prefer", "timezone=Asia/Tokyo"), ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"Preference-Applied": "timezone=Asia/Tokyo"}, Check: jsonEq(`"Asia/Tokyo"`)},
		{Name: "unknown timezone ignored", Method: "GET", Path: "/rest/v1/rpc/now_text", Headers: with("Prefer", "timezone=Mars/Olympus"), ExpectedStatus: 200,
			NotExpectedContent: []string{"Mars"}, ExpectedHeaders: map[string]string{"Preference-Applied": ""}},
		{Name: "unknown timezone refused when strict", Method: "GET", Path: "/rest/v1/rpc/now_text", Headers: with("Prefer", "handling=strict, timezone=Mars/Olympus"),
			ExpectedStatus: 400, ExpectedJSON: map[string]any{"code": "PGRST122"}},
		{Name: "lenient prefs", Method: "GET", Path: "/rest/v1/countries?select=id&limit=1", Headers: with("Prefer", "bogus=1"), ExpectedStatus: 200},
		{Name: "OPTIONS", Method: "OPTIONS", Path: "/rest/v1/countries", Headers: a, ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"Allow": "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"}},
		{Name: "CORS preflight", Method: "OPTIONS", Path: "/rest/v1/countries", Headers: map[string]string{"Origin": "http://x", "Access-Control-Request-Method": "GET"},
			ExpectedStatus: 204},
		{Name: "CORS expose", Method: "GET", Path: "/rest/v1/countries?limit=1", Headers: with("Origin", "http://x"), ExpectedStatus: 200,
			Check: func(t *testing.T, res *http.Response, _ []byte) {
				if !strings.Contains(res.Header.Get("Access-Control-Expose-Headers"), "content-range") {
					t.Errorf("Content-Range not exposed: %q", res.Header.Get("Access-Control-Expose-Headers"))
				}
			}},
		{Name: "plus is a space", Method: "GET", Path: "/rest/v1/addresses?select=id&street=eq.Main+St", Headers: a, ExpectedStatus: 200, Check: jsonEq(`[{"id":1}]`)},
		{Name: "apikey in query is not a filter", Method: "GET", Path: "/rest/v1/countries?select=id&id=eq.1&apikey=" + e.p.AnonKey,
			Headers: map[string]string{"x-project-ref": "alpha"}, ExpectedStatus: 200, Check: jsonEq(`[{"id":1}]`)},
	})
}

// TestSettings covers the project's rest section: max_rows on every read
// node, aggregates, tx_end without override, plans disabled.
func TestSettings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]any{"max_rows": 2, "aggregates_enabled": true, "tx_end": "commit"})
	apitest.Run(t, e.Handler, []apitest.Scenario{
		{Name: "aggregates", Method: "GET", Path: "/rest/v1/cities?select=country_id,count(),population.sum()&country_id=not.is.null&order=country_id",
			Headers: e.hdr("anon"), ExpectedStatus: 200, Check: jsonEq(`[{"country_id":1,"count":2,"sum":16700},{"country_id":2,"count":2,"sum":2600}]`)},
		{Name: "tx=rollback not allowed", Method: "POST", Path: "/rest/v1/teams", Headers: e.hdr("anon", "Prefer", "tx=rollback"),
			Body: map[string]any{"id": 40, "name": "kept"}, ExpectedStatus: 201,
			Check: func(t *testing.T, res *http.Response, _ []byte) {
				if pa := res.Header.Get("Preference-Applied"); pa != "" {
					t.Errorf("Preference-Applied %q", pa)
				}
			}},
		{Name: "the write was committed", Method: "GET", Path: "/rest/v1/teams?id=eq.40&select=name", Headers: e.hdr("anon"), ExpectedStatus: 200,
			Check: jsonEq(`[{"name":"kept"}]`)},
		{Name: "plans disabled", Method: "GET", Path: "/rest/v1/teams", Headers: e.hdr("anon", "Accept", "application/vnd.pgrst.plan"), ExpectedStatus: 406,
			ExpectedJSON: map[string]any{"code": "PGRST107"}},
		{Name: "estimated count above max_rows", Method: "GET", Path: "/rest/v1/cities?select=id", Headers: e.hdr("anon", "Prefer", "count=estimated"),
			ExpectedStatus: 206, Check: func(t *testing.T, res *http.Response, _ []byte) {
				cr := res.Header.Get("Content-Range")
				_, total, _ := strings.Cut(cr, "/")
				if n, err := strconv.Atoi(total); err != nil || n < 3 || !strings.HasPrefix(cr, "0-1/") {
					t.Errorf("Content-Range %q: want 0-1/N with N >= max_rows+1", cr)
				}
			}},
		{Name: "estimated count below max_rows is exact", Method: "GET", Path: "/rest/v1/cities?select=id&id=lt.3", Headers: e.hdr("anon", "Prefer", "count=estimated"),
			ExpectedStatus: 200, ExpectedHeaders: map[string]string{"Content-Range": "0-1/2", "Preference-Applied": "count=estimated"}},
		{Name: "root capped", Method: "GET", Path: "/rest/v1/cities?select=id&order=id", Headers: e.hdr("anon", "Prefer", "count=exact"),
			ExpectedStatus: 206, ExpectedHeaders: map[string]string{"Content-Range": "0-1/5"}, Check: rows(2)},
		{Name: "embeds capped", Method: "GET", Path: "/rest/v1/countries?select=cities(id)&id=eq.1", Headers: e.hdr("anon"),
			ExpectedStatus: 200, Check: jsonEq(`[{"cities":[{"id":1},{"id":2}]}]`)},
	})
}

func TestAuthErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	apitest.Run(t, e.Handler, []apitest.Scenario{
		{Name: "no apikey", Method: "GET", Path: "/rest/v1/countries", Headers: map[string]string{"x-project-ref": "alpha"}, ExpectedStatus: 401,
			ExpectedJSON: map[string]any{"code": "PGRST302"}, ExpectedHeaders: map[string]string{"WWW-Authenticate": "Bearer"}},
		{Name: "bad apikey", Method: "GET", Path: "/rest/v1/countries", Headers: map[string]string{"x-project-ref": "alpha", "apikey": "nope"}, ExpectedStatus: 401,
			ExpectedJSON: map[string]any{"code": "PGRST301"}},
		{Name: "bad jwt", Method: "GET", Path: "/rest/v1/countries", Headers: e.hdr("a.b.c"), ExpectedStatus: 401,
			ExpectedJSON: map[string]any{"code": "PGRST301"},
			Check: func(t *testing.T, res *http.Response, _ []byte) {
				if h := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, `Bearer error="invalid_token"`) {
					t.Errorf("WWW-Authenticate %q", h)
				}
			}},
		{Name: "sb publishable key as bearer", Method: "GET", Path: "/rest/v1/countries?select=id&id=eq.1",
			Headers: map[string]string{"x-project-ref": "alpha", "apikey": e.p.PublishableKey, "Authorization": "Bearer " + e.p.PublishableKey}, ExpectedStatus: 200, Check: jsonEq(`[{"id":1}]`)},
	})
}

// rpcDoc checks the root document's description of add(a int, b int) and
// hello(name text default 'world').
func rpcDoc(t *testing.T, _ *http.Response, body []byte) {
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name     string `json:"name"`
				In       string `json:"in"`
				Required bool   `json:"required"`
				Type     string `json:"type"`
				Schema   struct {
					Required   []string       `json:"required"`
					Properties map[string]any `json:"properties"`
				} `json:"schema"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	add := doc.Paths["/rpc/add"]
	if g := add["get"].Parameters; len(g) != 2 || g[0].Name != "a" || !g[0].Required || g[0].Type != "integer" || g[0].In != "query" {
		t.Errorf("GET /rpc/add parameters: %+v", g)
	}
	if p := add["post"].Parameters; len(p) != 1 || p[0].In != "body" || len(p[0].Schema.Properties) != 2 || len(p[0].Schema.Required) != 2 {
		t.Errorf("POST /rpc/add parameters: %+v", p)
	}
	if g := doc.Paths["/rpc/hello"]["get"].Parameters; len(g) != 1 || g[0].Required {
		t.Errorf("GET /rpc/hello: a parameter with a default is optional: %+v", g)
	}
}
