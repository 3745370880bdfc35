package rest_test

import (
	"testing"

	"github.com/madbase/madbase/internal/testutil/apitest"
)

func TestRPC(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a := e.hdr("anon")
	with := func(kv ...string) map[string]string { return e.hdr("anon", kv...) }
	apitest.Run(t, e.Handler, []apitest.Scenario{
		{Name: "scalar POST", Method: "POST", Path: "/rest/v1/rpc/add", Headers: a, Body: map[string]any{"a": 1, "b": 2}, ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"Content-Range": "0-0/*"}, Check: jsonEq(`3`)},
		{Name: "scalar GET", Method: "GET", Path: "/rest/v1/rpc/add?a=4&b=5", Headers: a, ExpectedStatus: 200, Check: jsonEq(`9`)},
		{Name: "default argument", Method: "POST", Path: "/rest/v1/rpc/hello", Headers: a, ExpectedStatus: 200, Check: jsonEq(`"hello world"`)},
		{Name: "empty body means no args", Method: "POST", Path: "/rest/v1/rpc/hello", Headers: a, Body: "", ExpectedStatus: 200, Check: jsonEq(`"hello world"`)},
		{Name: "setof with filters, order and count", Method: "GET", Path: "/rest/v1/rpc/cities_of?country=1&select=name&order=name&population=gt.100",
			Headers: with("Prefer", "count=exact"), ExpectedStatus: 200, ExpectedHeaders: map[string]string{"Content-Range": "0-1/2"},
			Check: jsonEq(`[{"name":"Osaka"},{"name":"Tokyo"}]`)},
		{Name: "setof with embedding", Method: "POST", Path: "/rest/v1/rpc/cities_of?select=name,countries(code)&limit=1&order=id", Headers: a,
			Body: map[string]any{"country": 2}, ExpectedStatus: 200, Check: jsonEq(`[{"name":"Paris","countries":{"code":"FR"}}]`)},
		{Name: "setof scalar", Method: "GET", Path: "/rest/v1/rpc/words", Headers: a, ExpectedStatus: 200, Check: jsonEq(`["x","y","z"]`)},
		{Name: "composite is an object", Method: "GET", Path: "/rest/v1/rpc/get_country?cid=2", Headers: a, ExpectedStatus: 200,
			Check: jsonEq(`{"id":2,"name":"France","code":"FR"}`)},
		{Name: "setof singular", Method: "GET", Path: "/rest/v1/rpc/cities_of?country=2&select=id", Headers: with("Accept", "application/vnd.pgrst.object+json"),
			ExpectedStatus: 406, ExpectedJSON: map[string]any{"code": "PGRST116"}},
		{Name: "void is 204", Method: "POST", Path: "/rest/v1/rpc/touch", Headers: a, ExpectedStatus: 204},
		{Name: "single unnamed json", Method: "POST", Path: "/rest/v1/rpc/echo", Headers: a, Body: map[string]any{"any": []int{1, 2}}, ExpectedStatus: 200,
			Check: jsonEq(`{"any":[1,2]}`)},
		{Name: "volatile function over GET is read-only", Method: "GET", Path: "/rest/v1/rpc/new_item?name=x", Headers: a, ExpectedStatus: 405,
			ExpectedJSON: map[string]any{"code": "25006"}},
		{Name: "volatile function over POST writes", Method: "POST", Path: "/rest/v1/rpc/new_item?select=name", Headers: a, Body: map[string]any{"name": "via rpc"},
			ExpectedStatus: 200, Check: jsonEq(`{"name":"via rpc"}`)},
		{Name: "not found", Method: "POST", Path: "/rest/v1/rpc/nope", Headers: a, Body: map[string]any{"a": 1}, ExpectedStatus: 404,
			ExpectedJSON: map[string]any{"code": "PGRST202"}},
		{Name: "wrong argument names", Method: "POST", Path: "/rest/v1/rpc/add", Headers: a, Body: map[string]any{"x": 1}, ExpectedStatus: 404,
			ExpectedJSON: map[string]any{"code": "PGRST202"}},
		{Name: "ambiguous overload", Method: "POST", Path: "/rest/v1/rpc/over", Headers: a, Body: map[string]any{"a": 1}, ExpectedStatus: 300,
			ExpectedJSON: map[string]any{"code": "PGRST203"}},
		{Name: "bad argument value", Method: "GET", Path: "/rest/v1/rpc/add?a=x&b=1", Headers: a, ExpectedStatus: 400, ExpectedJSON: map[string]any{"code": "22P02"}},
		{Name: "response GUCs", Method: "POST", Path: "/rest/v1/rpc/set_response", Headers: a, ExpectedStatus: 202,
			ExpectedHeaders: map[string]string{"X-Custom": "yes", "Cache-Control": "no-store"}, Check: jsonEq(`1`)},
		{Name: "bad response.status", Method: "POST", Path: "/rest/v1/rpc/bad_status", Headers: a, ExpectedStatus: 500,
			ExpectedJSON: map[string]any{"code": "PGRST112"}},
		{Name: "PT status", Method: "POST", Path: "/rest/v1/rpc/pay", Headers: a, ExpectedStatus: 402,
			ExpectedJSON: map[string]any{"code": "PT402", "message": "payment required"}},
		{Name: "PGRST raise", Method: "POST", Path: "/rest/v1/rpc/teapot", Headers: a, ExpectedStatus: 418,
			ExpectedHeaders: map[string]string{"X-Teapot": "1"}, ExpectedJSON: map[string]any{"code": "123", "message": "short and stout", "details": "d", "hint": "h"}},
		{Name: "raise exception", Method: "POST", Path: "/rest/v1/rpc/fail", Headers: a, ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "P0001", "message": "boom", "details": "it broke", "hint": "fix it"}},
		{Name: "method not allowed", Method: "PATCH", Path: "/rest/v1/rpc/add", Headers: a, ExpectedStatus: 405, ExpectedJSON: map[string]any{"code": "PGRST101"}},
		{Name: "claims and search_path in the transaction", Method: "GET", Path: "/rest/v1/rpc/whoami", Headers: e.hdr(e.user(t, "00000000-0000-0000-0000-00000000000a")),
			ExpectedStatus: 200, Check: jsonEq(`{"role":"authenticated","sub":"00000000-0000-0000-0000-00000000000a","search_path":"\"public\", \"public\", \"extensions\"","method":"GET","path":"/rpc/whoami"}`)},
		{Name: "max-affected on a scalar", Method: "POST", Path: "/rest/v1/rpc/add", Headers: with("Prefer", "handling=strict,max-affected=1"), Body: map[string]any{"a": 1, "b": 1},
			ExpectedStatus: 400, ExpectedJSON: map[string]any{"code": "PGRST128"}},
		{Name: "OPTIONS", Method: "OPTIONS", Path: "/rest/v1/rpc/touch", Headers: a, ExpectedStatus: 200, ExpectedHeaders: map[string]string{"Allow": "OPTIONS,POST"}},
	})
}

func TestPreRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]any{"pre_request": "public.pre_req"})
	apitest.Run(t, e.Handler, []apitest.Scenario{
		{Name: "runs and sets headers", Method: "GET", Path: "/rest/v1/countries?select=id&id=eq.1", Headers: e.hdr("anon"), ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"X-Pre": "ran"}, Check: jsonEq(`[{"id":1}]`)},
		{Name: "aborts", Method: "GET", Path: "/rest/v1/countries", Headers: e.hdr("anon", "X-Block", "1"), ExpectedStatus: 403,
			ExpectedJSON: map[string]any{"code": "PT403", "message": "blocked by pre-request"}},
		{Name: "aborts writes", Method: "POST", Path: "/rest/v1/teams", Headers: e.hdr("anon", "X-Block", "1"), Body: map[string]any{"id": 30, "name": "x"},
			ExpectedStatus: 403},
		{Name: "aborted write did not happen", Method: "GET", Path: "/rest/v1/teams?id=eq.30", Headers: e.hdr("anon"), ExpectedStatus: 200, Check: jsonEq(`[]`)},
	})
}
