package sqlgen

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/madbase/madbase/internal/rest/query"
	"github.com/madbase/madbase/internal/rest/schema"
)

func TestWrites(t *testing.T) {
	e := newEnv(t)
	rep := ReturnRepresentation
	tests := []struct {
		name         string
		req          Request
		query, body  string
		want         string // body ("" = empty)
		page         int64
		inserted     int64 // -1: must be NULL
		total        int64 // -1: must be NULL
		wantLocation string
	}{
		{name: "insert object", req: Request{Kind: Insert, Relation: "countries", Return: rep},
			body: `{"id":4,"name":"Peru","code":"PE"}`, want: `[{"id":4,"name":"Peru","code":"PE"}]`, page: 1, inserted: 1, total: -1},
		{name: "insert minimal with count", req: Request{Kind: Insert, Relation: "countries", Count: true},
			body: `[{"id":4,"name":"Peru"},{"id":5,"name":"Chile"}]`, page: 2, inserted: 2, total: 2},
		{name: "insert with embed in representation", req: Request{Kind: Insert, Relation: "cities", Return: rep},
			query: "select=name,countries(name)", body: `{"id":9,"name":"Kyoto","country_id":1}`, want: `[{"name":"Kyoto","countries":{"name":"Japan"}}]`, page: 1, inserted: 1, total: -1},
		{name: "columns= ignores other keys, missing keys are null", req: Request{Kind: Insert, Relation: "countries", Return: rep},
			query: "columns=id,name", body: `[{"id":6,"name":"Mali","code":"ML"},{"id":7,"name":"Togo","extra":1}]`,
			want: `[{"id":6,"name":"Mali","code":null},{"id":7,"name":"Togo","code":null}]`, page: 2, inserted: 2, total: -1},
		{name: "missing=default", req: Request{Kind: Insert, Relation: "items", Return: rep, MissingDefault: true},
			query: "select=name,amount&columns=name,amount", body: `[{"name":"x"},{"amount":3}]`,
			want: `[{"name":"x","amount":null},{"name":"unnamed","amount":3}]`, page: 2, inserted: 2, total: -1},
		{name: "user types in body", req: Request{Kind: Insert, Relation: "items", Return: rep},
			query: "select=mood,moods", body: `{"mood":"sad","moods":["ok","happy"]}`, want: `[{"mood":"sad","moods":["ok","happy"]}]`, page: 1, inserted: 1, total: -1},
		{name: "all defaults", req: Request{Kind: Insert, Relation: "items", Return: rep},
			query: "select=name", body: `[{},{}]`, want: `[{"name":"unnamed"},{"name":"unnamed"}]`, page: 2, inserted: 2, total: -1},
		{name: "empty array", req: Request{Kind: Insert, Relation: "countries", Return: rep}, body: `[]`, want: `[]`, page: 0, inserted: 0, total: -1},
		{name: "upsert merge updates", req: Request{Kind: Insert, Relation: "countries", Return: rep, Resolution: MergeDuplicates},
			body: `{"id":1,"name":"Nippon"}`, want: `[{"id":1,"name":"Nippon","code":"JP"}]`, page: 1, inserted: 0, total: -1},
		{name: "upsert merge mixed", req: Request{Kind: Insert, Relation: "countries", Resolution: MergeDuplicates},
			body: `[{"id":1,"name":"Nippon"},{"id":8,"name":"Laos"}]`, page: 2, inserted: 1, total: -1},
		{name: "upsert ignore", req: Request{Kind: Insert, Relation: "countries", Return: rep, Resolution: IgnoreDuplicates},
			body: `{"id":1,"name":"Nippon"}`, want: `[]`, page: 0, inserted: 0, total: -1},
		{name: "upsert on_conflict unique column", req: Request{Kind: Insert, Relation: "countries", Return: rep, Resolution: MergeDuplicates},
			query: "on_conflict=code&select=id,name", body: `{"id":2,"code":"FR","name":"Francia"}`, want: `[{"id":2,"name":"Francia"}]`, page: 1, inserted: 0, total: -1},
		{name: "headers-only location", req: Request{Kind: Insert, Relation: "members", Return: ReturnHeadersOnly},
			body: `{"user_id":3,"team_id":2}`, page: 1, inserted: 1, total: -1, wantLocation: `{"team_id" : "2", "user_id" : "3"}`},
		{name: "update", req: Request{Kind: Update, Relation: "cities", Return: rep},
			query: "select=name,countries(name)&id=eq.1", body: `{"name":"Edo"}`, want: `[{"name":"Edo","countries":{"name":"Japan"}}]`, page: 1, inserted: -1, total: -1},
		{name: "update several, count", req: Request{Kind: Update, Relation: "cities", Count: true},
			query: "country_id=eq.2", body: `{"population":1}`, page: 2, inserted: -1, total: 2},
		{name: "update nothing matched", req: Request{Kind: Update, Relation: "cities", Return: rep},
			query: "id=eq.99", body: `{"name":"x"}`, want: `[]`, page: 0, inserted: -1, total: -1},
		{name: "update empty object", req: Request{Kind: Update, Relation: "cities", Return: rep},
			query: "id=eq.1", body: `{}`, want: `[]`, page: 0, inserted: -1, total: -1},
		{name: "update through a view", req: Request{Kind: Update, Relation: "big_cities", Return: rep},
			query: "city_id=eq.1&select=city_id,name", body: `{"name":"Edo"}`, want: `[{"city_id":1,"name":"Edo"}]`, page: 1, inserted: -1, total: -1},
		{name: "delete", req: Request{Kind: Delete, Relation: "employees", Return: rep},
			query: "id=eq.4", want: `[{"id":4,"name":"Low2","manager_id":2}]`, page: 1, inserted: -1, total: -1},
		{name: "delete with or", req: Request{Kind: Delete, Relation: "members", Count: true},
			query: "or=(role.eq.lead,and(user_id.eq.2,team_id.eq.1))", page: 2, inserted: -1, total: 2},
		{name: "delete limited by ctid", req: Request{Kind: Delete, Relation: "cities", Return: rep, LimitedMutations: true},
			query: "country_id=eq.2&order=id.desc&limit=1&select=name", want: `[{"name":"Lyon"}]`, page: 1, inserted: -1, total: -1},
		{name: "delete embedded filter shapes only", req: Request{Kind: Delete, Relation: "cities", Return: rep},
			query: "id=eq.3&select=name,countries(name)&countries.name=eq.nope", want: `[{"name":"Paris","countries":null}]`, page: 1, inserted: -1, total: -1},
	}
	for _, tt := range tests {
		res, err := e.run(t, tt.req, tt.query, tt.body)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if tt.want == "" {
			if res.body != "" {
				t.Errorf("%s: body %q, want empty", tt.name, res.body)
			}
		} else {
			jsonEqual(t, tt.name, tt.want, res.body)
		}
		if *res.page != tt.page {
			t.Errorf("%s: page_total %d, want %d", tt.name, *res.page, tt.page)
		}
		check := func(what string, got *int64, want int64) {
			if (want < 0) != (got == nil) || (got != nil && *got != want) {
				t.Errorf("%s: %s %v, want %d", tt.name, what, got, want)
			}
		}
		check("inserted", res.inserted, tt.inserted)
		check("total", res.total, tt.total)
		if tt.wantLocation != "" && (res.location == nil || *res.location != tt.wantLocation) {
			t.Errorf("%s: location %v, want %s", tt.name, res.location, tt.wantLocation)
		}
	}

	_, err := e.run(t, Request{Kind: Insert, Relation: "countries"}, "", `{"id":1,"name":"dup"}`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" {
		t.Errorf("duplicate insert: %v", err)
	}
	_, err = e.run(t, Request{Kind: Insert, Relation: "countries"}, "", `{"id":"x","name":"bad"}`)
	if !errors.As(err, &pe) || pe.Code != "22P02" {
		t.Errorf("bad value: %v", err)
	}
	_, err = e.run(t, Request{Kind: Insert, Relation: "countries"}, "", `{"id":4,"nope":1}`)
	var qe *query.Error
	if !errors.As(err, &qe) || qe.Code != "PGRST204" || qe.Message != "Could not find the 'nope' column of 'countries' in the schema cache" {
		t.Errorf("unknown column: %v", err)
	}
	_, err = e.run(t, Request{Kind: Insert, Relation: "countries"}, "", `[{"id":4},{"name":"x"}]`)
	if !errors.As(err, &qe) || qe.Code != "PGRST102" || qe.Message != "All object keys must match" {
		t.Errorf("mismatched keys: %v", err)
	}
	if _, err := PayloadColumns([]byte(" ")); err == nil {
		t.Error("empty body: want PGRST102")
	}
}

