package sqlgen

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/madbase/madbase/internal/rest/query"
	"github.com/madbase/madbase/internal/rest/schema"
	"github.com/madbase/madbase/internal/testutil/pgtest"
)

var pg *pgtest.Cluster

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, &pg, func(ctx context.Context, c *pgtest.Cluster) error {
		fixture, err := os.ReadFile("../schema/testdata/fixture.sql")
		if err != nil {
			return err
		}
		return c.CreateTemplate(ctx, "restfixture", func(ctx context.Context, url string) error {
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				return err
			}
			defer conn.Close(ctx)
			_, err = conn.Exec(ctx, string(fixture))
			return err
		})
	}))
}

// result is the statement's single row.
type result struct {
	total, page, inserted *int64
	body                  string
	location              *string
}

type env struct {
	conn *pgx.Conn
	snap *schema.Snapshot
}

func newEnv(t *testing.T) *env {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), pg.NewDB(t, "restfixture"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	snap, err := schema.Load(t.Context(), conn, []string{"public"})
	if err != nil {
		t.Fatal(err)
	}
	return &env{conn: conn, snap: snap}
}

// run builds and executes a request inside a transaction that is rolled
// back, so cases do not see each other's writes.
func (e *env) run(t *testing.T, r Request, rawQuery, body string) (result, error) {
	t.Helper()
	return e.runAs(t, "", r, rawQuery, body)
}

// runAs is run under SET LOCAL ROLE role (when not empty).
func (e *env) runAs(t *testing.T, role string, r Request, rawQuery, body string) (result, error) {
	t.Helper()
	p, err := query.ParseRaw(rawQuery, query.Options{RPCRead: r.Kind == Call && r.GetArgs})
	if err != nil {
		return result{}, err
	}
	r.Params = p
	r.Body = []byte(body)
	if r.Schema == "" {
		r.Schema = "public"
	}
	if (r.Kind == Insert || r.Kind == Update || r.Kind == Put) && r.Columns == nil {
		if p.Columns != nil {
			r.Columns = p.Columns
		} else if r.Columns, err = PayloadColumns(r.Body); err != nil {
			return result{}, err
		}
	}
	if r.Kind == Call && r.Function == nil {
		names := r.ArgNames
		kind := schema.BodyJSON
		if r.GetArgs {
			kind = schema.BodyNone
			for _, a := range p.Args {
				names = append(names, a.Name)
			}
		} else if names == nil {
			names, _ = PayloadColumns(r.Body)
			r.ArgNames = names
		}
		if r.Function, err = e.snap.FindFunction(schema.QName{Schema: "public", Name: r.Relation}, names, kind); err != nil {
			return result{}, err
		}
	}
	st, err := Build(e.snap, r)
	if err != nil {
		return result{}, err
	}
	tx, err := e.conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if role != "" {
		if _, err := tx.Exec(t.Context(), "SET LOCAL ROLE "+pgx.Identifier{role}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
	var res result
	var hdr, status *string
	err = tx.QueryRow(t.Context(), st.SQL, st.Args...).Scan(&res.total, &res.page, &res.body, &hdr, &status, &res.inserted, &res.location)
	if err != nil {
		return res, err
	}
	return res, nil
}

func jsonEqual(t *testing.T, name, want, got string) {
	t.Helper()
	var w, g any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad want JSON: %v", name, err)
	}
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%s: body is not JSON: %v\n%s", name, err, got)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("%s body (-want +got):\n%s\ngot: %s", name, diff, got)
	}
}

