package sqlgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/madbase/madbase/internal/rest/query"
	"github.com/madbase/madbase/internal/rest/schema"
)

// PayloadColumns returns the keys of a JSON object body, or of the objects
// of an array body, which must all have the same keys (PGRST102 otherwise,
// as PostgREST requires without columns=). An empty array yields no columns.
func PayloadColumns(body []byte) ([]string, error) {
	invalid := &query.Error{Status: 400, Code: "PGRST102", Message: "Empty or invalid json"}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, invalid
	}
	keysOf := func(raw json.RawMessage) ([]string, bool) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		tok, err := dec.Token()
		if err != nil || tok != json.Delim('{') {
			return nil, false
		}
		var keys []string
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, false
			}
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, false
			}
			if s, ok := k.(string); ok && !slices.Contains(keys, s) {
				keys = append(keys, s)
			}
		}
		return keys, true
	}
	if body[0] != '[' {
		if !json.Valid(body) {
			return nil, invalid
		}
		keys, ok := keysOf(body)
		if !ok {
			return nil, invalid
		}
		return keys, nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(body, &elems); err != nil {
		return nil, invalid
	}
	var first []string
	for i, e := range elems {
		keys, ok := keysOf(e)
		if !ok {
			return nil, &query.Error{Status: 400, Code: "PGRST102", Message: "All object keys must match"}
		}
		if i == 0 {
			first = keys
			continue
		}
		a, b := slices.Clone(first), slices.Clone(keys)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			return nil, &query.Error{Status: 400, Code: "PGRST102", Message: "All object keys must match"}
		}
	}
	return first, nil
}

func (b *builder) target() (*schema.Table, error) {
	t, err := b.snap.Table(b.req.Schema, b.req.Relation)
	if err != nil {
		return nil, err
	}
	for _, c := range b.req.Columns {
		if _, ok := t.Column(c); !ok {
			return nil, &query.Error{Status: 400, Code: "PGRST204",
				Message: fmt.Sprintf("Could not find the '%s' column of '%s' in the schema cache", c, t.Name)}
		}
	}
	return t, nil
}

// recordSource renders the body as rows typed by the table's row type;
// with missing=default, absent keys take the column defaults.
func (b *builder) recordSource(t *schema.Table, single bool) string {
	body := b.arg(string(b.req.Body)) + "::json"
	rowType := "NULL::" + ident(t.Schema, t.Name)
	var defaults []string
	if b.req.MissingDefault {
		for _, name := range b.req.Columns {
			c, _ := t.Column(name)
			if c.Default != "" {
				defaults = append(defaults, b.arg(name)+"::text, "+c.Default)
			}
		}
	}
	if single {
		obj := "CASE WHEN json_typeof(" + body + ") = 'array' THEN " + body + "->0 ELSE " + body + " END"
		if len(defaults) > 0 {
			obj = "(jsonb_build_object(" + strings.Join(defaults, ", ") + ") || (" + obj + ")::jsonb)::json"
		}
		return "json_populate_record(" + rowType + ", " + obj + ") AS pgrst_body"
	}
	arr := "CASE WHEN json_typeof(" + body + ") = 'array' THEN " + body + " ELSE json_build_array(" + body + ") END"
	if len(defaults) > 0 {
		return "json_array_elements(" + arr + ") AS pgrst_elem(v), LATERAL json_populate_record(" + rowType +
			", (jsonb_build_object(" + strings.Join(defaults, ", ") + ") || pgrst_elem.v::jsonb)::json) AS pgrst_body"
	}
	return "json_populate_recordset(" + rowType + ", " + arr + ") AS pgrst_body"
}

// returning lists what the write returns: only the columns the
// representation needs (selected ones, join columns of embeds, the PK for
// Location), since RETURNING needs SELECT privilege on each; and for inserts
// whether each row was new. xmax is read only for merge upserts: it needs
// SELECT on the table, which insert-only roles lack.
func (b *builder) returning(t *schema.Table, insert bool) string {
	tq := ident(t.Schema, t.Name)
	var cols []string
	add := func(c string) {
		q := tq + "." + ident(c)
		if !slices.Contains(cols, q) {
			cols = append(cols, q)
		}
	}
	switch b.req.Return {
	case ReturnHeadersOnly:
		for _, c := range t.PK {
			add(c)
		}
	case ReturnRepresentation:
		for _, it := range b.req.Params.Select {
			switch it.Kind {
			case query.ItemStar:
				cols = []string{tq + ".*"}
			case query.ItemField:
				add(it.Field.Name)
			case query.ItemEmbed, query.ItemSpread:
				r, err := b.snap.FindRelationship(t.QName(), it.Relation, it.Hint)
				if err != nil {
					continue // reported when the representation is planned
				}
				if r.Junction != nil {
					for _, p := range r.Junction.OriginColumns {
						add(p.Left)
					}
				}
				for _, p := range r.Columns {
					add(p.Left)
				}
			}
			if len(cols) == 1 && strings.HasSuffix(cols[0], ".*") {
				break
			}
		}
	}
	if insert {
		ins := "true"
		if b.req.Resolution == MergeDuplicates && !t.IsView {
			ins = "(" + tq + ".xmax = 0)"
		}
		cols = append(cols, ins+" AS pgrst_inserted")
	}
	if len(cols) == 0 {
		return " RETURNING 1"
	}
	return " RETURNING " + strings.Join(cols, ", ")
}