// An insert-only role under RLS (a feedback form, say) can insert with
// return=minimal, and gets 42501 only when it asks for the rows back.
func TestInsertOnlyRole(t *testing.T) {
	e := newEnv(t)
	for _, q := range []string{
		"DO $$BEGIN CREATE ROLE sqlgen_inserter; EXCEPTION WHEN duplicate_object THEN NULL; END$$",
		"ALTER TABLE addresses ENABLE ROW LEVEL SECURITY",
		"GRANT INSERT ON addresses TO sqlgen_inserter",
		"CREATE POLICY ins ON addresses FOR INSERT TO sqlgen_inserter WITH CHECK (true)",
	} {
		if _, err := e.conn.Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
	res, err := e.runAs(t, "sqlgen_inserter", Request{Kind: Insert, Relation: "addresses", Count: true}, "", `{"id":7,"street":"x"}`)
	if err != nil || *res.page != 1 || *res.inserted != 1 {
		t.Errorf("minimal insert: %+v %v", res, err)
	}
	_, err = e.runAs(t, "sqlgen_inserter", Request{Kind: Insert, Relation: "addresses", Return: ReturnRepresentation}, "", `{"id":7,"street":"x"}`)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42501" {
		t.Errorf("representation without SELECT: %v", err)
	}
}

