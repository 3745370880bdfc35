package query

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseFilterOperators(t *testing.T) {
	tests := []struct {
		key, value string
		path       Path
		want       Filter
	}{
		{"id", "eq.1", nil, Filter{Field: Field{Name: "id"}, Op: OpEq, Value: "1"}},
		{"id", "neq.1", nil, Filter{Field: Field{Name: "id"}, Op: OpNeq, Value: "1"}},
		{"id", "gt.1", nil, Filter{Field: Field{Name: "id"}, Op: OpGt, Value: "1"}},
		{"id", "gte.1", nil, Filter{Field: Field{Name: "id"}, Op: OpGte, Value: "1"}},
		{"id", "lt.1", nil, Filter{Field: Field{Name: "id"}, Op: OpLt, Value: "1"}},
		{"id", "lte.1", nil, Filter{Field: Field{Name: "id"}, Op: OpLte, Value: "1"}},
		{"name", "like.*a*", nil, Filter{Field: Field{Name: "name"}, Op: OpLike, Value: "*a*"}},
		{"name", "ilike.A*", nil, Filter{Field: Field{Name: "name"}, Op: OpIlike, Value: "A*"}},
		{"name", "match.^a.*$", nil, Filter{Field: Field{Name: "name"}, Op: OpMatch, Value: "^a.*$"}},
		{"name", "imatch.^A", nil, Filter{Field: Field{Name: "name"}, Op: OpImatch, Value: "^A"}},
		{"id", "in.(1,2,3)", nil, Filter{Field: Field{Name: "id"}, Op: OpIn, List: []string{"1", "2", "3"}}},
		{"id", "in.()", nil, Filter{Field: Field{Name: "id"}, Op: OpIn, List: []string{}}},
		{"id", "not.in.(1)", nil, Filter{Field: Field{Name: "id"}, Not: true, Op: OpIn, List: []string{"1"}}},
		{"a", "is.null", nil, Filter{Field: Field{Name: "a"}, Op: OpIs, Value: IsNull}},
		{"a", "is.NULL", nil, Filter{Field: Field{Name: "a"}, Op: OpIs, Value: IsNull}},
		{"a", "is.not_null", nil, Filter{Field: Field{Name: "a"}, Op: OpIs, Value: IsNotNull}},
		{"a", "is.true", nil, Filter{Field: Field{Name: "a"}, Op: OpIs, Value: IsTrue}},
		{"a", "is.False", nil, Filter{Field: Field{Name: "a"}, Op: OpIs, Value: IsFalse}},
		{"a", "is.unknown", nil, Filter{Field: Field{Name: "a"}, Op: OpIs, Value: IsUnknown}},
		{"a", "not.is.null", nil, Filter{Field: Field{Name: "a"}, Not: true, Op: OpIs, Value: IsNull}},
		{"a", "isdistinct.x", nil, Filter{Field: Field{Name: "a"}, Op: OpIsDistinct, Value: "x"}},
		{"t", "fts.cat", nil, Filter{Field: Field{Name: "t"}, Op: OpFts, Value: "cat"}},
		{"t", "fts(english).cat & rat", nil, Filter{Field: Field{Name: "t"}, Op: OpFts, Lang: "english", Value: "cat & rat"}},
		{"t", "plfts.fat cat", nil, Filter{Field: Field{Name: "t"}, Op: OpPlfts, Value: "fat cat"}},
		{"t", "phfts(french).chat", nil, Filter{Field: Field{Name: "t"}, Op: OpPhfts, Lang: "french", Value: "chat"}},
		{"t", "not.wfts.\"a b\" -c", nil, Filter{Field: Field{Name: "t"}, Not: true, Op: OpWfts, Value: "\"a b\" -c"}},
		{"tags", "cs.{a,b}", nil, Filter{Field: Field{Name: "tags"}, Op: OpCs, Value: "{a,b}"}},
		{"tags", "cd.{a,b}", nil, Filter{Field: Field{Name: "tags"}, Op: OpCd, Value: "{a,b}"}},
		{"r", "ov.[1,5)", nil, Filter{Field: Field{Name: "r"}, Op: OpOv, Value: "[1,5)"}},
		{"r", "sl.(1,10)", nil, Filter{Field: Field{Name: "r"}, Op: OpSl, Value: "(1,10)"}},
		{"r", "sr.(1,10)", nil, Filter{Field: Field{Name: "r"}, Op: OpSr, Value: "(1,10)"}},
		{"r", "nxr.(1,10)", nil, Filter{Field: Field{Name: "r"}, Op: OpNxr, Value: "(1,10)"}},
		{"r", "nxl.(1,10)", nil, Filter{Field: Field{Name: "r"}, Op: OpNxl, Value: "(1,10)"}},
		{"r", "adj.(1,10)", nil, Filter{Field: Field{Name: "r"}, Op: OpAdj, Value: "(1,10)"}},
		{"data", "cs.{\"a\":1}", nil, Filter{Field: Field{Name: "data"}, Op: OpCs, Value: "{\"a\":1}"}},
		// Quantifiers.
		{"id", "eq(any).{1,2}", nil, Filter{Field: Field{Name: "id"}, Op: OpEq, Quant: QuantAny, Value: "{1,2}"}},
		{"n", "like(all).{O*,*a}", nil, Filter{Field: Field{Name: "n"}, Op: OpLike, Quant: QuantAll, Value: "{O*,*a}"}},
		{"n", "not.ilike(any).{a*}", nil, Filter{Field: Field{Name: "n"}, Not: true, Op: OpIlike, Quant: QuantAny, Value: "{a*}"}},
		{"n", "gt(all).{1}", nil, Filter{Field: Field{Name: "n"}, Op: OpGt, Quant: QuantAll, Value: "{1}"}},
		{"n", "match(any).{a,b}", nil, Filter{Field: Field{Name: "n"}, Op: OpMatch, Quant: QuantAny, Value: "{a,b}"}},
		// Top-level values are verbatim.
		{"name", "eq.\"x\"", nil, Filter{Field: Field{Name: "name"}, Op: OpEq, Value: "\"x\""}},
		{"name", "eq.a,b(c).d", nil, Filter{Field: Field{Name: "name"}, Op: OpEq, Value: "a,b(c).d"}},
		{"name", "eq.null", nil, Filter{Field: Field{Name: "name"}, Op: OpEq, Value: "null"}},
		{"name", "eq.", nil, Filter{Field: Field{Name: "name"}, Op: OpEq, Value: ""}},
		// Paths and JSON.
		{"countries.code", "eq.JP", Path{"countries"}, Filter{Field: Field{Name: "code"}, Op: OpEq, Value: "JP"}},
		{"a.b.c", "eq.1", Path{"a", "b"}, Filter{Field: Field{Name: "c"}, Op: OpEq, Value: "1"}},
		{"data->a->>b", "eq.1", nil, Filter{Field: Field{Name: "data", JSONPath: []JSONOp{{Key: "a"}, {Text: true, Key: "b"}}}, Op: OpEq, Value: "1"}},
		{"data->0->>-1", "eq.1", nil, Filter{Field: Field{Name: "data", JSONPath: []JSONOp{{Key: "0", Index: true}, {Text: true, Key: "-1", Index: true}}}, Op: OpEq, Value: "1"}},
		{"\"a.b\"", "eq.1", nil, Filter{Field: Field{Name: "a.b"}, Op: OpEq, Value: "1"}},
		{"first name", "eq.x", nil, Filter{Field: Field{Name: "first name"}, Op: OpEq, Value: "x"}},
		{"my-col", "eq.x", nil, Filter{Field: Field{Name: "my-col"}, Op: OpEq, Value: "x"}},
		{"$col", "eq.x", nil, Filter{Field: Field{Name: "$col"}, Op: OpEq, Value: "x"}},
		{"ñame", "eq.x", nil, Filter{Field: Field{Name: "ñame"}, Op: OpEq, Value: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			path, f, err := ParseFilter(tt.key, tt.value)
			if err != nil {
				t.Fatalf("ParseFilter: %v", err)
			}
			if diff := cmp.Diff(tt.path, path, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("path (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, f, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("filter (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseInListQuoting(t *testing.T) {
	tests := []struct {
		value string
		want  []string
	}{
		{`in.(a,b)`, []string{"a", "b"}},
		{`in.( a, b )`, []string{"a", " b "}},
		{`in.("a,b",c)`, []string{"a,b", "c"}},
		{`in.("a\"b","c\\d","\e")`, []string{`a"b`, `c\d`, "e"}},
		{`in.(Double"Quote")`, []string{`Double"Quote"`}},
		{`in.(")`, []string{`"`}},
		{`in.("a" ,b)`, []string{`"a" `, "b"}},
		{`in.(a,,b)`, []string{"a", "", "b"}},
		{`in.("(x)","y)z")`, []string{"(x)", "y)z"}},
		{`in. (1,2)`, []string{"1", "2"}},
	}
	for _, tt := range tests {
		_, f, err := ParseFilter("c", tt.value)
		if err != nil {
			t.Errorf("%s: %v", tt.value, err)
			continue
		}
		if diff := cmp.Diff(tt.want, f.List); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.value, diff)
		}
	}
}

func TestParseFilterErrors(t *testing.T) {
	tests := []struct {
		key, value string
		details    string // substring
	}{
		{"id", "", "unexpected end of input"},
		{"id", "eq", "unexpected end of input expecting \".\""},
		{"id", "foo.1", "unknown single value operator foo"},
		{"id", "is.maybe", "unexpected \"m\" expecting null or trilean value (unknown, true, false)"},
		{"id", "in.1,2", "unexpected \"1\" expecting \"(\""},
		{"id", "in.(1,2", "unexpected end of input expecting \",\" or \")\""},
		{"id", "neq(any).{1}", "unexpected \"(\" expecting \".\""},
		{"id", "eq(some).{1}", "expecting \"(any)\" or \"(all)\""},
		{"id::text", "eq.1", "unexpected \":\""},
		{"id", "fts(english.x", "unexpected \".\""},
		{"a..b", "eq.1", "unexpected \".\""},
	}
	for _, tt := range tests {
		_, _, err := ParseFilter(tt.key, tt.value)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("%s=%s: got %v, want *Error", tt.key, tt.value, err)
			continue
		}
		if pe.Code != "PGRST100" || pe.Status != 400 {
			t.Errorf("%s=%s: code %s status %d", tt.key, tt.value, pe.Code, pe.Status)
		}
		if d, _ := pe.Details.(string); !strings.Contains(d, tt.details) {
			t.Errorf("%s=%s: details %q, want it to contain %q", tt.key, tt.value, d, tt.details)
		}
	}
}

func TestParseErrorMessagesAsPostgREST(t *testing.T) {
	tests := []struct {
		query, message, details string
	}{
		{"a.b=noop.0", `"failed to parse filter (noop.0)" (line 1, column 6)`, "unknown single value operator noop"},
		{"or=()", `"failed to parse logic tree (())" (line 1, column 4)`,
			`unexpected ")" expecting field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)`},
		{"or=(id.in.1,2,id.eq.3)", `"failed to parse logic tree ((id.in.1,2,id.eq.3))" (line 1, column 10)`, `unexpected "1" expecting "("`},
		{"select=name::", `"failed to parse select parameter (name::)" (line 1, column 7)`, ""},
		{"id=is.maybe", `"failed to parse filter (is.maybe)" (line 1, column 4)`, ""},
	}
	for _, tt := range tests {
		_, err := ParseRaw(tt.query, Options{})
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("%s: got %v", tt.query, err)
			continue
		}
		if pe.Message != tt.message || (tt.details != "" && pe.Details != tt.details) {
			t.Errorf("%s:\n got %s / %v\nwant %s / %s", tt.query, pe.Message, pe.Details, tt.message, tt.details)
		}
	}
}

func TestParseErrorMessageFormat(t *testing.T) {
	_, err := ParseOrder("id.x")
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("got %v", err)
	}
	want := &Error{Status: 400, Code: "PGRST100",
		Message: `"failed to parse order (id.x)" (line 1, column 4)`,
		Details: `unexpected "x" expecting "asc", "desc", "nullsfirst" or "nullslast"`}
	if diff := cmp.Diff(want, pe); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseSelect(t *testing.T) {
	f := func(n string) SelectItem { return SelectItem{Kind: ItemField, Field: Field{Name: n}} }
	star := SelectItem{Kind: ItemStar}
	tests := []struct {
		in   string
		want []SelectItem
	}{
		{"", []SelectItem{star}},
		{"*", []SelectItem{star}},
		{"id,name", []SelectItem{f("id"), f("name")}},
		{" id , name ", []SelectItem{f("id"), f("name")}},
		{"n:name", []SelectItem{{Kind: ItemField, Alias: "n", Field: Field{Name: "name"}}}},
		{"id::text", []SelectItem{{Kind: ItemField, Field: Field{Name: "id"}, Cast: "text"}}},
		{"x:id::double precision", []SelectItem{{Kind: ItemField, Alias: "x", Field: Field{Name: "id"}, Cast: "double precision"}}},
		{"data->a->>b", []SelectItem{{Kind: ItemField, Field: Field{Name: "data", JSONPath: []JSONOp{{Key: "a"}, {Text: true, Key: "b"}}}}}},
		{"v:data->arr->0::int", []SelectItem{{Kind: ItemField, Alias: "v", Field: Field{Name: "data", JSONPath: []JSONOp{{Key: "arr"}, {Key: "0", Index: true}}}, Cast: "int"}}},
		{`data->"a.b"`, []SelectItem{{Kind: ItemField, Field: Field{Name: "data", JSONPath: []JSONOp{{Key: "a.b"}}}}}},
		{`"a.dotted.col","(x,y)"`, []SelectItem{f("a.dotted.col"), f("(x,y)")}},
		{`"quo\"te"`, []SelectItem{f(`quo"te`)}},
		{"count()", []SelectItem{{Kind: ItemCount, Agg: AggCount}}},
		{"c:count()::text", []SelectItem{{Kind: ItemCount, Alias: "c", Agg: AggCount, AggCast: "text"}}},
		{"amount.sum()", []SelectItem{{Kind: ItemField, Field: Field{Name: "amount"}, Agg: AggSum}}},
		{"amount::numeric.avg()::int", []SelectItem{{Kind: ItemField, Field: Field{Name: "amount"}, Cast: "numeric", Agg: AggAvg, AggCast: "int"}}},
		{"a.max(),b.min(),c.count()", []SelectItem{
			{Kind: ItemField, Field: Field{Name: "a"}, Agg: AggMax},
			{Kind: ItemField, Field: Field{Name: "b"}, Agg: AggMin},
			{Kind: ItemField, Field: Field{Name: "c"}, Agg: AggCount}}},
		{"count", []SelectItem{f("count")}},
		{"rel()", []SelectItem{{Kind: ItemEmbed, Relation: "rel"}}},
		{"id,rel(*)", []SelectItem{f("id"), {Kind: ItemEmbed, Relation: "rel", Children: []SelectItem{star}}}},
		{"o:rel!fk(a,sub(b,c(*)))", []SelectItem{{Kind: ItemEmbed, Alias: "o", Relation: "rel", Hint: "fk", Children: []SelectItem{
			f("a"), {Kind: ItemEmbed, Relation: "sub", Children: []SelectItem{f("b"), {Kind: ItemEmbed, Relation: "c", Children: []SelectItem{star}}}}}}}},
		{"rel!inner(id)", []SelectItem{{Kind: ItemEmbed, Relation: "rel", Join: JoinInner, Children: []SelectItem{f("id")}}}},
		{"rel!left(id)", []SelectItem{{Kind: ItemEmbed, Relation: "rel", Join: JoinLeft, Children: []SelectItem{f("id")}}}},
		{"rel!fk!inner(id)", []SelectItem{{Kind: ItemEmbed, Relation: "rel", Hint: "fk", Join: JoinInner, Children: []SelectItem{f("id")}}}},
		{"rel!inner!fk(id)", []SelectItem{{Kind: ItemEmbed, Relation: "rel", Hint: "fk", Join: JoinInner, Children: []SelectItem{f("id")}}}},
		{"...rel(a,b)", []SelectItem{{Kind: ItemSpread, Relation: "rel", Children: []SelectItem{f("a"), f("b")}}}},
		{"...rel!hint!inner(a)", []SelectItem{{Kind: ItemSpread, Relation: "rel", Hint: "hint", Join: JoinInner, Children: []SelectItem{f("a")}}}},
		{"d,...customers(sub.max())", []SelectItem{f("d"), {Kind: ItemSpread, Relation: "customers", Children: []SelectItem{{Kind: ItemField, Field: Field{Name: "sub"}, Agg: AggMax}}}}},
		{"my-rel(id)", []SelectItem{{Kind: ItemEmbed, Relation: "my-rel", Children: []SelectItem{f("id")}}}},
	}
	for _, tt := range tests {
		got, err := ParseSelect(tt.in)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestParseSelectErrors(t *testing.T) {
	for _, in := range []string{
		"id,", "rel(", "rel(id", "id::", "id.foo()", "a:...rel(x)", "id)", "rel!(x)", "::text",
		"id::numeric(10,2)", `"unterminated`, "rel!hint", "a b c:", "->a",
	} {
		_, err := ParseSelect(in)
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != "PGRST100" {
			t.Errorf("%q: got %v, want PGRST100", in, err)
		}
	}
}

func TestParseLogic(t *testing.T) {
	leaf := func(f Filter) Logic { return Logic{Filter: &f} }
	tests := []struct {
		key, value string
		path       Path
		want       Logic
	}{
		{"or", "(id.eq.1,name.eq.x)", nil, Logic{Or: true, Children: []Logic{
			leaf(Filter{Field: Field{Name: "id"}, Op: OpEq, Value: "1"}),
			leaf(Filter{Field: Field{Name: "name"}, Op: OpEq, Value: "x"})}}},
		{"not.or", "(a.gt.1, b.not.is.null)", nil, Logic{Or: true, Not: true, Children: []Logic{
			leaf(Filter{Field: Field{Name: "a"}, Op: OpGt, Value: "1"}),
			leaf(Filter{Field: Field{Name: "b"}, Not: true, Op: OpIs, Value: IsNull})}}},
		{"and", "(a.eq.1,or(b.eq.2,not.and(c.eq.3,d.in.(4,\"5,6\"))))", nil, Logic{Children: []Logic{
			leaf(Filter{Field: Field{Name: "a"}, Op: OpEq, Value: "1"}),
			{Or: true, Children: []Logic{
				leaf(Filter{Field: Field{Name: "b"}, Op: OpEq, Value: "2"}),
				{Not: true, Children: []Logic{
					leaf(Filter{Field: Field{Name: "c"}, Op: OpEq, Value: "3"}),
					leaf(Filter{Field: Field{Name: "d"}, Op: OpIn, List: []string{"4", "5,6"}})}}}}}}},
		{"countries.or", "(code.eq.JP,code.eq.\"a,b\")", Path{"countries"}, Logic{Or: true, Children: []Logic{
			leaf(Filter{Field: Field{Name: "code"}, Op: OpEq, Value: "JP"}),
			leaf(Filter{Field: Field{Name: "code"}, Op: OpEq, Value: "a,b"})}}},
		{"rel.not.and", "(x.eq.1)", Path{"rel"}, Logic{Not: true, Children: []Logic{
			leaf(Filter{Field: Field{Name: "x"}, Op: OpEq, Value: "1"})}}},
		{"or", "(tags.cs.{a,b},r.adj.\"[18,21)\",t.fts(english).cat,n.like(any).{a*,b*},j->>k.eq.v)", nil, Logic{Or: true, Children: []Logic{
			leaf(Filter{Field: Field{Name: "tags"}, Op: OpCs, Value: "{a,b}"}),
			leaf(Filter{Field: Field{Name: "r"}, Op: OpAdj, Value: "[18,21)"}),
			leaf(Filter{Field: Field{Name: "t"}, Op: OpFts, Lang: "english", Value: "cat"}),
			leaf(Filter{Field: Field{Name: "n"}, Op: OpLike, Quant: QuantAny, Value: "{a*,b*}"}),
			leaf(Filter{Field: Field{Name: "j", JSONPath: []JSONOp{{Text: true, Key: "k"}}}, Op: OpEq, Value: "v"})}}},
		{"or", "(a.eq.\"x\"y,b.eq.1)", nil, Logic{Or: true, Children: []Logic{
			leaf(Filter{Field: Field{Name: "a"}, Op: OpEq, Value: "\"x\"y"}),
			leaf(Filter{Field: Field{Name: "b"}, Op: OpEq, Value: "1"})}}},
		{"and", "(id.eq.1,id.neq.2))", nil, Logic{Children: []Logic{
			leaf(Filter{Field: Field{Name: "id"}, Op: OpEq, Value: "1"}),
			leaf(Filter{Field: Field{Name: "id"}, Op: OpNeq, Value: "2"})}}},
		{"or", "(a.is.null,a.eq.)", nil, Logic{Or: true, Children: []Logic{
			leaf(Filter{Field: Field{Name: "a"}, Op: OpIs, Value: IsNull}),
			leaf(Filter{Field: Field{Name: "a"}, Op: OpEq, Value: ""})}}},
	}
	for _, tt := range tests {
		p, err := Parse([]Pair{{tt.key, tt.value}}, Options{})
		if err != nil {
			t.Errorf("%s=%s: %v", tt.key, tt.value, err)
			continue
		}
		if len(p.Logic) != 1 {
			t.Fatalf("%s=%s: %d trees", tt.key, tt.value, len(p.Logic))
		}
		if diff := cmp.Diff(tt.path, p.Logic[0].Path, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s path (-want +got):\n%s", tt.key, diff)
		}
		if diff := cmp.Diff(tt.want, p.Logic[0].Tree, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s=%s (-want +got):\n%s", tt.key, tt.value, diff)
		}
	}
	for _, bad := range []string{"()", "(a.eq.1", "a.eq.1", "(a.foo.1)", "(rel.col.eq.1)"} {
		if _, err := ParseLogic(true, false, bad); err == nil {
			t.Errorf("%q: want error", bad)
		}
	}
}

func TestParseOrder(t *testing.T) {
	tests := []struct {
		in   string
		want []OrderTerm
	}{
		{"id", []OrderTerm{{Field: Field{Name: "id"}}}},
		{"id.desc", []OrderTerm{{Field: Field{Name: "id"}, Dir: DirDesc}}},
		{"a.asc,b.desc.nullslast,c.nullsfirst", []OrderTerm{
			{Field: Field{Name: "a"}, Dir: DirAsc},
			{Field: Field{Name: "b"}, Dir: DirDesc, Nulls: NullsLast},
			{Field: Field{Name: "c"}, Nulls: NullsFirst}}},
		{"data->a->>b.desc", []OrderTerm{{Field: Field{Name: "data", JSONPath: []JSONOp{{Key: "a"}, {Text: true, Key: "b"}}}, Dir: DirDesc}}},
		{"rel(col).desc", []OrderTerm{{Relation: "rel", Field: Field{Name: "col"}, Dir: DirDesc}}},
	}
	for _, tt := range tests {
		got, err := ParseOrder(tt.in)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tt.in, diff)
		}
	}
	for _, bad := range []string{"", "id.", "id.up", "id.asc.x", "id,", "rel(col"} {
		if _, err := ParseOrder(bad); err == nil {
			t.Errorf("%q: want error", bad)
		}
	}
}

func TestParseClassification(t *testing.T) {
	p, err := ParseRaw("select=id,countries(code)&id=gt.1&countries.code=eq.JP&countries.or=(a.eq.1)&order=id.desc&order=name&countries.order=code&limit=10&offset=5&countries.limit=1&limit=x&offset=-1"+
		"&columns=%22a%22,b&on_conflict=a&name=eq.a+b&flag&select=ignored&not.or=(a.eq.1)", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ten, one := int64(10), int64(1)
	want := &Params{
		Select: []SelectItem{{Kind: ItemField, Field: Field{Name: "id"}}, {Kind: ItemEmbed, Relation: "countries", Children: []SelectItem{{Kind: ItemField, Field: Field{Name: "code"}}}}},
		Filters: []PathFilter{
			{Filter: Filter{Field: Field{Name: "id"}, Op: OpGt, Value: "1"}},
			{Path: Path{"countries"}, Filter: Filter{Field: Field{Name: "code"}, Op: OpEq, Value: "JP"}},
			{Filter: Filter{Field: Field{Name: "name"}, Op: OpEq, Value: "a b"}},
		},
		Logic: []PathLogic{
			{Path: Path{"countries"}, Tree: Logic{Or: true, Children: []Logic{{Filter: &Filter{Field: Field{Name: "a"}, Op: OpEq, Value: "1"}}}}},
			{Tree: Logic{Or: true, Not: true, Children: []Logic{{Filter: &Filter{Field: Field{Name: "a"}, Op: OpEq, Value: "1"}}}}},
		},
		Order: []PathOrder{
			{Terms: []OrderTerm{{Field: Field{Name: "id"}, Dir: DirDesc}}},
			{Path: Path{"countries"}, Terms: []OrderTerm{{Field: Field{Name: "code"}}}},
		},
		Ranges: []PathRange{
			{Offset: 5, Limit: &ten},
			{Path: Path{"countries"}, Limit: &one},
		},
		Columns:    []string{"a", "b"},
		OnConflict: []string{"a"},
	}
	if diff := cmp.Diff(want, p, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	if _, err := ParseRaw("limit=-1", Options{}); err == nil || err.(*Error).Code != "PGRST103" {
		t.Errorf("negative limit: %v", err)
	}
	if _, err := ParseRaw("columns=", Options{}); err == nil {
		t.Error("empty columns: want error")
	}
	// Values that do not start with an operator are parameters, not filters.
	p, err = ParseRaw("a=&apikey=xyz&b.c=1", Options{})
	if err == nil {
		t.Errorf("b.c=1 (dotted key) must be a filter and fail: %+v", p)
	}
	p, err = ParseRaw("a=&apikey=xyz&n=isx", Options{})
	if err != nil || len(p.Args) != 3 || len(p.Filters) != 0 {
		t.Errorf("parameters: %+v %v", p, err)
	}
}

func TestParseRPCArgs(t *testing.T) {
	p, err := ParseRaw("a=1&name=eq.x&v=1&v=2&b=&order=id", Options{RPCRead: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []Arg{{"a", "1"}, {"v", "1"}, {"v", "2"}, {"b", ""}}
	if diff := cmp.Diff(want, p.Args); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	if len(p.Filters) != 1 || p.Filters[0].Filter.Field.Name != "name" {
		t.Errorf("filters: %+v", p.Filters)
	}
	for _, v := range []string{"eq", "not.x", "in.x", "is", "fts(x"} {
		if _, err := ParseRaw("a="+v, Options{}); err == nil {
			t.Errorf("a=%s looks like a filter and must fail to parse", v)
		}
	}
	for _, v := range []string{"eq(any).{1}", "wfts.x", "not.is.null"} {
		if p, err := ParseRaw("a="+v, Options{}); err != nil || len(p.Filters) != 1 {
			t.Errorf("a=%s must be a filter: %v", v, err)
		}
	}
}

func TestHasRootConditions(t *testing.T) {
	for q, want := range map[string]bool{
		"": false, "select=id": false, "rel.id=eq.1": false, "rel.or=(a.eq.1)": false, "apikey=x": false,
		"id=eq.1": true, "or=(a.eq.1)": true, "not.and=(a.eq.1)": true,
	} {
		p, err := ParseRaw(q, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.HasRootConditions(); got != want {
			t.Errorf("%q: %v, want %v", q, got, want)
		}
	}
}
