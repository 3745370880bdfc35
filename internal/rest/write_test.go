package rest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/madbase/madbase/internal/testutil/apitest"
)

func TestWrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a := e.hdr("anon")
	with := func(kv ...string) map[string]string { return e.hdr("anon", kv...) }
	rep := with("Prefer", "return=representation")
	apitest.Run(t, e.Handler, []apitest.Scenario{
		{Name: "insert minimal", Method: "POST", Path: "/rest/v1/items", Headers: a, Body: map[string]any{"name": "m1"}, ExpectedStatus: 201,
			ExpectedHeaders: map[string]string{"Content-Range": "*/*", "Content-Length": "0", "Content-Type": ""},
			Check: func(t *testing.T, _ *http.Response, body []byte) {
				if len(body) != 0 {
					t.Errorf("body %q", body)
				}
			}},
		{Name: "insert representation with count", Method: "POST", Path: "/rest/v1/items?select=name,amount", Headers: with("Prefer", "return=representation,count=exact"),
			Body: map[string]any{"name": "r1", "amount": 3}, ExpectedStatus: 201,
			ExpectedHeaders: map[string]string{"Content-Range": "*/1", "Preference-Applied": "return=representation, count=exact"},
			Check:           jsonEq(`[{"name":"r1","amount":3}]`)},
		{Name: "insert headers-only", Method: "POST", Path: "/rest/v1/countries", Headers: with("Prefer", "return=headers-only"),
			Body: map[string]any{"id": 10, "name": "Peru", "code": "PE"}, ExpectedStatus: 201,
			ExpectedHeaders: map[string]string{"Location": "/countries?id=eq.10"}},
		{Name: "bulk insert with columns and missing=default", Method: "POST", Path: `/rest/v1/items?columns="name","amount"&select=name,amount`,
			Headers: with("Prefer", "return=representation, missing=default"),
			Body:    []map[string]any{{"name": "b1", "amount": 1}, {"amount": 2}}, ExpectedStatus: 201,
			ExpectedHeaders: map[string]string{"Preference-Applied": "missing=default, return=representation"},
			Check:           jsonEq(`[{"name":"b1","amount":1},{"name":"unnamed","amount":2}]`)},
		{Name: "bulk insert with mismatched keys", Method: "POST", Path: "/rest/v1/items", Headers: a,
			Body: []map[string]any{{"name": "x"}, {"amount": 2}}, ExpectedStatus: 400, ExpectedJSON: map[string]any{"code": "PGRST102", "message": "All object keys must match"}},
		{Name: "empty body", Method: "POST", Path: "/rest/v1/items", Headers: a, Body: "", ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "PGRST102", "message": "Empty or invalid json"}},
		{Name: "unknown column", Method: "POST", Path: "/rest/v1/items", Headers: a, Body: map[string]any{"nope": 1}, ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "PGRST204", "message": "Could not find the 'nope' column of 'items' in the schema cache"}},
		{Name: "unique violation", Method: "POST", Path: "/rest/v1/countries", Headers: a, Body: map[string]any{"id": 1, "name": "dup"}, ExpectedStatus: 409,
			ExpectedJSON: map[string]any{"code": "23505"}, ExpectedContent: []string{"Key (id)=(1) already exists."}},
		{Name: "foreign key violation", Method: "POST", Path: "/rest/v1/cities", Headers: a, Body: map[string]any{"id": 99, "country_id": 99}, ExpectedStatus: 409,
			ExpectedJSON: map[string]any{"code": "23503"}},
		{Name: "check violation", Method: "POST", Path: "/rest/v1/items", Headers: a, Body: map[string]any{"amount": -1}, ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "23514"}},
		{Name: "not null violation", Method: "POST", Path: "/rest/v1/countries", Headers: a, Body: map[string]any{"id": 50}, ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "23502"}},
		{Name: "upsert merge of an existing row is 200", Method: "POST", Path: "/rest/v1/countries", Headers: with("Prefer", "resolution=merge-duplicates,return=representation"),
			Body: map[string]any{"id": 1, "name": "Nippon", "code": "JP"}, ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"Preference-Applied": "resolution=merge-duplicates, return=representation"},
			Check:           jsonEq(`[{"id":1,"name":"Nippon","code":"JP"}]`)},
		{Name: "upsert merge of a new row is 201", Method: "POST", Path: "/rest/v1/countries?select=id", Headers: with("Prefer", "resolution=merge-duplicates,return=representation"),
			Body: []map[string]any{{"id": 1, "name": "Japan", "code": "JP"}, {"id": 11, "name": "Chile", "code": "CL"}}, ExpectedStatus: 201,
			Check: jsonEq(`[{"id":1},{"id":11}]`)},
		{Name: "upsert merge of nothing is 200", Method: "POST", Path: "/rest/v1/countries", Headers: with("Prefer", "resolution=merge-duplicates"),
			Body: []any{}, ExpectedStatus: 200},
		{Name: "insert of nothing is 201", Method: "POST", Path: "/rest/v1/countries", Headers: rep, Body: []any{}, ExpectedStatus: 201, Check: jsonEq(`[]`)},
		{Name: "upsert on_conflict ignore", Method: "POST", Path: "/rest/v1/countries?on_conflict=code&select=id", Headers: with("Prefer", "resolution=ignore-duplicates,return=representation"),
			Body: map[string]any{"id": 12, "name": "Japan again", "code": "JP"}, ExpectedStatus: 201, Check: jsonEq(`[]`)},
		{Name: "patch without filter", Method: "PATCH", Path: "/rest/v1/items", Headers: a, Body: map[string]any{"name": "z"}, ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "21000", "message": "UPDATE requires a WHERE clause"}},
		{Name: "delete without filter", Method: "DELETE", Path: "/rest/v1/items", Headers: a, ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "21000", "message": "DELETE requires a WHERE clause"}},
		{Name: "delete with only an embedded filter", Method: "DELETE", Path: "/rest/v1/countries?cities.id=eq.1", Headers: a, ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "21000"}},
		{Name: "patch minimal", Method: "PATCH", Path: "/rest/v1/cities?id=in.(4,5)", Headers: a, Body: map[string]any{"population": 600}, ExpectedStatus: 204,
			ExpectedHeaders: map[string]string{"Content-Range": "0-1/*"}},
		{Name: "patch representation with embed", Method: "PATCH", Path: "/rest/v1/cities?id=eq.4&select=name,population,countries(name)", Headers: rep,
			Body: map[string]any{"population": 700}, ExpectedStatus: 200, Check: jsonEq(`[{"name":"Lyon","population":700,"countries":{"name":"France"}}]`)},
		{Name: "patch nothing matched", Method: "PATCH", Path: "/rest/v1/cities?id=eq.404", Headers: rep, Body: map[string]any{"population": 1}, ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"Content-Range": "*/*"}, Check: jsonEq(`[]`)},
		{Name: "patch singular of many rolls back", Method: "PATCH", Path: "/rest/v1/cities?country_id=eq.1", Headers: with("Prefer", "return=representation", "Accept", "application/vnd.pgrst.object+json"),
			Body: map[string]any{"population": 1}, ExpectedStatus: 406, ExpectedJSON: map[string]any{"code": "PGRST116"}},
		{Name: "rolled back patch left the rows", Method: "GET", Path: "/rest/v1/cities?select=population&country_id=eq.1&order=id", Headers: a, ExpectedStatus: 200,
			Check: jsonEq(`[{"population":14000},{"population":2700}]`)},
		{Name: "max-affected exceeded", Method: "PATCH", Path: "/rest/v1/cities?country_id=eq.1", Headers: with("Prefer", "handling=strict, max-affected=1"),
			Body: map[string]any{"population": 1}, ExpectedStatus: 400, ExpectedJSON: map[string]any{"code": "PGRST124", "details": "The query affects 2 rows"}},
		{Name: "max-affected honoured", Method: "PATCH", Path: "/rest/v1/cities?id=eq.1", Headers: with("Prefer", "handling=strict, max-affected=1"),
			Body: map[string]any{"population": 14001}, ExpectedStatus: 204, ExpectedHeaders: map[string]string{"Preference-Applied": "handling=strict, max-affected=1"}},
		{Name: "tx=rollback", Method: "DELETE", Path: "/rest/v1/cities?id=eq.5", Headers: with("Prefer", "tx=rollback, return=representation, count=exact"), ExpectedStatus: 200,
			ExpectedHeaders: map[string]string{"Preference-Applied": "return=representation, count=exact, tx=rollback", "Content-Range": "*/1"},
			Check:           jsonEq(`[{"id":5,"name":"Nowhere","population":600,"country_id":null}]`)},
		{Name: "rolled back delete left the row", Method: "GET", Path: "/rest/v1/cities?id=eq.5&select=id", Headers: a, ExpectedStatus: 200, Check: jsonEq(`[{"id":5}]`)},
		{Name: "delete representation", Method: "DELETE", Path: "/rest/v1/cities?id=eq.5&select=name", Headers: rep, ExpectedStatus: 200, Check: jsonEq(`[{"name":"Nowhere"}]`)},
		{Name: "delete minimal with count", Method: "DELETE", Path: "/rest/v1/items?name=eq.m1", Headers: with("Prefer", "count=exact"), ExpectedStatus: 204,
			ExpectedHeaders: map[string]string{"Content-Range": "*/1"}},
		{Name: "put inserts", Method: "PUT", Path: "/rest/v1/teams?id=eq.7", Headers: rep, Body: map[string]any{"id": 7, "name": "green"}, ExpectedStatus: 201,
			Check: jsonEq(`[{"id":7,"name":"green"}]`)},
		{Name: "put updates", Method: "PUT", Path: "/rest/v1/teams?id=eq.7", Headers: rep, Body: map[string]any{"id": 7, "name": "teal"}, ExpectedStatus: 200,
			Check: jsonEq(`[{"id":7,"name":"teal"}]`)},
		{Name: "put minimal", Method: "PUT", Path: "/rest/v1/teams?id=eq.7", Headers: a, Body: map[string]any{"id": 7, "name": "lime"}, ExpectedStatus: 204},
		{Name: "put mismatch", Method: "PUT", Path: "/rest/v1/teams?id=eq.7", Headers: a, Body: map[string]any{"id": 8, "name": "x"}, ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "PGRST115"}},
		{Name: "put bad filters", Method: "PUT", Path: "/rest/v1/teams?name=eq.x", Headers: a, Body: map[string]any{"id": 8, "name": "x"}, ExpectedStatus: 405,
			ExpectedJSON: map[string]any{"code": "PGRST105"}},
		{Name: "csv body", Method: "POST", Path: "/rest/v1/teams?select=id,name", Headers: with("Content-Type", "text/csv", "Prefer", "return=representation"),
			Body: "id,name\n20,\"a, b\"\n21,NULL\n", ExpectedStatus: 201, Check: jsonEq(`[{"id":20,"name":"a, b"},{"id":21,"name":null}]`)},
		{Name: "unsupported content type", Method: "POST", Path: "/rest/v1/teams", Headers: with("Content-Type", "image/png"), Body: "x", ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "PGRST102"}},
		{Name: "write on a read-only view column", Method: "PATCH", Path: "/rest/v1/big_cities?city_id=eq.1", Headers: rep, Body: map[string]any{"name": "Tōkyō"}, ExpectedStatus: 200,
			Check: jsonEq(`[{"city_id":1,"name":"Tōkyō","country_id":1}]`)},
		{Name: "trigger sets response headers (minimal)", Method: "POST", Path: "/rest/v1/audited", Headers: a, Body: map[string]any{"id": 1},
			ExpectedStatus: 201, ExpectedHeaders: map[string]string{"X-Trigger": "fired"}},
		{Name: "trigger sets response headers (representation)", Method: "POST", Path: "/rest/v1/audited", Headers: rep, Body: map[string]any{"id": 2},
			ExpectedStatus: 201, ExpectedHeaders: map[string]string{"X-Trigger": "fired"}, Check: jsonEq(`[{"id":2}]`)},
		{Name: "rows of writes with response headers are committed", Method: "GET", Path: "/rest/v1/audited?order=id", Headers: a, ExpectedStatus: 200,
			Check: jsonEq(`[{"id":1},{"id":2}]`)},
		{Name: "error body has no SQL", Method: "POST", Path: "/rest/v1/items", Headers: a, Body: map[string]any{"amount": "lots"}, ExpectedStatus: 400,
			ExpectedJSON: map[string]any{"code": "22P02"}, NotExpectedContent: []string{"pgrst_", "INSERT", "json_populate"}},
	})
	if logs := e.Logs(); strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("client errors were logged as server errors:\n%s", logs)
	}
}

// TestWriteInvalidResponseSettings: a write whose trigger sets an invalid
// response.status is refused and rolled back, although writes otherwise
// commit in their one round trip (tenant.TxOptions.Hold).
func TestWriteInvalidResponseSettings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	a := e.hdr("anon")
	apitest.Run(t, e.Handler, []apitest.Scenario{
		{Name: "trigger sets an invalid response status", Method: "POST", Path: "/rest/v1/misreported", Headers: a, Body: map[string]any{"id": 1},
			ExpectedStatus: 500, ExpectedJSON: map[string]any{"code": "PGRST112"}},
		{Name: "the write rolled back", Method: "GET", Path: "/rest/v1/misreported", Headers: a, ExpectedStatus: 200, Check: jsonEq(`[]`)},
		{Name: "a write without response settings commits", Method: "POST", Path: "/rest/v1/teams", Headers: a, Body: map[string]any{"id": 30, "name": "one trip"},
			ExpectedStatus: 201},
		{Name: "and its row is there", Method: "GET", Path: "/rest/v1/teams?id=eq.30&select=name", Headers: a, ExpectedStatus: 200, Check: jsonEq(`[{"name":"one trip"}]`)},
	})
}
