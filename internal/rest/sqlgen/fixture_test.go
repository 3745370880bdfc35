package sqlgen

import "github.com/madbase/madbase/internal/rest/schema"

// fixtureSnapshot mirrors ../schema/testdata/fixture.sql without a
// database, for golden files and fuzzing.
func fixtureSnapshot() *schema.Snapshot {
	col := func(name, typ string) schema.Column { return schema.Column{Name: name, Type: typ, Nullable: true} }
	pub := func(n string) schema.QName { return schema.QName{Schema: "public", Name: n} }
	tbl := func(name string, pk []string, cols ...schema.Column) *schema.Table {
		return &schema.Table{Schema: "public", Name: name, PK: pk, Columns: cols, Insertable: true, Updatable: true, Deletable: true}
	}
	bigCities := tbl("big_cities", []string{"city_id"}, col("city_id", "integer"), col("name", "text"), col("country_id", "integer"))
	bigCities.IsView = true
	return schema.Build(schema.Catalog{
		Schemas: []string{"public"},
		Tables: []*schema.Table{
			tbl("countries", []string{"id"}, col("id", "integer"), col("name", "text"), col("code", "text")),
			tbl("cities", []string{"id"}, col("id", "integer"), col("name", "text"), col("population", "integer"), col("country_id", "integer")),
			tbl("capitals", []string{"country_id"}, col("country_id", "integer"), col("city_name", "text")),
			tbl("users", []string{"id"}, col("id", "integer"), col("name", "text"), col("email", "text")),
			tbl("teams", []string{"id"}, col("id", "integer"), col("name", "text")),
			tbl("members", []string{"team_id", "user_id"}, col("user_id", "integer"), col("team_id", "integer"), col("role", "text")),
			tbl("employees", []string{"id"}, col("id", "integer"), col("name", "text"), col("manager_id", "integer")),
			tbl("addresses", []string{"id"}, col("id", "integer"), col("street", "text")),
			tbl("orders", []string{"id"}, col("id", "integer"), col("name", "text"), col("billing_address_id", "integer"), col("shipping_address_id", "integer")),
			bigCities,
			tbl("items", []string{"id"},
				schema.Column{Name: "id", Type: "integer", Default: "nextval('public.items_id_seq'::regclass)"},
				schema.Column{Name: "name", Type: "text", Default: "'unnamed'::text"},
				col("data", "jsonb"), col("tags", "text[]"), col("amount", "numeric"), col("tsv", "tsvector"), col("r", "int4range"),
				schema.Column{Name: "created_at", Type: "timestamp with time zone", Default: "now()"}),
		},
		ForeignKeys: []schema.ForeignKey{
			{Name: "cities_country_id_fkey", Table: pub("cities"), Columns: []string{"country_id"}, Foreign: pub("countries"), ForeignColumns: []string{"id"}},
			{Name: "capitals_country_id_fkey", Table: pub("capitals"), Columns: []string{"country_id"}, Foreign: pub("countries"), ForeignColumns: []string{"id"}},
			{Name: "members_user_id_fkey", Table: pub("members"), Columns: []string{"user_id"}, Foreign: pub("users"), ForeignColumns: []string{"id"}},
			{Name: "members_team_id_fkey", Table: pub("members"), Columns: []string{"team_id"}, Foreign: pub("teams"), ForeignColumns: []string{"id"}},
			{Name: "employees_manager_fkey", Table: pub("employees"), Columns: []string{"manager_id"}, Foreign: pub("employees"), ForeignColumns: []string{"id"}},
			{Name: "billing", Table: pub("orders"), Columns: []string{"billing_address_id"}, Foreign: pub("addresses"), ForeignColumns: []string{"id"}},
			{Name: "shipping", Table: pub("orders"), Columns: []string{"shipping_address_id"}, Foreign: pub("addresses"), ForeignColumns: []string{"id"}},
			{Name: "cities_country_id_fkey", Table: pub("big_cities"), Columns: []string{"country_id"}, Foreign: pub("countries"), ForeignColumns: []string{"id"}},
		},
		Functions: []*schema.Function{
			{Schema: "public", Name: "add", Params: []schema.Param{{Name: "a", Type: "integer"}, {Name: "b", Type: "integer"}}, ReturnType: "integer", Return: schema.ReturnsScalar, Volatility: schema.Immutable},
			{Schema: "public", Name: "cities_of", Params: []schema.Param{{Name: "country", Type: "integer"}}, ReturnType: "cities", Return: schema.ReturnsComposite, ReturnsSet: true, ReturnTable: &schema.QName{Schema: "public", Name: "cities"}, Volatility: schema.Stable},
			{Schema: "public", Name: "sum_all", Params: []schema.Param{{Name: "nums", Type: "integer[]", Variadic: true}}, ReturnType: "integer", Return: schema.ReturnsScalar, HasVariadic: true, Volatility: schema.Immutable},
			{Schema: "public", Name: "large_cities", Params: []schema.Param{{Type: "countries"}}, ReturnType: "cities", Return: schema.ReturnsComposite, ReturnsSet: true,
				ReturnTable: &schema.QName{Schema: "public", Name: "cities"}, RowArg: &schema.QName{Schema: "public", Name: "countries"}, Volatility: schema.Stable},
			{Schema: "public", Name: "echo", Params: []schema.Param{{Type: "json"}}, ReturnType: "json", Return: schema.ReturnsScalar, Volatility: schema.Immutable},
		},
	})
}
