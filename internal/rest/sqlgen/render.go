package sqlgen

import (
	"strconv"
	"strings"

	"github.com/madbase/madbase/internal/rest/query"
	"github.com/madbase/madbase/internal/rest/schema"
)

// selectEntry is one output column of a node's SELECT.
type selectEntry struct {
	sql string
	agg bool // aggregate expression (excluded from GROUP BY)
}

// outKey is the JSON key PostgREST gives a field.
func outKey(it query.SelectItem) string {
	switch {
	case it.Alias != "":
		return it.Alias
	case it.Kind == query.ItemCount:
		return "count"
	case it.Agg != "":
		return it.Agg
	case len(it.Field.JSONPath) > 0:
		last := it.Field.JSONPath[len(it.Field.JSONPath)-1]
		if !last.Index {
			return last.Key
		}
		for i := len(it.Field.JSONPath) - 1; i >= 0; i-- {
			if !it.Field.JSONPath[i].Index {
				return it.Field.JSONPath[i].Key
			}
		}
	}
	return it.Field.Name
}

func isJSONType(t string) bool { return t == "json" || t == "jsonb" }

// fieldExpr renders ref."col"->key->>key; keys are bound parameters.
func (b *builder) fieldExpr(n *node, f query.Field) string {
	col := n.ref + "." + ident(f.Name)
	if len(f.JSONPath) == 0 {
		return col
	}
	if n.table != nil {
		if c, ok := n.table.Column(f.Name); ok && !isJSONType(c.Type) {
			col = "to_jsonb(" + col + ")"
		}
	}
	var sb strings.Builder
	sb.WriteString(col)
	for _, op := range f.JSONPath {
		if op.Text {
			sb.WriteString("->>")
		} else {
			sb.WriteString("->")
		}
		if op.Index {
			sb.WriteString(b.arg(op.Key) + "::int")
		} else {
			sb.WriteString(b.arg(op.Key) + "::text")
		}
	}
	return sb.String()
}

func castTo(expr, typ string) string {
	if typ == "" {
		return expr
	}
	return "CAST(" + expr + " AS " + typ + ")"
}

func aggExpr(agg, arg string) string {
	return "pg_catalog." + agg + "(" + arg + ")"
}

// expandStar replaces * by the table's columns when aggregates need
// explicit grouping or a spread needs explicit names.
func expandStar(n *node) []query.SelectItem {
	var out []query.SelectItem
	for _, it := range n.items {
		if it.Kind == query.ItemStar && n.table != nil {
			for _, c := range n.table.Columns {
				out = append(out, query.SelectItem{Kind: query.ItemField, Field: query.Field{Name: c.Name}})
			}
			continue
		}
		out = append(out, it)
	}
	return out
}

// spreadKeys lists the output keys a spread child contributes to its parent.
func spreadKeys(c *node) []string {
	var keys []string
	for _, it := range expandStar(c) {
		if it.Kind == query.ItemStar {
			keys = append(keys, "*")
			continue
		}
		if it.Kind == query.ItemCount || it.Agg != "" {
			continue // hoisted to the parent
		}
		keys = append(keys, outKey(it))
	}
	for _, cc := range c.children {
		if cc.spread {
			keys = append(keys, spreadKeys(cc)...)
		} else if !emptyEmbed(cc) {
			keys = append(keys, cc.outName())
		}
	}
	return keys
}

// rawAggKey is the column a spread child selects for an aggregate hoisted
// to its parent.
func rawAggKey(it query.SelectItem) string {
	if it.Alias != "" {
		return it.Alias
	}
	return it.Field.Name
}

// emptyEmbed: rel() with nothing selected is joined but not output.
func emptyEmbed(n *node) bool {
	if len(n.items) > 0 {
		return false
	}
	for _, c := range n.children {
		if !emptyEmbed(c) {
			return false
		}
	}
	return true
}