func TestReadBodies(t *testing.T) {
	e := newEnv(t)
	rd := Request{Kind: Read}
	tests := []struct {
		name, rel, query, want string
		mod                    func(*Request)
	}{
		{"columns", "countries", "select=id,name&order=id", `[{"id":1,"name":"Japan"},{"id":2,"name":"France"},{"id":3,"name":"Chad"}]`, nil},
		{"star", "countries", "id=eq.3", `[{"id":3,"name":"Chad","code":null}]`, nil},
		{"one-to-many", "countries", "select=name,cities(name)&cities.order=id&order=id",
			`[{"name":"Japan","cities":[{"name":"Tokyo"},{"name":"Osaka"}]},{"name":"France","cities":[{"name":"Paris"},{"name":"Lyon"}]},{"name":"Chad","cities":[]}]`, nil},
		{"many-to-one", "cities", "select=name,countries(name)&order=id",
			`[{"name":"Tokyo","countries":{"name":"Japan"}},{"name":"Osaka","countries":{"name":"Japan"}},{"name":"Paris","countries":{"name":"France"}},{"name":"Lyon","countries":{"name":"France"}},{"name":"Nowhere","countries":null}]`, nil},
		{"one-to-one", "countries", "select=id,capitals(city_name)&order=id",
			`[{"id":1,"capitals":{"city_name":"Tokyo"}},{"id":2,"capitals":{"city_name":"Paris"}},{"id":3,"capitals":null}]`, nil},
		{"one-to-one reverse", "capitals", "select=city_name,countries(code)&order=country_id",
			`[{"city_name":"Tokyo","countries":{"code":"JP"}},{"city_name":"Paris","countries":{"code":"FR"}}]`, nil},
		{"many-to-many", "users", "select=name,teams(name)&order=id&teams.order=id",
			`[{"name":"Ann","teams":[{"name":"red"},{"name":"blue"}]},{"name":"Bob","teams":[{"name":"red"}]},{"name":"Cy","teams":[]}]`, nil},
		{"self reference", "employees", "select=name,manager:manager_id(name),reports:employees(name)&id=eq.2&reports.order=id",
			`[{"name":"Mid","manager":{"name":"Boss"},"reports":[{"name":"Low"},{"name":"Low2"}]}]`, nil},
		{"hints", "orders", "select=name,billing:addresses!billing(street),shipping:addresses!shipping_address_id(street)&order=id",
			`[{"name":"o1","billing":{"street":"Main St"},"shipping":{"street":"Side St"}},{"name":"o2","billing":{"street":"Side St"},"shipping":{"street":"Side St"}}]`, nil},
		{"view with traced FK", "big_cities", "select=name,countries(code)&order=city_id",
			`[{"name":"Tokyo","countries":{"code":"JP"}},{"name":"Osaka","countries":{"code":"JP"}},{"name":"Paris","countries":{"code":"FR"}}]`, nil},
		{"table to view", "countries", "select=code,huge_cities(city_id)&id=lt.3&order=id",
			`[{"code":"JP","huge_cities":[{"city_id":2}]},{"code":"FR","huge_cities":[{"city_id":3}]}]`, nil},
		{"embedded filter keeps parents", "countries", "select=name,cities(name)&cities.name=eq.Lyon&order=id",
			`[{"name":"Japan","cities":[]},{"name":"France","cities":[{"name":"Lyon"}]},{"name":"Chad","cities":[]}]`, nil},
		{"inner join", "countries", "select=name,cities!inner(name)&cities.name=eq.Lyon",
			`[{"name":"France","cities":[{"name":"Lyon"}]}]`, nil},
		{"inner to-one", "cities", "select=name,countries!inner(name)&countries.code=eq.FR&order=id",
			`[{"name":"Paris","countries":{"name":"France"}},{"name":"Lyon","countries":{"name":"France"}}]`, nil},
		{"null embed filter", "countries", "select=name,capitals()&capitals=is.null", `[{"name":"Chad"}]`, nil},
		{"not null embed filter", "countries", "select=name,cities(name)&cities=not.is.null&cities.population=gt.2500&order=id",
			`[{"name":"Japan","cities":[{"name":"Tokyo"},{"name":"Osaka"}]}]`, nil},
		{"null embed in or", "countries", "select=id,capitals(city_name)&or=(capitals.is.null,id.eq.1)&order=id",
			`[{"id":1,"capitals":{"city_name":"Tokyo"}},{"id":3,"capitals":null}]`, nil},
		{"embedded or and limit", "countries", "select=name,cities(name)&cities.or=(name.eq.Lyon,name.eq.Tokyo,name.eq.Osaka)&cities.order=id.desc&cities.limit=1&order=id",
			`[{"name":"Japan","cities":[{"name":"Osaka"}]},{"name":"France","cities":[{"name":"Lyon"}]},{"name":"Chad","cities":[]}]`, nil},
		{"spread to-one", "cities", "select=name,...countries(country:name)&id=lt.3&order=id",
			`[{"name":"Tokyo","country":"Japan"},{"name":"Osaka","country":"Japan"}]`, nil},
		{"spread to-many", "countries", "select=name,...cities(city_names:name,population)&id=eq.1&cities.order=id",
			`[{"name":"Japan","city_names":["Tokyo","Osaka"],"population":[14000,2700]}]`, nil},
		{"aggregate group by", "cities", "select=country_id,population.sum()&country_id=not.is.null&order=country_id",
			`[{"country_id":1,"sum":16700},{"country_id":2,"sum":2600}]`, func(r *Request) { r.Aggregates = true }},
		{"count()", "cities", "select=count()", `[{"count":5}]`, func(r *Request) { r.Aggregates = true }},
		{"aggregate cast alias", "cities", "select=avg_pop:population::numeric.avg()::int&country_id=eq.2", `[{"avg_pop":1300}]`, func(r *Request) { r.Aggregates = true }},
		{"embedded aggregate", "countries", "select=name,cities(population.max())&order=id",
			`[{"name":"Japan","cities":[{"max":14000}]},{"name":"France","cities":[{"max":2100}]},{"name":"Chad","cities":[{"max":null}]}]`, func(r *Request) { r.Aggregates = true }},
		{"spread aggregate hoisted", "cities", "select=...countries(code),population.sum()&country_id=not.is.null&order=countries(code)",
			`[{"code":"FR","sum":2600},{"code":"JP","sum":16700}]`, func(r *Request) { r.Aggregates = true }},
		{"json paths", "items", "select=id,data->a->>b,v:data->arr->0,data->>n&order=id",
			`[{"id":1,"b":"x","v":10,"n":"1"},{"id":2,"b":"y","v":30,"n":"2"},{"id":3,"b":null,"v":null,"n":null}]`, nil},
		{"casts", "items", "select=id::text,amount::int&id=eq.1", `[{"id":"1","amount":2}]`, nil},
		{"values as PostgreSQL renders them", "items", "select=r,tsv,tags,amount,created_at&id=eq.1",
			`[{"r":"[1,5)","tsv":"'cat':3 'fat':2","tags":["red","green"],"amount":1.5,"created_at":"2024-01-01T00:00:00+00:00"}]`, nil},
		{"related order", "cities", "select=name,countries(name)&order=countries(name).desc,id&id=lt.4",
			`[{"name":"Tokyo","countries":{"name":"Japan"}},{"name":"Osaka","countries":{"name":"Japan"}},{"name":"Paris","countries":{"name":"France"}}]`, nil},
		{"order nulls", "countries", "select=code&order=code.desc.nullsfirst", `[{"code":null},{"code":"JP"},{"code":"FR"}]`, nil},
		{"singular", "countries", "select=name&id=eq.1", `{"name":"Japan"}`, func(r *Request) { r.Singular = true }},
		{"singular none", "countries", "select=name&id=eq.9", `null`, func(r *Request) { r.Singular = true }},
		{"strip nulls", "countries", "id=eq.3", `[{"id":3,"name":"Chad"}]`, func(r *Request) { r.StripNulls = true }},
		{"max rows", "cities", "select=id&order=id", `[{"id":1},{"id":2}]`, func(r *Request) { r.MaxRows = 2 }},
		{"max rows on embeds", "countries", "select=id,cities(id)&id=eq.1&cities.order=id", `[{"id":1,"cities":[{"id":1}]}]`, func(r *Request) { r.MaxRows = 1 }},
		{"composite foreign key", "shipments", "select=carrier,shipment_notes(note)&shipment_notes.order=id&order=line",
			`[{"carrier":"ups","shipment_notes":[{"note":"ok"}]},{"carrier":"dhl","shipment_notes":[{"note":"fragile"},{"note":"late"}]}]`, nil},
		{"composite foreign key to-one", "shipment_notes", "select=note,shipments(carrier)&id=eq.3", `[{"note":"ok","shipments":{"carrier":"ups"}}]`, nil},
		{"computed field", "countries", "select=id,label&order=id", `[{"id":1,"label":"Japan (JP)"},{"id":2,"label":"France (FR)"},{"id":3,"label":"Chad (?)"}]`, nil},
		{"computed field in embed and filter", "cities", "select=name,countries(label)&countries.label=like.*JP*&id=lt.3&order=id",
			`[{"name":"Tokyo","countries":{"label":"Japan (JP)"}},{"name":"Osaka","countries":{"label":"Japan (JP)"}}]`, nil},
		{"computed relationships", "countries", "select=code,capital_city(name),large_cities(name)&large_cities.order=id&order=id",
			`[{"code":"JP","capital_city":{"name":"Tokyo"},"large_cities":[{"name":"Tokyo"},{"name":"Osaka"}]},{"code":"FR","capital_city":{"name":"Paris"},"large_cities":[{"name":"Paris"}]},{"code":null,"capital_city":null,"large_cities":[]}]`, nil},
		{"computed relationship nested", "cities", "select=name,countries(large_cities(name))&id=eq.3",
			`[{"name":"Paris","countries":{"large_cities":[{"name":"Paris"}]}}]`, nil},
		{"eq null is a string", "countries", "select=id&name=eq.null", `[]`, nil},
		{"empty in", "countries", "select=id&id=in.()", `[]`, nil},
	}
	for _, tt := range tests {
		r := rd
		r.Relation = tt.rel
		if tt.mod != nil {
			tt.mod(&r)
		}
		res, err := e.run(t, r, tt.query, "")
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		jsonEqual(t, tt.name, tt.want, res.body)
	}
}

