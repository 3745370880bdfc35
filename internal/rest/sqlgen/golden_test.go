package sqlgen

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/madbase/madbase/internal/rest/query"
	"github.com/madbase/madbase/internal/rest/schema"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

type goldenCase struct {
	name  string
	req   Request
	query string
	body  string
}

func goldenCases() []goldenCase {
	s := fixtureSnapshot()
	fn := func(name string, args ...string) *schema.Function {
		f, err := s.FindFunction(schema.QName{Schema: "public", Name: name}, args, schema.BodyJSON)
		if err != nil {
			panic(err)
		}
		return f
	}
	rd := func(rel string) Request { return Request{Kind: Read, Schema: "public", Relation: rel} }
	with := func(r Request, f func(*Request)) Request { f(&r); return r }
	return []goldenCase{
		{name: "read_simple", req: rd("countries"), query: "select=id,name&id=gt.1&order=name.desc.nullslast&limit=10&offset=5"},
		{name: "read_count_embeds", req: with(rd("countries"), func(r *Request) { r.Count = true }),
			query: "select=id,name,cities(id,name),capitals(city_name)&cities.order=id.desc&cities.limit=2&id=gt.0"},
		{name: "read_m2o_hint_alias", req: rd("orders"), query: "select=name,billing:addresses!billing(street),shipping:addresses!shipping(street)"},
		{name: "read_m2m", req: rd("users"), query: "select=name,teams(name)&teams.name=eq.red"},
		{name: "read_self", req: rd("employees"), query: "select=name,manager:manager_id(name),reports:employees(name)"},
		{name: "read_inner_null_filter", req: with(rd("countries"), func(r *Request) { r.Count = true }),
			query: "select=name,cities!inner(name),capitals()&cities.population=gt.1000&capitals=is.null"},
		{name: "read_spreads", req: rd("cities"), query: "select=name,...countries(country:name)"},
		{name: "read_spread_to_many", req: rd("countries"), query: "select=name,...cities(city_names:name,population)"},
		{name: "read_aggregates", req: with(rd("cities"), func(r *Request) { r.Aggregates = true }),
			query: "select=country_id,population.sum(),total:population::numeric.avg()::int,count()"},
		{name: "read_json_paths", req: rd("items"), query: "select=id,data->a->>b,v:data->arr->0::int&data->>n=eq.1&order=data->n.desc"},
		{name: "read_operators", req: rd("items"), query: "select=id&name=like.*a*&name=ilike(any).{A*,b}&id=in.(1,\"2\")&tags=cs.{red}&tags=ov.{a}&r=adj.[1,2)&r=sl.[1,2)&r=sr.[1,2)&r=nxr.[1,2)&r=nxl.[1,2)&r=cd.[1,9)" +
			"&tsv=fts(english).cat&name=plfts.x&name=phfts.y&tsv=wfts.z&name=match.^a&name=imatch.A&amount=is.null&amount=not.gte.3&id=isdistinct.4&amount=lt(all).{9}&id=neq.0&id=lte.9"},
		{name: "read_logic", req: rd("countries"), query: "or=(id.eq.1,and(name.eq.x,not.or(code.is.null,code.in.(a,b))))&not.and=(id.gt.5,id.lt.9)"},
		{name: "read_related_order_singular", req: with(rd("cities"), func(r *Request) { r.Singular = true; r.StripNulls = true; r.MaxRows = 1000 }),
			query: "select=name,countries(name)&order=countries(name).desc,id.asc.nullsfirst"},
		{name: "read_computed", req: rd("countries"), query: "select=id,label,large_cities(name)"},
		{name: "read_view", req: with(rd("big_cities"), func(r *Request) { r.Head = true }), query: "select=name,countries(code)"},
		{name: "insert", req: Request{Kind: Insert, Schema: "public", Relation: "countries", Columns: []string{"id", "name"}, Return: ReturnRepresentation}, query: "select=id,cities(name)",
			body: `{"id":4,"name":"Peru"}`},
		{name: "upsert_merge_missing_default", req: Request{Kind: Insert, Schema: "public", Relation: "items", Columns: []string{"id", "name"}, Resolution: MergeDuplicates, MissingDefault: true, Count: true}, query: "on_conflict=id",
			body: `[{"name":"x"}]`},
		{name: "upsert_ignore_headers_only", req: Request{Kind: Insert, Schema: "public", Relation: "countries", Columns: []string{"id"}, Resolution: IgnoreDuplicates, Return: ReturnHeadersOnly}, body: `{"id":1}`},
		{name: "insert_defaults", req: Request{Kind: Insert, Schema: "public", Relation: "items"}, body: `{}`},
		{name: "update", req: Request{Kind: Update, Schema: "public", Relation: "cities", Columns: []string{"name"}, Return: ReturnRepresentation},
			query: "select=name,countries(name)&id=eq.1&or=(name.is.null,name.neq.x)", body: `{"name":"Edo"}`},
		{name: "delete_limited", req: Request{Kind: Delete, Schema: "public", Relation: "cities", LimitedMutations: true, Count: true},
			query: "country_id=eq.2&order=id.desc&limit=1"},
		{name: "put", req: Request{Kind: Put, Schema: "public", Relation: "countries", Columns: []string{"id", "name"}, Return: ReturnRepresentation},
			query: "id=eq.1", body: `{"id":1,"name":"Nippon"}`},
		{name: "read_csv", req: with(rd("countries"), func(r *Request) { r.CSV = true }), query: "select=id,name"},
		{name: "rpc_scalar_get", req: Request{Kind: Call, Function: fn("add", "a", "b"), GetArgs: true}, query: "a=1&b=2"},
		{name: "rpc_setof_post", req: Request{Kind: Call, Function: fn("cities_of", "country"), ArgNames: []string{"country"}, Count: true},
			query: "select=name,countries(code)&name=neq.x&order=id&limit=1", body: `{"country":1}`},
		{name: "rpc_variadic_get", req: Request{Kind: Call, Function: fn("sum_all", "nums"), GetArgs: true}, query: "nums=1&nums=2"},
		{name: "rpc_unnamed_json", req: Request{Kind: Call, Function: fn("echo", "x")}, body: `{"x":1}`},
	}
}