func (b *builder) insert() (string, error) {
	t, err := b.target()
	if err != nil {
		return "", err
	}
	tq := ident(t.Schema, t.Name)
	put := b.req.Kind == Put
	if put {
		if err := b.checkPut(t); err != nil {
			return "", err
		}
		b.req.Resolution = MergeDuplicates
		b.req.Params.OnConflict = nil
	}
	var sb strings.Builder
	sb.WriteString("WITH pgrst_source AS (INSERT INTO ")
	sb.WriteString(tq)
	cols := b.req.Columns
	if put {
		// The URL's PK filters select the body row: a mismatch inserts
		// nothing (page_total 0), which the handler reports as PGRST115.
		qcols := make([]string, len(cols))
		sel := make([]string, len(cols))
		for i, c := range cols {
			qcols[i] = ident(c)
			sel[i] = "pgrst_body." + ident(c)
		}
		sb.WriteString(" (" + strings.Join(qcols, ", ") + ") SELECT " + strings.Join(sel, ", ") + " FROM " + b.recordSource(t, true))
		n := &node{table: t, qname: t.QName(), ref: "pgrst_body"}
		var conds []string
		for _, f := range b.req.Params.Filters {
			c, err := b.filter(n, f.Filter)
			if err != nil {
				return "", err
			}
			conds = append(conds, c)
		}
		sb.WriteString(" WHERE " + strings.Join(conds, " AND "))
	} else if len(cols) == 0 {
		body := b.arg(string(b.req.Body)) + "::json"
		sb.WriteString(" SELECT FROM json_array_elements(CASE WHEN json_typeof(" + body + ") = 'array' THEN " + body + " ELSE json_build_array(" + body + ") END)")
	} else {
		qcols := make([]string, len(cols))
		sel := make([]string, len(cols))
		for i, c := range cols {
			qcols[i] = ident(c)
			sel[i] = "pgrst_body." + ident(c)
		}
		sb.WriteString(" (" + strings.Join(qcols, ", ") + ") SELECT " + strings.Join(sel, ", ") + " FROM " + b.recordSource(t, false))
	}
	if b.req.Resolution != ResolutionNone {
		target := b.req.Params.OnConflict
		if len(target) == 0 {
			target = t.PK
		}
		if len(target) > 0 {
			qt := make([]string, len(target))
			for i, c := range target {
				qt[i] = ident(c)
			}
			sb.WriteString(" ON CONFLICT (" + strings.Join(qt, ", ") + ")")
			if b.req.Resolution == MergeDuplicates && len(cols) > 0 {
				sets := make([]string, len(cols))
				for i, c := range cols {
					sets[i] = ident(c) + " = EXCLUDED." + ident(c)
				}
				sb.WriteString(" DO UPDATE SET " + strings.Join(sets, ", "))
			} else {
				sb.WriteString(" DO NOTHING")
			}
		}
	}
	sb.WriteString(b.returning(t, true))
	sb.WriteString(")")
	return b.mutationResult(&sb, t, true)
}

// checkPut enforces PostgREST's PUT rules: filters are exactly eq on every
// PK column (PGRST105), no limit/offset (PGRST114), and every PK column is
// in the payload.
func (b *builder) checkPut(t *schema.Table) error {
	bad := &query.Error{Status: 405, Code: "PGRST105", Message: "Filters must include all and only primary key columns with 'eq' operators"}
	p := b.req.Params
	for _, r := range p.Ranges {
		if len(r.Path) == 0 && (r.Limit != nil || r.Offset != 0) {
			return &query.Error{Status: 400, Code: "PGRST114", Message: "limit/offset querystring parameters are not allowed for PUT"}
		}
	}
	if len(t.PK) == 0 || len(p.Logic) > 0 {
		return bad
	}
	var seen []string
	for _, f := range p.Filters {
		ff := f.Filter
		if len(f.Path) > 0 || ff.Op != query.OpEq || ff.Not || ff.Quant != query.QuantNone || len(ff.Field.JSONPath) > 0 ||
			!slices.Contains(t.PK, ff.Field.Name) || slices.Contains(seen, ff.Field.Name) {
			return bad
		}
		seen = append(seen, ff.Field.Name)
	}
	if len(seen) != len(t.PK) {
		return bad
	}
	for _, c := range t.PK {
		if !slices.Contains(b.req.Columns, c) {
			return &query.Error{Status: 400, Code: "PGRST115", Message: "Payload values do not match URL in primary key column(s)"}
		}
	}
	return nil
}

