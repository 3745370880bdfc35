package sqlgen_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/rest/query"
	"github.com/madbase/madbase/internal/rest/schema"
	"github.com/madbase/madbase/internal/rest/sqlgen"
)

// Example shows the handler's path for GET /rest/v1/countries?… with
// Prefer: count=exact: parse, build, run in the request's transaction,
// read the one result row.
func Example() {
	ctx := context.Background()
	var tx pgx.Tx             // the request's tenant.Tx (role, claims, search_path set)
	var snap *schema.Snapshot // from schema.Load, swapped on NOTIFY pgrst
	if tx == nil || snap == nil {
		return // sketch only
	}
	params, err := query.ParseRaw("select=id,cities(name)&id=gt.1&limit=10", query.Options{})
	if err != nil {
		return // *query.Error: render {code, details, hint, message} with err.Status
	}
	st, err := sqlgen.Build(snap, sqlgen.Request{
		Kind: sqlgen.Read, Schema: "public", Relation: "countries", Params: params,
		Count: true, MaxRows: 1000,
	})
	var qe *query.Error
	if errors.As(err, &qe) {
		return // PGRST200/201/205/108/... as above
	}
	var total, inserted *int64
	var page int64
	var body string
	var headers, status, location *string
	err = tx.QueryRow(ctx, st.SQL, st.Args...).Scan(&total, &page, &body, &headers, &status, &inserted, &location)
	if err != nil {
		return // *pgconn.PgError: SQLSTATE → HTTP as PostgREST maps it
	}
	fmt.Println(page, body) // Content-Range from offset, page and total; body sent as is
}