func TestPut(t *testing.T) {
	e := newEnv(t)
	put := Request{Kind: Put, Relation: "countries", Return: ReturnRepresentation}
	res, err := e.run(t, put, "id=eq.1", `{"id":1,"name":"Nippon","code":"JP"}`)
	if err != nil || *res.page != 1 || *res.inserted != 0 {
		t.Fatalf("update by PUT: %+v %v", res, err)
	}
	jsonEqual(t, "put update", `[{"id":1,"name":"Nippon","code":"JP"}]`, res.body)
	res, err = e.run(t, put, "id=eq.9", `[{"id":9,"name":"Niger"}]`)
	if err != nil || *res.page != 1 || *res.inserted != 1 {
		t.Fatalf("insert by PUT: %+v %v", res, err)
	}
	jsonEqual(t, "put insert", `[{"id":9,"name":"Niger","code":null}]`, res.body)
	res, err = e.run(t, put, "id=eq.2", `{"id":3,"name":"x"}`)
	if err != nil || *res.page != 0 {
		t.Errorf("PK mismatch must affect nothing (PGRST115 in the handler): %+v %v", res, err)
	}
	for q, code := range map[string]string{
		"name=eq.x": "PGRST105", "id=gt.1": "PGRST105", "id=eq.1&name=eq.x": "PGRST105", "": "PGRST105",
		"or=(id.eq.1)": "PGRST105", "id=eq.1&limit=1": "PGRST114",
	} {
		_, err := e.run(t, put, q, `{"id":1,"name":"x"}`)
		var qe *query.Error
		if !errors.As(err, &qe) || qe.Code != code {
			t.Errorf("%q: got %v, want %s", q, err, code)
		}
	}
}

func TestCSVAndCountQuery(t *testing.T) {
	e := newEnv(t)
	res, err := e.run(t, Request{Kind: Read, Relation: "items", CSV: true}, "select=id,name,tags,r,tsv,amount&order=id", "")
	if err != nil {
		t.Fatal(err)
	}
	want := "id,name,tags,r,tsv,amount\n1,a,\"{red,green}\",\"[1,5)\",\"'cat':3 'fat':2\",1.5\n2,b,{blue},\"[10,20)\",\"'dog':3 'lazi':2\",2.5\n3,c,{},,,"
	if res.body != want {
		t.Errorf("csv:\n%s\nwant:\n%s", res.body, want)
	}
	res, err = e.run(t, Request{Kind: Read, Relation: "items", CSV: true}, "id=eq.99", "")
	if err != nil || res.body != "\n" {
		t.Errorf("empty csv: %q %v", res.body, err)
	}

	p, _ := query.ParseRaw("select=id,cities!inner(id)&cities.population=gt.2500&limit=1", query.Options{})
	st, err := CountQuery(e.snap, Request{Kind: Read, Schema: "public", Relation: "countries", Params: p})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := e.conn.QueryRow(t.Context(), "SELECT count(*) FROM ("+st.SQL+") c", st.Args...).Scan(&n); err != nil || n != 1 {
		t.Errorf("count query: %d %v\n%s", n, err, st.SQL)
	}
	var plan []byte
	if err := e.conn.QueryRow(t.Context(), "EXPLAIN (FORMAT JSON) "+st.SQL, st.Args...).Scan(&plan); err != nil {
		t.Errorf("explain count query: %v", err)
	}
	f, _ := e.snap.FindFunction(schema.QName{Schema: "public", Name: "cities_of"}, []string{"country"}, schema.BodyNone)
	p, _ = query.ParseRaw("country=1&name=neq.Tokyo", query.Options{RPCRead: true})
	st, err = CountQuery(e.snap, Request{Kind: Call, Function: f, GetArgs: true, Params: p})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.conn.QueryRow(t.Context(), "SELECT count(*) FROM ("+st.SQL+") c", st.Args...).Scan(&n); err != nil || n != 1 {
		t.Errorf("call count query: %d %v\n%s", n, err, st.SQL)
	}
}