// nodeSQL renders SELECT … FROM … for a node. parent is nil at the root.
// hoisted says the node is a to-one spread whose aggregates its parent
// computes. count renders the count variant (select 1, no order or range,
// only the joins that filter).
func (b *builder) nodeSQL(n, parent *node, count bool, maxRows int64) (string, error) {
	items := n.items
	nodeAggs := hasAgg(n)
	for _, c := range n.children {
		if c.spread && c.rel.ToOne() && hasAgg(c) {
			nodeAggs = true
		}
	}
	hoisted := parent != nil && n.spread && n.rel.ToOne()
	if nodeAggs || n.spread {
		items = expandStar(n)
	}
	var sel []selectEntry
	if !count {
		for _, it := range items {
			switch it.Kind {
			case query.ItemStar:
				sel = append(sel, selectEntry{sql: n.ref + ".*"})
			case query.ItemCount:
				if hoisted {
					continue
				}
				e := castTo(aggExpr("count", "*"), it.AggCast)
				sel = append(sel, selectEntry{sql: e + " AS " + ident(outKey(it)), agg: true})
			default:
				e := castTo(b.fieldExpr(n, it.Field), it.Cast)
				switch {
				case it.Agg != "" && hoisted:
					sel = append(sel, selectEntry{sql: e + " AS " + ident(rawAggKey(it))})
				case it.Agg != "":
					e = castTo(aggExpr(it.Agg, e), it.AggCast)
					sel = append(sel, selectEntry{sql: e + " AS " + ident(outKey(it)), agg: true})
				case it.Alias != "" || it.Cast != "" || len(it.Field.JSONPath) > 0:
					sel = append(sel, selectEntry{sql: e + " AS " + ident(outKey(it))})
				default:
					sel = append(sel, selectEntry{sql: e})
				}
			}
		}
	}
	var joins []string
	for _, c := range n.children {
		if count && c.join != query.JoinInner && !referenced(n, c) {
			continue
		}
		j, entries, err := b.lateral(n, c, count)
		if err != nil {
			return "", err
		}
		joins = append(joins, j)
		if !count {
			sel = append(sel, entries...)
		}
	}
	var where []string
	if parent != nil {
		where = append(where, joinConds(n, parent)...)
	}
	for _, f := range n.filters {
		w, err := b.filter(n, f)
		if err != nil {
			return "", err
		}
		where = append(where, w)
	}
	for _, l := range n.logic {
		w, err := b.logic(n, l)
		if err != nil {
			return "", err
		}
		where = append(where, w)
	}
	for _, nf := range n.nullFilters {
		where = append(where, nullCheck(nf))
	}

	var sb strings.Builder
	size := 128 + len(n.from) // keywords, ORDER BY, LIMIT: grown past it if need be
	for _, e := range sel {
		size += len(e.sql) + 2
	}
	for _, j := range joins {
		size += len(j) + 1
	}
	for _, w := range where {
		size += len(w) + 5
	}
	sb.Grow(size)
	sb.WriteString("SELECT ")
	if count {
		sb.WriteString("1")
	} else {
		for i, e := range sel {
			if i > 0 {
				sb.WriteString(", ")
			}
			sb.WriteString(e.sql)
		}
	}
	sb.WriteString(" FROM ")
	sb.WriteString(n.from)
	for _, j := range joins {
		sb.WriteString(" ")
		sb.WriteString(j)
	}
	if len(where) > 0 {
		sb.WriteString(" WHERE ")
		sb.WriteString(strings.Join(where, " AND "))
	}
	if count {
		return sb.String(), nil
	}
	anyAgg := false
	var groups []string
	for i, e := range sel {
		if e.agg {
			anyAgg = true
		} else {
			groups = append(groups, strconv.Itoa(i+1))
		}
	}
	if anyAgg && len(groups) > 0 {
		sb.WriteString(" GROUP BY ")
		sb.WriteString(strings.Join(groups, ", "))
	}
	if len(n.order) > 0 {
		terms := make([]string, 0, len(n.order))
		for _, t := range n.order {
			var e string
			if t.Relation != "" {
				c := childNamed(n, t.Relation)
				e = b.fieldExpr(&node{ref: c.aggAlias}, t.Field)
			} else {
				e = b.fieldExpr(n, t.Field)
			}
			terms = append(terms, e+orderTail(t))
		}
		sb.WriteString(" ORDER BY ")
		sb.WriteString(strings.Join(terms, ", "))
	}
	limit := n.rng.Limit
	if maxRows > 0 && (limit == nil || *limit > maxRows) {
		limit = &maxRows
	}
	// With a limit the offset is always bound (0 or not), so requests that
	// differ only in their range share one statement text.
	if limit != nil {
		sb.WriteString(" LIMIT " + b.arg(*limit) + " OFFSET " + b.arg(n.rng.Offset))
	} else if n.rng.Offset > 0 {
		sb.WriteString(" OFFSET " + b.arg(n.rng.Offset))
	}
	return sb.String(), nil
}

