package schema

import (
	"context"
	_ "embed"
	"errors"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/rest/query"
	"github.com/madbase/madbase/internal/testutil/pgtest"
)

//go:embed testdata/fixture.sql
var fixtureSQL string

var pg *pgtest.Cluster

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, &pg, func(ctx context.Context, c *pgtest.Cluster) error {
		return c.CreateTemplate(ctx, "restfixture", func(ctx context.Context, url string) error {
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				return err
			}
			defer conn.Close(ctx)
			_, err = conn.Exec(ctx, fixtureSQL)
			return err
		})
	}))
}

func loadFixture(t *testing.T) *Snapshot {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), pg.NewDB(t, "restfixture"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	s, err := Load(t.Context(), conn, []string{"public"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLoad(t *testing.T) {
	s := loadFixture(t)

	t.Run("tables", func(t *testing.T) {
		for _, n := range []string{"countries", "cities", "members", "big_cities", "huge_cities", "secrets", "items"} {
			if _, ok := s.LookupTable(QName{"public", n}); !ok {
				t.Errorf("missing table %s", n)
			}
		}
		if _, ok := s.LookupTable(QName{"private", "secrets"}); ok {
			t.Error("private.secrets must not be exposed")
		}
		bc, _ := s.LookupTable(QName{"public", "big_cities"})
		if !bc.IsView || !bc.Updatable || !bc.Insertable {
			t.Errorf("big_cities flags: %+v", bc)
		}
	})
	t.Run("keys", func(t *testing.T) {
		for name, want := range map[string][]string{
			"members": {"team_id", "user_id"}, "big_cities": {"city_id"}, "huge_cities": {"city_id"},
			"secrets": {"id"}, "capitals": {"country_id"}, "items": {"id"},
		} {
			tb, _ := s.LookupTable(QName{"public", name})
			if diff := cmp.Diff(want, tb.PK); diff != "" {
				t.Errorf("%s PK (-want +got):\n%s", name, diff)
			}
		}
		c, _ := s.LookupTable(QName{"public", "countries"})
		if diff := cmp.Diff([][]string{{"code"}}, c.Uniques); diff != "" {
			t.Errorf("countries uniques: %s", diff)
		}
	})
	t.Run("columns", func(t *testing.T) {
		it, _ := s.LookupTable(QName{"public", "items"})
		want := []Column{
			{Name: "id", Type: "integer", Default: "nextval('public.items_id_seq'::regclass)"},
			{Name: "name", Type: "text", Default: "'unnamed'::text"},
			{Name: "data", Type: "jsonb", Nullable: true},
			{Name: "tags", Type: "text[]", Nullable: true},
			{Name: "amount", Type: "numeric", Nullable: true},
			{Name: "tsv", Type: "tsvector", Nullable: true},
			{Name: "r", Type: "int4range", Nullable: true},
			{Name: "created_at", Type: "timestamp with time zone", Default: "'2024-01-01 00:00:00+00'::timestamp with time zone"},
			{Name: "total", Type: "numeric", Nullable: true, Generated: true},
			{Name: "mood", Type: "public.mood", Nullable: true},
			{Name: "moods", Type: "public.mood[]", Nullable: true},
		}
		if diff := cmp.Diff(want, it.Columns); diff != "" {
			t.Errorf("items columns (-want +got):\n%s", diff)
		}
	})
	t.Run("functions", func(t *testing.T) {
		f, err := s.FindFunction(QName{"public", "cities_of"}, []string{"country"}, BodyNone)
		if err != nil {
			t.Fatal(err)
		}
		if !f.ReturnsSet || f.Return != ReturnsComposite || f.ReturnTable == nil || *f.ReturnTable != (QName{"public", "cities"}) || f.Volatility != Stable {
			t.Errorf("cities_of: %+v", f)
		}
		f, _ = s.FindFunction(QName{"public", "pairs"}, []string{"n"}, BodyNone)
		if f == nil || !f.ReturnsSet || f.Return != ReturnsComposite || f.ReturnTable != nil {
			t.Errorf("pairs: %+v", f)
		}
		f, _ = s.FindFunction(QName{"public", "touch"}, nil, BodyJSON)
		if f == nil || f.Return != ReturnsVoid || f.Volatility != Volatile {
			t.Errorf("touch: %+v", f)
		}
		f, _ = s.FindFunction(QName{"public", "hello"}, nil, BodyNone)
		if f == nil || !f.Params[0].HasDefault || f.Return != ReturnsScalar {
			t.Errorf("hello: %+v", f)
		}
		f, _ = s.FindFunction(QName{"public", "sum_all"}, []string{"nums"}, BodyNone)
		if f == nil || !f.HasVariadic || !f.Params[0].Variadic || f.Params[0].Type != "integer[]" {
			t.Errorf("sum_all: %+v", f)
		}
		f, _ = s.FindFunction(QName{"public", "echo"}, []string{"anything"}, BodyJSON)
		if f == nil || f.Params[0].Name != "" || f.Params[0].Type != "json" {
			t.Errorf("echo fallback: %+v", f)
		}
		wantCode(t, s.FindFunction2(QName{"public", "over"}, []string{"a"}), "PGRST203", 300)
		wantCode(t, s.FindFunction2(QName{"public", "hidden"}, nil), "PGRST202", 404)
		wantCode(t, s.FindFunction2(QName{"public", "add"}, []string{"a"}), "PGRST202", 404)
		wantCode(t, s.FindFunction2(QName{"public", "add"}, []string{"a", "b", "c"}), "PGRST202", 404)
	})
}

// FindFunction2 adapts FindFunction for wantCode.
func (s *Snapshot) FindFunction2(q QName, args []string) error {
	_, err := s.FindFunction(q, args, BodyNone)
	return err
}

func wantCode(t *testing.T, err error, code string, status int) *query.Error {
	t.Helper()
	var qe *query.Error
	if !errors.As(err, &qe) {
		t.Fatalf("got %v, want %s", err, code)
	}
	if qe.Code != code || qe.Status != status {
		t.Fatalf("got %s/%d (%s), want %s/%d", qe.Code, qe.Status, qe.Message, code, status)
	}
	return qe
}

func TestRelationships(t *testing.T) {
	s := loadFixture(t)
	pub := func(n string) QName { return QName{"public", n} }
	tests := []struct {
		origin, target, hint string
		card                 Cardinality
		foreign              string
		cols                 []ColumnPair
	}{
		{"cities", "countries", "", ManyToOne, "countries", []ColumnPair{{"country_id", "id"}}},
		{"cities", "country_id", "", ManyToOne, "countries", nil},
		{"cities", "cities_country_id_fkey", "", ManyToOne, "countries", nil},
		{"countries", "cities", "", OneToMany, "cities", []ColumnPair{{"id", "country_id"}}},
		{"countries", "capitals", "", OneToOne, "capitals", []ColumnPair{{"id", "country_id"}}},
		{"capitals", "countries", "", OneToOne, "countries", []ColumnPair{{"country_id", "id"}}},
		{"users", "teams", "", ManyToMany, "teams", nil},
		{"teams", "users", "members", ManyToMany, "users", nil},
		{"users", "members", "", OneToMany, "members", nil},
		{"employees", "employees", "", OneToMany, "employees", []ColumnPair{{"id", "manager_id"}}},
		{"employees", "manager_id", "", ManyToOne, "employees", []ColumnPair{{"manager_id", "id"}}},
		{"employees", "employees", "manager_id", OneToMany, "employees", nil},
		{"orders", "addresses", "billing", ManyToOne, "addresses", []ColumnPair{{"billing_address_id", "id"}}},
		{"orders", "addresses", "shipping_address_id", ManyToOne, "addresses", []ColumnPair{{"shipping_address_id", "id"}}},
		{"addresses", "orders", "billing", OneToMany, "orders", []ColumnPair{{"id", "billing_address_id"}}},
		{"big_cities", "countries", "", ManyToOne, "countries", []ColumnPair{{"country_id", "id"}}},
		{"countries", "huge_cities", "", OneToMany, "huge_cities", []ColumnPair{{"id", "country_id"}}},
		{"secrets", "countries", "", ManyToOne, "countries", nil},
		{"shipment_notes", "shipments", "", ManyToOne, "shipments", []ColumnPair{{"order_id", "order_id"}, {"line", "line"}}},
		{"shipments", "shipment_notes", "", OneToMany, "shipment_notes", []ColumnPair{{"order_id", "order_id"}, {"line", "line"}}},
		{"countries", "secrets", "", OneToMany, "secrets", nil},
	}
	for _, tt := range tests {
		r, err := s.FindRelationship(pub(tt.origin), tt.target, tt.hint)
		if err != nil {
			t.Errorf("%s→%s!%s: %v", tt.origin, tt.target, tt.hint, err)
			continue
		}
		if r.Cardinality != tt.card || r.Foreign.Name != tt.foreign {
			t.Errorf("%s→%s!%s: got %s to %s", tt.origin, tt.target, tt.hint, r.Cardinality, r.Foreign.Name)
		}
		if tt.cols != nil {
			if diff := cmp.Diff(tt.cols, r.Columns); diff != "" {
				t.Errorf("%s→%s!%s columns (-want +got):\n%s", tt.origin, tt.target, tt.hint, diff)
			}
		}
	}
	for target, card := range map[string]Cardinality{"capital_city": ManyToOne, "large_cities": OneToMany} {
		r, err := s.FindRelationship(pub("countries"), target, "")
		if err != nil || r.Function == nil || r.Function.Name != target || r.Cardinality != card || r.Foreign != pub("cities") {
			t.Errorf("computed %s: %+v %v", target, r, err)
		}
	}
	m2m, _ := s.FindRelationship(pub("users"), "teams", "")
	wantJ := &Junction{Table: pub("members"), Constraint1: "members_user_id_fkey", Constraint2: "members_team_id_fkey",
		OriginColumns: []ColumnPair{{"id", "user_id"}}, ForeignColumns: []ColumnPair{{"team_id", "id"}}}
	if diff := cmp.Diff(wantJ, m2m.Junction); diff != "" {
		t.Errorf("junction (-want +got):\n%s", diff)
	}

	_, err := s.FindRelationship(pub("orders"), "addresses", "")
	qe := wantCode(t, err, "PGRST201", 300)
	want := &query.Error{
		Status:  300,
		Code:    "PGRST201",
		Message: "Could not embed because more than one relationship was found for 'orders' and 'addresses'",
		Details: []RelationshipDetail{
			{Cardinality: "many-to-one", Embedding: "orders with addresses", Relationship: "billing using orders(billing_address_id) and addresses(id)"},
			{Cardinality: "many-to-one", Embedding: "orders with addresses", Relationship: "shipping using orders(shipping_address_id) and addresses(id)"},
		},
		Hint: "Try changing 'addresses' to one of the following: 'addresses!billing', 'addresses!shipping'. Find the desired relationship in the 'details' key.",
	}
	if diff := cmp.Diff(want, qe); diff != "" {
		t.Errorf("PGRST201 (-want +got):\n%s", diff)
	}

	_, err = s.FindRelationship(pub("employees"), "employees", "employees_manager_fkey")
	wantCode(t, err, "PGRST200", 400)
	_, err = s.FindRelationship(pub("countries"), "citis", "")
	qe = wantCode(t, err, "PGRST200", 400)
	if qe.Message != "Could not find a relationship between 'countries' and 'citis' in the schema cache" ||
		qe.Details != "Searched for a foreign key relationship between 'countries' and 'citis' in the schema 'public', but no matches were found." ||
		qe.Hint != "Perhaps you meant 'cities' instead of 'citis'." {
		t.Errorf("PGRST200: %+v", qe)
	}

	_, err = s.Table("public", "citys")
	qe = wantCode(t, err, "PGRST205", 404)
	if qe.Message != "Could not find the table 'public.citys' in the schema cache" || qe.Hint != "Perhaps you meant the table 'public.cities'" {
		t.Errorf("PGRST205: %+v", qe)
	}
	_, err = s.Table("public", "zzzzzzzzzzzz")
	if qe := wantCode(t, err, "PGRST205", 404); qe.Hint != nil {
		t.Errorf("PGRST205 hint for a far name: %v", qe.Hint)
	}
}

func TestTargetOrigins(t *testing.T) {
	tree := `({QUERY :commandType 1 :rtable ({RTE :subquery {QUERY :targetList ({TARGETENTRY :resno 1 :resname x :ressortgroupref 0 :resorigtbl 99 :resorigcol 9 :resjunk false})}}) :targetList ({TARGETENTRY :expr {VAR :varno 1} :resno 1 :resname my\ col :ressortgroupref 0 :resorigtbl 16390 :resorigcol 2 :resjunk false} {TARGETENTRY :expr {OPEXPR} :resno 2 :resname sum :ressortgroupref 0 :resorigtbl 0 :resorigcol 0 :resjunk false}) :override 0})`
	got := targetOrigins(tree)
	want := map[int16]origin{1: {16390, 2}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(origin{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