func TestRPC(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, fn, query, body, want string
		get, count                  bool
		page, total                 int64
	}{
		{name: "scalar GET", fn: "add", query: "a=1&b=2", get: true, want: `3`, page: 1, total: -1},
		{name: "scalar POST", fn: "add", body: `{"a":40,"b":2}`, want: `42`, page: 1, total: -1},
		{name: "default arg", fn: "hello", body: `{}`, want: `"hello world"`, page: 1, total: -1},
		{name: "named arg", fn: "hello", query: "name=you", get: true, want: `"hello you"`, page: 1, total: -1},
		{name: "setof table", fn: "cities_of", body: `{"country":1}`, query: "select=name&order=id", want: `[{"name":"Tokyo"},{"name":"Osaka"}]`, page: 2, total: -1},
		{name: "setof filter and embed", fn: "cities_of", query: "country=1&name=eq.Osaka&select=name,countries(code)", get: true,
			want: `[{"name":"Osaka","countries":{"code":"JP"}}]`, page: 1, total: -1},
		{name: "setof count and limit", fn: "cities_of", body: `{"country":1}`, query: "select=id&order=id&limit=1", count: true, want: `[{"id":1}]`, page: 1, total: 2},
		{name: "single composite", fn: "get_country", query: "cid=1", get: true, want: `{"id":1,"name":"Japan","code":"JP"}`, page: 1, total: -1},
		{name: "returns table", fn: "pairs", body: `{"n":2}`, want: `[{"x":1,"y":"v1"},{"x":2,"y":"v2"}]`, page: 2, total: -1},
		{name: "returns table filtered", fn: "pairs", query: "n=3&x=gte.2&select=y&order=x.desc", get: true, want: `[{"y":"v3"},{"y":"v2"}]`, page: 2, total: -1},
		{name: "variadic GET", fn: "sum_all", query: "nums=1&nums=2&nums=3", get: true, want: `6`, page: 1, total: -1},
		{name: "variadic POST", fn: "sum_all", body: `{"nums":[4,5]}`, want: `9`, page: 1, total: -1},
		{name: "unnamed json", fn: "echo", body: `{"k":[1,2]}`, want: `{"k":[1,2]}`, page: 1, total: -1},
		{name: "volatile composite", fn: "new_item", body: `{"name":"z"}`, query: "select=name", want: `{"name":"z"}`, page: 1, total: -1},
		{name: "void", fn: "touch", body: `{}`, want: `null`, page: 1, total: -1},
		{name: "user type GET", fn: "cheer", query: "m=sad", get: true, want: `"ok"`, page: 1, total: -1},
		{name: "user type POST", fn: "cheer", body: `{"m":"ok"}`, want: `"happy"`, page: 1, total: -1},
		{name: "bare record", fn: "rec", body: `{}`, want: `{"n":1,"s":"a"}`, page: 1, total: -1},
		{name: "setof scalar with range and count", fn: "words", query: "offset=1&limit=1", get: true, count: true, want: `["y"]`, page: 1, total: 3},
	}
	for _, tt := range tests {
		res, err := e.run(t, Request{Kind: Call, Relation: tt.fn, GetArgs: tt.get, Count: tt.count}, tt.query, tt.body)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		jsonEqual(t, tt.name, tt.want, res.body)
		if *res.page != tt.page {
			t.Errorf("%s: page_total %d, want %d", tt.name, *res.page, tt.page)
		}
		if (tt.total < 0) != (res.total == nil) || (res.total != nil && *res.total != tt.total) {
			t.Errorf("%s: total %v, want %d", tt.name, res.total, tt.total)
		}
	}
	_, err := e.run(t, Request{Kind: Call, Relation: "add", GetArgs: true}, "a=x&b=1", "")
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "22P02" {
		t.Errorf("bad arg: %v", err)
	}
}
