package sqlgen

import (
	"errors"
	"strings"

	"github.com/madbase/madbase/internal/rest/schema"
)

// argType maps a parameter type to the one used to read it from a JSON
// body, as PostgREST does (fixed-length types would pad or truncate).
func argType(t string) string {
	switch t {
	case "character":
		return "character varying"
	case "bit":
		return "bit varying"
	}
	return t
}

// callExpr renders the function call and, for arguments read from a JSON
// body, the FROM item (pgrst_args) the call takes them from.
func (b *builder) callExpr(f *schema.Function) (call, argsFrom string, err error) {
	fq := ident(f.Schema, f.Name)
	if len(f.Params) == 1 && f.Params[0].Name == "" {
		if b.req.GetArgs {
			return "", "", errors.New("sqlgen: a function with an unnamed parameter needs a body")
		}
		return fq + "(" + b.arg(string(b.req.Body)) + "::" + f.Params[0].Type + ")", "", nil
	}
	if b.req.GetArgs {
		var named []string
		for _, p := range f.Params {
			var vals []string
			for _, a := range b.req.Params.Args {
				if a.Name == p.Name {
					vals = append(vals, a.Value)
				}
			}
			if len(vals) == 0 {
				continue
			}
			if p.Variadic {
				named = append(named, "VARIADIC "+ident(p.Name)+" := "+b.arg(arrayLiteral(vals))+"::"+p.Type)
				continue
			}
			named = append(named, ident(p.Name)+" := "+b.arg(vals[0])+"::"+p.Type)
		}
		return fq + "(" + strings.Join(named, ", ") + ")", "", nil
	}
	var defs, named []string
	for _, p := range f.Params {
		present := false
		for _, n := range b.req.ArgNames {
			if n == p.Name {
				present = true
			}
		}
		if !present {
			continue
		}
		defs = append(defs, ident(p.Name)+" "+argType(p.Type))
		v := ""
		if p.Variadic {
			v = "VARIADIC "
		}
		named = append(named, v+ident(p.Name)+" := pgrst_args."+ident(p.Name))
	}
	call = fq + "(" + strings.Join(named, ", ") + ")"
	if len(defs) == 0 {
		return call, "", nil
	}
	body := b.arg(string(b.req.Body)) + "::json"
	obj := "CASE WHEN json_typeof(" + body + ") = 'array' THEN " + body + "->0 ELSE " + body + " END"
	return call, "json_to_record(" + obj + ") AS pgrst_args(" + strings.Join(defs, ", ") + ")", nil
}

// call: WITH pgrst_source AS (SELECT … FROM fn(…)) and, for set and
// composite returns, the read machinery (select, filters, order, range,
// count, embeds through the returned table's relationships) over it.
func (b *builder) call() (string, error) {
	f := b.req.Function
	if f == nil {
		return "", errors.New("sqlgen: Call without Function")
	}
	call, argsFrom, err := b.callExpr(f)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	// Scalars, void and bare records are called in the select list (a bare
	// record in FROM would need a column definition list); row types in FROM.
	scalar := f.Return != schema.ReturnsComposite
	switch {
	case scalar && argsFrom == "":
		sb.WriteString("WITH pgrst_source AS (SELECT " + call + " AS pgrst_scalar)")
	case scalar:
		sb.WriteString("WITH pgrst_source AS (SELECT " + call + " AS pgrst_scalar FROM " + argsFrom + ")")
	case argsFrom == "":
		sb.WriteString("WITH pgrst_source AS (SELECT pgrst_call.* FROM " + call + " AS pgrst_call)")
	default:
		sb.WriteString("WITH pgrst_source AS (SELECT pgrst_call.* FROM " + argsFrom + ", LATERAL " + call + " AS pgrst_call)")
	}
	if !f.ReturnsSet {
		// One value or one row: the body is that value/object, not an array.
		b.req.Singular = true
	}
	if b.countOnly && scalar {
		return sb.String() + " SELECT 1 FROM pgrst_source", nil
	}
	var shaped string
	if scalar {
		shaped = "SELECT pgrst_source.pgrst_scalar FROM pgrst_source"
		r := b.req.Params.Range(nil)
		limit := r.Limit
		if b.req.MaxRows > 0 && f.ReturnsSet && (limit == nil || *limit > b.req.MaxRows) {
			limit = &b.req.MaxRows
		}
		if limit != nil {
			shaped += " LIMIT " + b.arg(*limit)
		}
		if r.Offset > 0 {
			shaped += " OFFSET " + b.arg(r.Offset)
		}
		total := "NULL::int8"
		if b.req.Count {
			total = "(SELECT pg_catalog.count(*) FROM pgrst_source)"
		}
		sb.WriteString(" SELECT " + total + " AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, ")
		sb.WriteString(b.bodyExpr("_postgrest_t", true) + " AS body, " + resultTail + ", NULL::int8 AS inserted, NULL::text AS location")
		sb.WriteString(" FROM (" + shaped + ") _postgrest_t")
		return sb.String(), nil
	}
	alias := ident(f.Name)
	root := &node{qname: schema.QName{Schema: f.Schema, Name: f.Name}, ref: alias, from: "pgrst_source AS " + alias, relName: f.Name}
	if f.ReturnTable != nil {
		if t, ok := b.snap.LookupTable(*f.ReturnTable); ok {
			root.table = t
			root.qname = t.QName()
		}
	}
	if err := b.buildTree(root, b.req.Params, true); err != nil {
		return "", err
	}
	if b.countOnly {
		cnt, err := b.nodeSQL(root, nil, true, 0)
		if err != nil {
			return "", err
		}
		return sb.String() + " " + cnt, nil
	}
	maxRows := b.req.MaxRows
	if !f.ReturnsSet {
		maxRows = 0
	}
	src, err := b.nodeSQL(root, nil, false, maxRows)
	if err != nil {
		return "", err
	}
	total := "NULL::int8"
	if b.req.Count {
		cnt, err := b.nodeSQL(root, nil, true, 0)
		if err != nil {
			return "", err
		}
		sb.WriteString(", pgrst_source_count AS (" + cnt + ")")
		total = "(SELECT pg_catalog.count(*) FROM pgrst_source_count)"
	}
	sb.WriteString(" SELECT " + total + " AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, ")
	sb.WriteString(b.bodyExpr("_postgrest_t", false) + " AS body, " + resultTail + ", NULL::int8 AS inserted, NULL::text AS location")
	sb.WriteString(" FROM (" + src + ") _postgrest_t")
	return sb.String(), nil
}