func TestFilterOperators(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		query string
		ids   string
	}{
		{"id=eq.1", `[1]`}, {"id=neq.1", `[2,3]`}, {"id=gt.2", `[3]`}, {"id=gte.2", `[2,3]`}, {"id=lt.2", `[1]`}, {"id=lte.2", `[1,2]`},
		{"name=like.*a*", `[1]`}, {"name=ilike.B", `[2]`}, {"name=match.^[ab]$", `[1,2]`}, {"name=imatch.^C", `[3]`},
		{"name=in.(a,\"c\")", `[1,3]`}, {"name=not.in.(a)", `[2,3]`}, {"id=in.(1,2,3)", `[1,2,3]`},
		{"amount=is.null", `[3]`}, {"amount=not.is.null", `[1,2]`}, {"amount=is.not_null", `[1,2]`},
		{"amount=isdistinct.1.5", `[2,3]`},
		{"tsv=fts(english).cats", `[1]`}, {"tsv=plfts.lazy dog", `[2]`}, {"tsv=phfts(english).fat cats", `[1]`}, {"tsv=wfts.lazy -cat", `[2]`},
		{"name=fts(simple).b", `[2]`},
		{"tags=cs.{red}", `[1]`}, {"tags=cd.{blue,red}", `[2,3]`}, {"tags=ov.{blue,green}", `[1,2]`},
		{"data=cs.{\"n\":2}", `[2]`}, {"data->a=eq.{\"b\":\"x\"}", `[1]`}, {"data->>n=eq.2", `[2]`}, {"data->arr->0=gt.15", `[2]`},
		{"r=sl.[6,7)", `[1]`}, {"r=sr.[6,7)", `[2]`}, {"r=nxr.[5,6)", `[1]`}, {"r=nxl.[5,6)", `[2]`}, {"r=adj.[5,10)", `[1,2]`},
		{"id=eq(any).{1,3}", `[1,3]`}, {"name=like(any).{a*,c*}", `[1,3]`}, {"id=gt(all).{1,2}", `[3]`}, {"name=not.ilike(any).{A,B}", `[3]`},
		{"or=(id.eq.1,and(amount.gt.2,name.eq.b))", `[1,2]`}, {"not.or=(id.eq.1,id.eq.2)", `[3]`},
		{"and=(id.gt.1,or(name.eq.b,name.eq.c),not.and(id.eq.3,name.eq.c))", `[2]`},
		{"or=(tags.cs.{red},r.adj.\"[10,12)\")", `[1]`},
	}
	for _, tt := range tests {
		res, err := e.run(t, Request{Kind: Read, Relation: "items"}, "select=id&order=id&"+tt.query, "")
		if err != nil {
			t.Errorf("%s: %v", tt.query, err)
			continue
		}
		var rows []struct{ ID int }
		if err := json.Unmarshal([]byte(res.body), &rows); err != nil {
			t.Fatal(err)
		}
		ids := make([]int, 0, len(rows))
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
		got, _ := json.Marshal(ids)
		if string(got) != tt.ids {
			t.Errorf("%s: got %s, want %s", tt.query, got, tt.ids)
		}
	}
}

