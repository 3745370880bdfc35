package sqlgen

import (
	"strings"
)

// read: WITH pgrst_source AS (<root>) [, pgrst_source_count AS (<count>)]
// SELECT total, page total, body, response GUCs.
func (b *builder) read() (string, error) {
	t, err := b.snap.Table(b.req.Schema, b.req.Relation)
	if err != nil {
		return "", err
	}
	ref := ident(t.Schema, t.Name)
	root := &node{table: t, qname: t.QName(), ref: ref, from: ref, relName: t.Name}
	if err := b.buildTree(root, b.req.Params, true); err != nil {
		return "", err
	}
	if b.countOnly {
		return b.nodeSQL(root, nil, true, 0)
	}
	src, err := b.nodeSQL(root, nil, false, b.req.MaxRows)
	if err != nil {
		return "", err
	}
	var cnt string
	if b.req.Count {
		if cnt, err = b.nodeSQL(root, nil, true, 0); err != nil {
			return "", err
		}
	}
	var sb strings.Builder
	sb.Grow(len(src) + len(cnt) + 512) // 512: the rest of this statement
	sb.WriteString("WITH pgrst_source AS (")
	sb.WriteString(src)
	sb.WriteString(")")
	total := "NULL::int8"
	if b.req.Count {
		sb.WriteString(", pgrst_source_count AS (")
		sb.WriteString(cnt)
		sb.WriteString(")")
		total = "(SELECT pg_catalog.count(*) FROM pgrst_source_count)"
	}
	sb.WriteString(" SELECT ")
	sb.WriteString(total)
	sb.WriteString(" AS total_result_set, pg_catalog.count(_postgrest_t) AS page_total, ")
	sb.WriteString(b.bodyExpr("_postgrest_t", false))
	sb.WriteString(" AS body, ")
	sb.WriteString(resultTail)
	sb.WriteString(", NULL::int8 AS inserted, NULL::text AS location FROM (SELECT * FROM pgrst_source) _postgrest_t")
	return sb.String(), nil
}

// bodyExpr aggregates the rows of alias t into the response body text.
func (b *builder) bodyExpr(t string, scalar bool) string {
	if b.req.Head {
		return "''::text"
	}
	if b.req.CSV && !scalar {
		return "(SELECT coalesce(string_agg(pgrst_k, ','), '') FROM json_object_keys((array_agg(row_to_json(" + t + ")))[1]) AS pgrst_k)" +
			" || chr(10) || coalesce(string_agg(substring(" + t + "::text, 2, length(" + t + "::text) - 2), chr(10)), '')"
	}
	agg := "json_agg(" + t + ")"
	if scalar {
		agg = "json_agg(" + t + ".pgrst_scalar)"
	}
	if b.req.StripNulls {
		agg = "json_strip_nulls(" + agg + ")"
	}
	if b.req.Singular {
		return "coalesce((" + agg + "->0), 'null')::text"
	}
	return "coalesce(" + agg + ", '[]')::text"
}
