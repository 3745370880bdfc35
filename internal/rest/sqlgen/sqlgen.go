package sqlgen

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/rest/query"
	"github.com/madbase/madbase/internal/rest/schema"
)

// Kind is what the request does.
type Kind int

// Request kinds.
const (
	Read   Kind = iota // GET/HEAD on a table or view
	Insert             // POST (and upsert with Resolution)
	Update             // PATCH
	Delete             // DELETE
	Call               // RPC: GET/HEAD/POST /rpc/fn
	Put                // PUT: single-row upsert; root filters must be eq on every PK column
)

// Return is the Prefer: return= of a write.
type Return int

// Return preferences.
const (
	ReturnMinimal Return = iota
	ReturnHeadersOnly
	ReturnRepresentation
)

// Resolution is the Prefer: resolution= of an insert.
type Resolution int

// Resolutions.
const (
	ResolutionNone Resolution = iota
	MergeDuplicates
	IgnoreDuplicates
)

// Request is everything Build needs besides the snapshot.
type Request struct {
	Kind Kind
	// Schema is the chosen profile schema; Relation the table or view name
	// (for Call, the function's own schema/name are used).
	Schema, Relation string
	Params           *query.Params

	// Body is the raw JSON request body (Insert, Update, Call via POST).
	// Insert accepts an object or an array of objects; Update an object.
	Body []byte
	// Columns are the payload columns for Insert/Update (from columns= or
	// PayloadColumns). Unknown names are reported as PGRST204.
	Columns []string

	// Function is the resolved function for Call (Snapshot.FindFunction).
	Function *schema.Function
	// ArgNames are the argument names present in a POST body (Call).
	ArgNames []string
	// GetArgs selects query-string arguments (Params.Args) for Call via
	// GET/HEAD instead of the body.
	GetArgs bool

	// Count requests the total (Prefer: count=exact); for reads a separate
	// count over the same filters, for writes the affected rows.
	Count bool
	// Singular renders the body as one object (vnd.pgrst.object+json); the
	// handler must check page_total == 1 (else PGRST116 and rollback).
	Singular bool
	// StripNulls applies json_strip_nulls to the body.
	StripNulls bool
	// Head omits the body (HEAD).
	Head bool
	// CSV renders the body as text/csv: a header line of the first row's
	// keys, then one line per row (PostgreSQL's record text without the
	// outer parentheses), joined by newlines.
	CSV bool
	// MaxRows caps every read node (0 = no cap).
	MaxRows int64
	// Return, Resolution and MissingDefault are the write preferences.
	Return         Return
	Resolution     Resolution
	MissingDefault bool
	// LimitedMutations applies root order/limit to Update/Delete through a
	// ctid subquery (tables only). PostgREST v13+ ignores them; the handler
	// decides.
	LimitedMutations bool
	// Aggregates enables aggregate functions in select (PGRST123 otherwise).
	Aggregates bool
}

// Statement is one SQL statement and its arguments.
//
// Its single result row has these columns, in order:
//
//	total_result_set int8  -- total for Count (NULL when not counted)
//	page_total       int8  -- rows in this response (affected rows for writes)
//	body             text  -- the response body, exactly as to send ('' for HEAD/minimal)
//	response_headers text  -- current_setting('response.headers'), NULL if unset
//	response_status  text  -- current_setting('response.status'), NULL if unset
//	inserted         int8  -- rows newly inserted (Insert only; 0 inserted with
//	                          merge-duplicates means 200 instead of 201), else NULL
//	location         text  -- Insert with ReturnHeadersOnly: the first row's PK
//	                          columns as a JSON object of text values, else NULL
type Statement struct {
	SQL  string
	Args []any
}

// Build generates the statement for a request.
func Build(s *schema.Snapshot, r Request) (st *Statement, err error) {
	if r.Params == nil {
		r.Params = &query.Params{Select: []query.SelectItem{{Kind: query.ItemStar}}}
	}
	b := &builder{snap: s, req: r}
	var sql string
	switch r.Kind {
	case Read:
		sql, err = b.read()
	case Insert, Put:
		sql, err = b.insert()
	case Update:
		sql, err = b.update()
	case Delete:
		sql, err = b.delete()
	case Call:
		sql, err = b.call()
	default:
		err = fmt.Errorf("sqlgen: unknown request kind %d", r.Kind)
	}
	if err != nil {
		return nil, err
	}
	return &Statement{SQL: sql, Args: b.args}, nil
}

// CountQuery returns the statement that counts what a Read or a Call would
// return without limit/offset (the count CTE of Build, on its own). The
// handler runs EXPLAIN (FORMAT JSON) on it for Prefer: count=planned and
// count=estimated.
func CountQuery(s *schema.Snapshot, r Request) (*Statement, error) {
	if r.Params == nil {
		r.Params = &query.Params{Select: []query.SelectItem{{Kind: query.ItemStar}}}
	}
	b := &builder{snap: s, req: r, countOnly: true}
	var sql string
	var err error
	switch r.Kind {
	case Read:
		sql, err = b.read()
	case Call:
		sql, err = b.call()
	default:
		err = fmt.Errorf("sqlgen: no count query for request kind %d", r.Kind)
	}
	if err != nil {
		return nil, err
	}
	return &Statement{SQL: sql, Args: b.args}, nil
}

type builder struct {
	snap      *schema.Snapshot
	req       Request
	args      []any
	countOnly bool
}

// arg binds a value and returns its placeholder.
func (b *builder) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

// ident quotes a (qualified) identifier.
func ident(parts ...string) string { return pgx.Identifier(parts).Sanitize() }

// validType checks a cast target: space-separated words of letters, digits
// and underscores, optionally followed by [] — nothing that could end the
// CAST(... AS <type>) it is inlined into.
func validType(t string) bool {
	words := strings.Fields(t)
	if len(words) == 0 || len(words) > 4 {
		return false
	}
	for _, w := range words {
		w = strings.TrimSuffix(w, "[]")
		if w == "" {
			return false
		}
		for i, r := range w {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
			case r >= '0' && r <= '9' && i > 0:
			default:
				return false
			}
		}
	}
	return true
}

func castErr(t string) error {
	return &query.Error{Status: 400, Code: "PGRST100",
		Message: fmt.Sprintf("%q (line 1, column 1)", "failed to parse select parameter (::"+t+")"),
		Details: fmt.Sprintf("invalid type name %q", t)}
}

func notEmbedded(name string) error {
	return &query.Error{Status: 400, Code: "PGRST108",
		Message: fmt.Sprintf("'%s' is not an embedded resource in this request", name),
		Hint:    fmt.Sprintf("Verify that '%s' is included in the 'select' query parameter.", name)}
}

const resultTail = `nullif(current_setting('response.headers', true), '') AS response_headers, ` +
	`nullif(current_setting('response.status', true), '') AS response_status`
