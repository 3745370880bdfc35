package sqlgen

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/madbase/madbase/internal/rest/query"
	"github.com/madbase/madbase/internal/rest/schema"
)

// sqlWords is every bare word the generator itself writes. Anything else
// outside quoted identifiers and bound parameters would be request text
// leaking into the statement.
var sqlWords = wordSet(`ALL AND ANY ARRAY AS ASC BY CASE CAST COALESCE CONFLICT DELETE DESC DISTINCT DO ELSE END
		EXCLUDED FIRST FROM GROUP ILIKE INNER INSERT INTO IS JOIN LAST LATERAL LEFT LIKE LIMIT NOT NOTHING NULL NULLS
		OFFSET ON OR ORDER RETURNING SELECT SET THEN TRUE FALSE UNKNOWN UPDATE VARIADIC WHEN WHERE WITH _postgrest_t array avg
		max min body coalesce count ctid current_setting headers inserted int int8 json json_agg json_array_elements
		json_build_array json_build_object json_populate_record json_populate_recordset json_strip_nulls json_to_record
		json_typeof jsonb jsonb_build_object location null nullif page_total pg_catalog pgrst_args pgrst_body
		pgrst_call pgrst_elem pgrst_inserted pgrst_n pgrst_scalar pgrst_source pgrst_source_count phraseto_tsquery
		plainto_tsquery regconfig response response_headers response_status row_to_json status sum text to_tsquery
		to_jsonb to_tsvector total_result_set true v websearch_to_tsquery xmax
		string_agg json_object_keys array_agg chr substring length pgrst_k false
		integer`) // integer: fixture parameter types, from the catalog

func wordSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

var (
	quotedIdent = regexp.MustCompile(`"(?:[^"]|"")*"`)
	bareWord    = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
	fixedLits   = []string{`','`, `'response.headers'`, `'response.status'`, `'array'`, `'null'`, `'[]'`, `''`}
)

// castWords collects the validated cast type names of a select tree: the
// one kind of request text inlined on purpose.
func castWords(items []query.SelectItem, into map[string]bool) {
	for _, it := range items {
		for _, c := range []string{it.Cast, it.AggCast} {
			for _, w := range strings.Fields(c) {
				into[strings.TrimSuffix(w, "[]")] = true
			}
		}
		castWords(it.Children, into)
	}
}

// assertNoLeak fails when the SQL holds request text outside quoted
// identifiers, bound parameters and validated casts.
func assertNoLeak(t *testing.T, sql string, p *query.Params) {
	t.Helper()
	casts := map[string]bool{}
	castWords(p.Select, casts)
	// Column defaults come from the catalog (trusted) and are inlined.
	for _, d := range []string{"nextval('public.items_id_seq'::regclass)", "'unnamed'::text", "now()"} {
		sql = strings.ReplaceAll(sql, d, " ")
	}
	rest := quotedIdent.ReplaceAllString(sql, " ")
	for _, l := range fixedLits {
		rest = strings.ReplaceAll(rest, l, " ")
	}
	if strings.ContainsAny(rest, `'`+"`;\\") {
		t.Fatalf("literal or statement separator outside identifiers: %s", sql)
	}
	if strings.Contains(rest, "--") || strings.Contains(rest, "/*") {
		t.Fatalf("comment in SQL: %s", sql)
	}
	for _, w := range bareWord.FindAllString(rest, -1) {
		if !sqlWords[w] && !casts[w] {
			t.Fatalf("unexpected word %q in SQL: %s", w, sql)
		}
	}
}

var fuzzRelations = []string{"countries", "cities", "capitals", "users", "members", "employees", "orders", "big_cities", "items", "nothing"}

func FuzzBuild(f *testing.F) {
	for _, c := range goldenCases() {
		f.Add(c.query, uint8(c.req.Kind), uint8(1))
	}
	f.Add("select=*,cities!inner(*,countries(*))&cities.or=(id.eq.1)&countries=not.is.null", uint8(0), uint8(0))
	s := fixtureSnapshot()
	f.Fuzz(func(t *testing.T, raw string, kind, rel uint8) {
		k := Kind(kind % 6)
		p, err := query.ParseRaw(raw, query.Options{RPCRead: k == Call})
		if err != nil {
			return
		}
		r := Request{Kind: k, Schema: "public", Relation: fuzzRelations[int(rel)%len(fuzzRelations)], Params: p,
			Count: rel&1 == 1, CSV: rel&16 == 16, Aggregates: rel&2 == 2, Return: Return(rel % 3), MaxRows: int64(rel % 4),
			Resolution: Resolution(rel % 3), MissingDefault: rel&4 == 4, LimitedMutations: rel&8 == 8, Body: []byte(`{"id":1}`)}
		switch k {
		case Insert, Update, Put:
			r.Columns = p.Columns
		case Call:
			names := make([]string, 0, len(p.Args))
			for _, a := range p.Args {
				names = append(names, a.Name)
			}
			fn, err := s.FindFunction(schema.QName{Schema: "public", Name: []string{"add", "cities_of", "sum_all"}[int(rel)%3]}, names, schema.BodyNone)
			if err != nil {
				return
			}
			r.Function, r.GetArgs = fn, true
		}
		st, err := Build(s, r)
		if err != nil {
			var qe *query.Error
			if !errors.As(err, &qe) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		if strings.Count(st.SQL, "$") < len(st.Args) {
			t.Fatalf("%d args but fewer placeholders: %s", len(st.Args), st.SQL)
		}
		assertNoLeak(t, st.SQL, p)
	})
}

func TestGoldenNoLeak(t *testing.T) {
	s := fixtureSnapshot()
	for _, c := range goldenCases() {
		p, _ := query.ParseRaw(c.query, query.Options{RPCRead: c.req.Kind == Call && c.req.GetArgs})
		c.req.Params, c.req.Body = p, []byte(c.body)
		st, err := Build(s, c.req)
		if err != nil {
			t.Fatal(err)
		}
		assertNoLeak(t, st.SQL, p)
	}
}