// mutationWhere renders the root filters of PATCH/DELETE against the table.
func (b *builder) mutationWhere(t *schema.Table) (string, error) {
	n := &node{table: t, qname: t.QName(), ref: ident(t.Schema, t.Name)}
	var conds []string
	for _, f := range b.req.Params.Filters {
		if len(f.Path) > 0 {
			continue
		}
		c, err := b.filter(n, f.Filter)
		if err != nil {
			return "", err
		}
		conds = append(conds, c)
	}
	for _, l := range b.req.Params.Logic {
		if len(l.Path) > 0 {
			continue
		}
		c, err := b.logic(n, l.Tree)
		if err != nil {
			return "", err
		}
		conds = append(conds, c)
	}
	if len(conds) == 0 {
		return "", nil
	}
	where := strings.Join(conds, " AND ")
	r := b.req.Params.Range(nil)
	if b.req.LimitedMutations && !t.IsView && (r.Limit != nil || len(b.req.Params.OrderAt(nil)) > 0) {
		sub := "SELECT " + n.ref + ".ctid FROM " + n.ref + " WHERE " + where
		if terms := b.req.Params.OrderAt(nil); len(terms) > 0 {
			n.order = terms
			o := make([]string, 0, len(terms))
			for _, t := range terms {
				o = append(o, b.fieldExpr(n, t.Field)+orderTail(t))
			}
			sub += " ORDER BY " + strings.Join(o, ", ")
		}
		if r.Limit != nil {
			sub += " LIMIT " + b.arg(*r.Limit)
		}
		where = n.ref + ".ctid = ANY(ARRAY(" + sub + "))"
	}
	return " WHERE " + where, nil
}

func (b *builder) update() (string, error) {
	t, err := b.target()
	if err != nil {
		return "", err
	}
	tq := ident(t.Schema, t.Name)
	var sb strings.Builder
	if len(b.req.Columns) == 0 {
		// Nothing to set: no UPDATE runs, as in PostgREST.
		sb.WriteString("WITH pgrst_source AS (SELECT " + tq + ".* FROM " + tq + " WHERE false)")
		return b.mutationResult(&sb, t, false)
	}
	sets := make([]string, len(b.req.Columns))
	for i, c := range b.req.Columns {
		sets[i] = ident(c) + " = pgrst_body." + ident(c)
	}
	sb.WriteString("WITH pgrst_source AS (UPDATE " + tq + " SET " + strings.Join(sets, ", ") + " FROM (SELECT * FROM " + b.recordSource(t, true) + ") AS pgrst_body")
	where, err := b.mutationWhere(t)
	if err != nil {
		return "", err
	}
	sb.WriteString(where)
	sb.WriteString(b.returning(t, false))
	sb.WriteString(")")
	return b.mutationResult(&sb, t, false)
}

func (b *builder) delete() (string, error) {
	t, err := b.target()
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	sb.WriteString("WITH pgrst_source AS (DELETE FROM " + ident(t.Schema, t.Name))
	where, err := b.mutationWhere(t)
	if err != nil {
		return "", err
	}
	sb.WriteString(where)
	sb.WriteString(b.returning(t, false))
	sb.WriteString(")")
	return b.mutationResult(&sb, t, false)
}

// mutationResult appends the final SELECT of a write: counts from the
// modified rows, and the representation shaped by select= (embeds and
// embedded filters included) when requested.
func (b *builder) mutationResult(sb *strings.Builder, t *schema.Table, insert bool) (string, error) {
	total := "NULL::int8"
	if b.req.Count {
		total = "(SELECT pg_catalog.count(*) FROM pgrst_source)"
	}
	inserted := "NULL::int8"
	if insert {
		inserted = "(SELECT pg_catalog.count(*) FROM pgrst_source WHERE pgrst_inserted)"
	}
	location := "NULL::text"
	if insert && b.req.Return == ReturnHeadersOnly && len(t.PK) > 0 {
		kv := make([]string, 0, 2*len(t.PK))
		for _, c := range t.PK {
			kv = append(kv, b.arg(c)+"::text", "pgrst_source."+ident(c)+"::text")
		}
		location = "(SELECT json_build_object(" + strings.Join(kv, ", ") + ")::text FROM pgrst_source LIMIT 1)"
	}
	body := "''::text"
	from := ""
	if b.req.Return == ReturnRepresentation {
		alias := ident(t.Name)
		root := &node{table: t, qname: t.QName(), ref: alias, from: "pgrst_source AS " + alias, relName: t.Name}
		if err := b.buildTree(root, b.req.Params, false); err != nil {
			return "", err
		}
		root.order, root.rng = nil, query.PathRange{}
		// Explicit columns keep helper columns (pgrst_inserted) out of the body.
		root.items = expandStar(root)
		src, err := b.nodeSQL(root, nil, false, 0)
		if err != nil {
			return "", err
		}
		body = b.bodyExpr("_postgrest_t", false)
		from = " FROM (" + src + ") _postgrest_t"
	}
	sb.WriteString(" SELECT " + total + " AS total_result_set, (SELECT pg_catalog.count(*) FROM pgrst_source) AS page_total, ")
	sb.WriteString(body + " AS body, " + resultTail + ", " + inserted + " AS inserted, " + location + " AS location")
	sb.WriteString(from)
	return sb.String(), nil
}