func TestReadCountsAndErrors(t *testing.T) {
	e := newEnv(t)
	res, err := e.run(t, Request{Kind: Read, Relation: "cities", Count: true}, "select=id&order=id&limit=2&offset=1", "")
	if err != nil {
		t.Fatal(err)
	}
	if *res.total != 5 || *res.page != 2 {
		t.Errorf("total %v page %v", *res.total, *res.page)
	}
	jsonEqual(t, "range", `[{"id":2},{"id":3}]`, res.body)

	res, err = e.run(t, Request{Kind: Read, Relation: "countries", Count: true}, "select=name,cities!inner(name)&cities.population=gt.2500", "")
	if err != nil {
		t.Fatal(err)
	}
	if *res.total != 1 || *res.page != 1 {
		t.Errorf("inner count: total %v page %v", *res.total, *res.page)
	}
	res, err = e.run(t, Request{Kind: Read, Relation: "countries", Head: true}, "", "")
	if err != nil || res.body != "" || *res.page != 3 || res.total != nil {
		t.Errorf("head: %+v %v", res, err)
	}

	pgErr := func(q, rel, code, msg string) {
		t.Helper()
		_, err := e.run(t, Request{Kind: Read, Relation: rel}, q, "")
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != code || (msg != "" && pe.Message != msg) {
			t.Errorf("%s: got %v, want %s %q", q, err, code, msg)
		}
	}
	pgErr("id=eq.abc", "cities", "22P02", `invalid input syntax for type integer: "abc"`)
	pgErr("select=nope", "cities", "42703", "column cities.nope does not exist")
	pgErr("select=id,countries(nope)", "cities", "42703", "column countries_1.nope does not exist")
	pgErr("select=id::nosuchtype", "cities", "42704", "")
	pgErr("select=users(*),users(*)", "members", "42712", `table name "members_users_1" specified more than once`)

	apiErr := func(q, rel, code string) {
		t.Helper()
		_, err := e.run(t, Request{Kind: Read, Relation: rel}, q, "")
		var qe *query.Error
		if !errors.As(err, &qe) || qe.Code != code {
			t.Errorf("%s: got %v, want %s", q, err, code)
		}
	}
	apiErr("select=*,addresses(*)", "orders", "PGRST201")
	apiErr("select=*,nothing(*)", "orders", "PGRST200")
	apiErr("select=id&nothing.id=eq.1", "orders", "PGRST108")
	apiErr("select=id,cities(id)&order=cities(id)", "countries", "PGRST118")
	apiErr("select=id.sum()", "cities", "PGRST123")
	apiErr("", "nothere", "PGRST205")
	apiErr("select=id::text;drop", "cities", "PGRST100")
}