// joinConds ties a child to its parent through the relationship.
func joinConds(n, parent *node) []string {
	var out []string
	r := n.rel
	if r.Function != nil {
		if r.ToOne() {
			// A non-SETOF function that finds nothing yields one all-NULL row.
			return []string{"NOT (" + n.ref + " IS NULL)"}
		}
		return nil
	}
	if r.Cardinality == schema.ManyToMany {
		j := ident(r.Junction.Table.Schema, r.Junction.Table.Name)
		for _, p := range r.Junction.ForeignColumns {
			out = append(out, n.ref+"."+ident(p.Right)+" = "+j+"."+ident(p.Left))
		}
		for _, p := range r.Junction.OriginColumns {
			out = append(out, j+"."+ident(p.Right)+" = "+parent.ref+"."+ident(p.Left))
		}
		return out
	}
	for _, p := range r.Columns {
		out = append(out, n.ref+"."+ident(p.Right)+" = "+parent.ref+"."+ident(p.Left))
	}
	return out
}

// lateral renders the LATERAL join of child c and the entries it adds to
// the parent's select list.
func (b *builder) lateral(n, c *node, count bool) (string, []selectEntry, error) {
	inner, err := b.nodeSQL(c, n, false, b.req.MaxRows)
	if err != nil {
		return "", nil, err
	}
	a := c.aggAlias
	joinKw := "LEFT JOIN LATERAL"
	if c.join == query.JoinInner {
		joinKw = "INNER JOIN LATERAL"
	}
	var entries []selectEntry
	if c.rel.ToOne() {
		j := joinKw + " (" + inner + ") AS " + a + " ON TRUE"
		switch {
		case c.spread:
			for _, k := range spreadKeys(c) {
				if k == "*" {
					entries = append(entries, selectEntry{sql: a + ".*"})
					continue
				}
				entries = append(entries, selectEntry{sql: a + "." + ident(k) + " AS " + ident(k)})
			}
			for _, it := range expandStar(c) {
				if it.Kind == query.ItemCount {
					e := castTo(aggExpr("count", a+".*"), it.AggCast)
					entries = append(entries, selectEntry{sql: e + " AS " + ident(outKey(it)), agg: true})
				} else if it.Agg != "" {
					e := castTo(aggExpr(it.Agg, a+"."+ident(rawAggKey(it))), it.AggCast)
					entries = append(entries, selectEntry{sql: e + " AS " + ident(outKey(it)), agg: true})
				}
			}
		case emptyEmbed(c):
		default:
			entries = append(entries, selectEntry{sql: "row_to_json(" + a + ".*)::jsonb AS " + ident(c.outName())})
		}
		return j, entries, nil
	}
	if c.spread {
		keys := spreadKeys(c)
		aggs := make([]string, 0, len(keys))
		for _, k := range keys {
			if k == "*" {
				return "", nil, &query.Error{Status: 400, Code: "PGRST127", Message: "Feature not implemented",
					Details: "A '*' inside a one-to-many or many-to-many spread needs a table with known columns."}
			}
			aggs = append(aggs, "json_agg("+a+"."+ident(k)+")::jsonb AS "+ident(k))
			entries = append(entries, selectEntry{sql: "COALESCE(" + a + "." + ident(k) + ", '[]') AS " + ident(k)})
		}
		if len(aggs) == 0 {
			aggs = append(aggs, "json_agg("+a+")::jsonb AS "+a)
		}
		on := "TRUE"
		if c.join == query.JoinInner {
			on = a + ".pgrst_n > 0"
		}
		aggs = append(aggs, "pg_catalog.count(*) AS pgrst_n")
		return joinKw + " (SELECT " + strings.Join(aggs, ", ") + " FROM (" + inner + ") AS " + a + ") AS " + a + " ON " + on, entries, nil
	}
	j := joinKw + " (SELECT json_agg(" + a + ")::jsonb AS " + a + " FROM (" + inner + ") AS " + a + ") AS " + a
	if c.join == query.JoinInner {
		j += " ON " + a + "." + a + " IS NOT NULL"
	} else {
		j += " ON TRUE"
	}
	if !emptyEmbed(c) {
		entries = append(entries, selectEntry{sql: "COALESCE(" + a + "." + a + ", '[]') AS " + ident(c.outName())})
	}
	return j, entries, nil
}

// orderTail is an ORDER BY term's direction and nulls placement.
func orderTail(t query.OrderTerm) string {
	var s string
	switch t.Dir {
	case query.DirAsc:
		s = " ASC"
	case query.DirDesc:
		s = " DESC"
	}
	switch t.Nulls {
	case query.NullsFirst:
		s += " NULLS FIRST"
	case query.NullsLast:
		s += " NULLS LAST"
	}
	return s
}