func TestGolden(t *testing.T) {
	s := fixtureSnapshot()
	var out strings.Builder
	for _, c := range goldenCases() {
		p, err := query.ParseRaw(c.query, query.Options{RPCRead: c.req.Kind == Call && c.req.GetArgs})
		if err != nil {
			t.Fatalf("%s: parse: %v", c.name, err)
		}
		c.req.Params = p
		c.req.Body = []byte(c.body)
		st, err := Build(s, c.req)
		if err != nil {
			t.Fatalf("%s: build: %v", c.name, err)
		}
		fmt.Fprintf(&out, "-- %s: %s\n%s\n-- args: %#v\n\n", c.name, c.query, st.SQL, st.Args)
	}
	path := filepath.Join("testdata", "sql.golden")
	if *update {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if string(want) != out.String() {
		t.Errorf("generated SQL differs from %s (run with -update after review)", path)
	}
}

// TestShapeStableText: requests that differ only in values (filter
// operands, list lengths, ranges) produce the same statement text, so one
// prepared statement serves them all.
func TestShapeStableText(t *testing.T) {
	s := fixtureSnapshot()
	groups := [][]string{
		{"select=id,tags&id=eq.1&limit=5", "select=id,tags&id=eq.999&limit=50&offset=7", "select=id,tags&id=eq.abc&limit=1&offset=0"},
		{"id=in.(1,2,3)&name=like.*x*", "id=in.()&name=like.y", "id=in.(\"a,b\")&name=like.%25"},
		{"or=(id.eq.1,name.fts(english).cat)&data->a=eq.1", "or=(id.eq.7,name.fts(english).dog)&data->b=eq.2"},
	}
	for _, g := range groups {
		var first string
		for i, q := range g {
			p, err := query.ParseRaw(q, query.Options{})
			if err != nil {
				t.Fatal(err)
			}
			st, err := Build(s, Request{Kind: Read, Schema: "public", Relation: "items", Params: p, MaxRows: 1000})
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = st.SQL
			} else if st.SQL != first {
				t.Errorf("%q and %q give different SQL:\n%s\n%s", g[0], q, first, st.SQL)
			}
		}
	}
}
