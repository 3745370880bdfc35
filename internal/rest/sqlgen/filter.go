package sqlgen

import (
	"strings"

	"github.com/madbase/madbase/internal/rest/query"
)

var simpleOps = map[query.Operator]string{
	query.OpEq: "=", query.OpNeq: "<>", query.OpGt: ">", query.OpGte: ">=", query.OpLt: "<", query.OpLte: "<=",
	query.OpLike: "LIKE", query.OpIlike: "ILIKE", query.OpMatch: "~", query.OpImatch: "~*",
	query.OpIsDistinct: "IS DISTINCT FROM",
	query.OpCs:         "@>", query.OpCd: "<@", query.OpOv: "&&", query.OpSl: "<<", query.OpSr: ">>",
	query.OpNxr: "&<", query.OpNxl: "&>", query.OpAdj: "-|-",
}

var ftsFuncs = map[query.Operator]string{
	query.OpFts: "to_tsquery", query.OpPlfts: "plainto_tsquery",
	query.OpPhfts: "phraseto_tsquery", query.OpWfts: "websearch_to_tsquery",
}

// filter renders one condition. Values are bound untyped so PostgreSQL
// infers their type from the column and reports bad input itself.
func (b *builder) filter(n *node, f query.Filter) (string, error) {
	col := b.fieldExpr(n, f.Field)
	var e string
	switch {
	case f.Op == query.OpIn:
		e = col + " = ANY(" + b.arg(arrayLiteral(f.List)) + ")"
	case f.Op == query.OpIs:
		switch f.Value {
		case query.IsNull:
			e = col + " IS NULL"
		case query.IsNotNull:
			e = col + " IS NOT NULL"
		case query.IsTrue:
			e = col + " IS TRUE"
		case query.IsFalse:
			e = col + " IS FALSE"
		default:
			e = col + " IS UNKNOWN"
		}
	case f.Op.FTS():
		target := col
		wrap := len(f.Field.JSONPath) > 0
		if n.table != nil && !wrap {
			if c, ok := n.table.Column(f.Field.Name); ok && c.Type != "tsvector" {
				wrap = true
			}
		}
		if f.Lang != "" {
			if wrap {
				target = "to_tsvector(" + b.arg(f.Lang) + "::regconfig, " + col + ")"
			}
			e = target + " @@ " + ftsFuncs[f.Op] + "(" + b.arg(f.Lang) + "::regconfig, " + b.arg(f.Value) + "::text)"
		} else {
			if wrap {
				target = "to_tsvector(" + col + ")"
			}
			e = target + " @@ " + ftsFuncs[f.Op] + "(" + b.arg(f.Value) + "::text)"
		}
	default:
		op, ok := simpleOps[f.Op]
		if !ok {
			return "", &query.Error{Status: 400, Code: "PGRST100", Message: "unknown operator " + string(f.Op)}
		}
		v := f.Value
		if f.Op == query.OpLike || f.Op == query.OpIlike {
			v = strings.ReplaceAll(v, "*", "%")
		}
		switch f.Quant {
		case query.QuantAny:
			e = col + " " + op + " ANY(" + b.arg(v) + ")"
		case query.QuantAll:
			e = col + " " + op + " ALL(" + b.arg(v) + ")"
		default:
			e = col + " " + op + " " + b.arg(v)
		}
	}
	if f.Not {
		return "NOT " + e, nil
	}
	return e, nil
}

// logic renders an and/or tree; rel.is.null items on embeds become
// (anti-)semi-join conditions as top-level filters do.
func (b *builder) logic(n *node, l query.Logic) (string, error) {
	if l.Filter != nil {
		if nf := embedFilter(n, *l.Filter); nf != nil {
			return nullCheck(*nf), nil
		}
		return b.filter(n, *l.Filter)
	}
	parts := make([]string, 0, len(l.Children))
	for _, c := range l.Children {
		p, err := b.logic(n, c)
		if err != nil {
			return "", err
		}
		parts = append(parts, p)
	}
	sep := " AND "
	if l.Or {
		sep = " OR "
	}
	e := "(" + strings.Join(parts, sep) + ")"
	if l.Not {
		return "NOT " + e, nil
	}
	return e, nil
}

// arrayLiteral builds a PostgreSQL array literal of text items, every item
// double-quoted with " and \ escaped.
func arrayLiteral(items []string) string {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, it := range items {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte('"')
		for _, r := range it {
			if r == '"' || r == '\\' {
				sb.WriteByte('\\')
			}
			sb.WriteRune(r)
		}
		sb.WriteByte('"')
	}
	sb.WriteByte('}')
	return sb.String()
}

// nullCheck tests whether an embed matched: the lateral's aggregate column
// for to-many (json_agg of no rows is NULL), its whole row for to-one
// (NULL when the LEFT JOIN found nothing).
func nullCheck(nf nullFilter) string {
	a := nf.child.aggAlias
	if !nf.child.rel.ToOne() {
		a += "." + a
	}
	if nf.not {
		return a + " IS DISTINCT FROM NULL"
	}
	return a + " IS NOT DISTINCT FROM NULL"
}

// referenced reports whether a node's filters or logic trees test embed c.
func referenced(n, c *node) bool {
	for _, nf := range n.nullFilters {
		if nf.child == c {
			return true
		}
	}
	var walk func(l query.Logic) bool
	walk = func(l query.Logic) bool {
		if l.Filter != nil {
			nf := embedFilter(n, *l.Filter)
			return nf != nil && nf.child == c
		}
		for _, ch := range l.Children {
			if walk(ch) {
				return true
			}
		}
		return false
	}
	for _, l := range n.logic {
		if walk(l) {
			return true
		}
	}
	return false
}
