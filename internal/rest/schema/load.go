package schema

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// Querier is what Load needs: *pgx.Conn, *pgxpool.Pool and pgx.Tx fit.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Load introspects the exposed schemas with five catalog queries (relations,
// columns, constraints, view definitions, functions) and builds a Snapshot.
// Privileges are not considered, as in PostgREST: execution reports them.
func Load(ctx context.Context, db Querier, schemas []string) (*Snapshot, error) {
	cat, err := LoadCatalog(ctx, db, schemas)
	if err != nil {
		return nil, err
	}
	return Build(*cat), nil
}

type relInfo struct {
	table *Table
	cols  map[int16]string // attnum → name
}

type constraint struct {
	name  string
	typ   string // p, u, f
	rel   uint32
	keys  []int16
	frel  uint32
	fkeys []int16
}

// LoadCatalog reads the raw catalog; Load builds it into a Snapshot.
func LoadCatalog(ctx context.Context, db Querier, schemas []string) (*Catalog, error) {
	rels := map[uint32]*relInfo{}
	var order []uint32
	rows, err := db.Query(ctx, relationsSQL, schemas)
	if err != nil {
		return nil, fmt.Errorf("schema: relations: %w", err)
	}
	for rows.Next() {
		var oid uint32
		t := &Table{}
		if err := rows.Scan(&oid, &t.Schema, &t.Name, &t.IsView, &t.Insertable, &t.Updatable, &t.Deletable); err != nil {
			rows.Close()
			return nil, fmt.Errorf("schema: relations: %w", err)
		}
		rels[oid] = &relInfo{table: t, cols: map[int16]string{}}
		order = append(order, oid)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("schema: relations: %w", err)
	}

	rows, err = db.Query(ctx, columnsSQL, schemas)
	if err != nil {
		return nil, fmt.Errorf("schema: columns: %w", err)
	}
	for rows.Next() {
		var oid uint32
		var num int16
		var c Column
		var def *string
		if err := rows.Scan(&oid, &num, &c.Name, &c.Type, &c.Nullable, &def, &c.Generated); err != nil {
			rows.Close()
			return nil, fmt.Errorf("schema: columns: %w", err)
		}
		if def != nil {
			c.Default = *def
		}
		if r, ok := rels[oid]; ok {
			r.table.Columns = append(r.table.Columns, c)
			r.cols[num] = c.Name
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("schema: columns: %w", err)
	}

	var cons []constraint
	rows, err = db.Query(ctx, constraintsSQL)
	if err != nil {
		return nil, fmt.Errorf("schema: constraints: %w", err)
	}
	for rows.Next() {
		var c constraint
		var frel *uint32
		if err := rows.Scan(&c.name, &c.typ, &c.rel, &c.keys, &frel, &c.fkeys); err != nil {
			rows.Close()
			return nil, fmt.Errorf("schema: constraints: %w", err)
		}
		if frel != nil {
			c.frel = *frel
		}
		cons = append(cons, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("schema: constraints: %w", err)
	}

	// View column origins: view oid → view attnum → (relation, attnum).
	views := map[uint32]map[int16]origin{}
	rows, err = db.Query(ctx, viewsSQL)
	if err != nil {
		return nil, fmt.Errorf("schema: views: %w", err)
	}
	for rows.Next() {
		var oid uint32
		var tree string
		if err := rows.Scan(&oid, &tree); err != nil {
			rows.Close()
			return nil, fmt.Errorf("schema: views: %w", err)
		}
		views[oid] = targetOrigins(tree)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("schema: views: %w", err)
	}

	funcs, err := loadFunctions(ctx, db, schemas)
	if err != nil {
		return nil, err
	}

	cat := &Catalog{Schemas: slices.Clone(schemas), Functions: funcs}
	for _, oid := range order {
		cat.Tables = append(cat.Tables, rels[oid].table)
	}

	// exposures[base][relation] maps base attnums to attnums of an exposed
	// relation showing them: the base itself (identity) and every exposed
	// view whose columns trace back to it.
	exposures := map[uint32]map[uint32]map[int16]int16{}
	expose := func(base, rel uint32, b, r int16) {
		if exposures[base] == nil {
			exposures[base] = map[uint32]map[int16]int16{}
		}
		if exposures[base][rel] == nil {
			exposures[base][rel] = map[int16]int16{}
		}
		if _, dup := exposures[base][rel][b]; !dup {
			exposures[base][rel][b] = r
		}
	}
	for _, oid := range order {
		ri := rels[oid]
		if _, isView := views[oid]; !isView {
			for num := range ri.cols {
				expose(oid, oid, num, num)
			}
			continue
		}
		nums := make([]int16, 0, len(ri.cols))
		for num := range ri.cols {
			nums = append(nums, num)
		}
		slices.Sort(nums)
		for _, num := range nums {
			if o, ok := resolveOrigin(views, oid, num); ok {
				expose(o.rel, oid, o.col, num)
			}
		}
	}
	// variants lists (relation, mapped column names) for a key of base.
	variants := func(base uint32, keys []int16) []keyVariant {
		var out []keyVariant
		relsOf := make([]uint32, 0, len(exposures[base]))
		for r := range exposures[base] {
			relsOf = append(relsOf, r)
		}
		slices.Sort(relsOf)
		for _, r := range relsOf {
			m := exposures[base][r]
			names := make([]string, 0, len(keys))
			for _, k := range keys {
				rn, ok := m[k]
				if !ok {
					break
				}
				names = append(names, rels[r].cols[rn])
			}
			if len(names) == len(keys) {
				out = append(out, keyVariant{rel: r, cols: names})
			}
		}
		return out
	}
	for _, c := range cons {
		switch c.typ {
		case "p", "u":
			for _, v := range variants(c.rel, c.keys) {
				t := rels[v.rel].table
				if c.typ == "p" {
					if len(t.PK) == 0 {
						t.PK = slices.Sorted(slices.Values(v.cols))
					}
				} else {
					t.Uniques = append(t.Uniques, v.cols)
				}
			}
		case "f":
			for _, ch := range variants(c.rel, c.keys) {
				for _, pa := range variants(c.frel, c.fkeys) {
					cat.ForeignKeys = append(cat.ForeignKeys, ForeignKey{
						Name:           c.name,
						Table:          rels[ch.rel].table.QName(),
						Columns:        ch.cols,
						Foreign:        rels[pa.rel].table.QName(),
						ForeignColumns: pa.cols,
					})
				}
			}
		}
	}
	return cat, nil
}

type keyVariant struct {
	rel  uint32
	cols []string
}

type origin struct {
	rel uint32
	col int16
}

// resolveOrigin follows a view column through chains of views to the base
// relation column it shows, if it shows one unchanged.
func resolveOrigin(views map[uint32]map[int16]origin, rel uint32, col int16) (origin, bool) {
	for range 32 { // guards against cycles
		o, ok := views[rel][col]
		if !ok || o.rel == 0 {
			return origin{}, false
		}
		if _, isView := views[o.rel]; !isView {
			return o, true
		}
		rel, col = o.rel, o.col
	}
	return origin{}, false
}

// targetOrigins extracts resno → (resorigtbl, resorigcol) of the top-level
// query's target list from a view's _RETURN rule (pg_node_tree text).
func targetOrigins(tree string) map[int16]origin {
	out := map[int16]origin{}
	depth := 0
	listDepth := -1 // depth inside the top-level :targetList, once found
	var cur map[string]string
	for i := 0; i < len(tree); i++ {
		ch := tree[i]
		switch ch {
		case '\\':
			i++
			continue
		case '(', '{':
			depth++
			if listDepth > 0 && ch == '{' && depth == listDepth+1 {
				cur = map[string]string{}
			}
			continue
		case ')', '}':
			if listDepth > 0 && ch == '}' && depth == listDepth+1 && cur != nil {
				if cur["resjunk"] != "true" {
					resno, e1 := strconv.ParseInt(cur["resno"], 10, 16)
					tbl, e2 := strconv.ParseUint(cur["resorigtbl"], 10, 32)
					col, e3 := strconv.ParseInt(cur["resorigcol"], 10, 16)
					if e1 == nil && e2 == nil && e3 == nil && tbl != 0 {
						out[int16(resno)] = origin{uint32(tbl), int16(col)}
					}
				}
				cur = nil
			}
			depth--
			if listDepth > 0 && depth < listDepth {
				return out
			}
			continue
		case ':':
			j := i + 1
			for j < len(tree) && tree[j] != ' ' && tree[j] != ')' && tree[j] != '}' {
				j++
			}
			key := tree[i+1 : j]
			if listDepth < 0 && depth == 2 && key == "targetList" {
				listDepth = depth + 1
				i = j - 1
				continue
			}
			if cur != nil && depth == listDepth+1 && j+1 < len(tree) && tree[j+1] != '{' && tree[j+1] != '(' {
				k := j + 1
				for k < len(tree) && tree[k] != ' ' && tree[k] != ')' && tree[k] != '}' {
					if tree[k] == '\\' {
						k++
					}
					k++
				}
				if j+1 <= len(tree) && k <= len(tree) && j < k {
					cur[key] = tree[min(j+1, k):k]
				}
				i = k - 1
				continue
			}
			i = j - 1
		}
	}
	return out
}

func loadFunctions(ctx context.Context, db Querier, schemas []string) ([]*Function, error) {
	rows, err := db.Query(ctx, functionsSQL, schemas)
	if err != nil {
		return nil, fmt.Errorf("schema: functions: %w", err)
	}
	defer rows.Close()
	var out []*Function
	for rows.Next() {
		f := &Function{}
		var names, modes, types []string
		var ndefaults int16
		var vol, typtype, rschema, rname, rkind, aschema, aname string
		if err := rows.Scan(&f.Schema, &f.Name, &names, &modes, &types, &ndefaults, &f.ReturnsSet, &vol,
			&f.ReturnType, &typtype, &rschema, &rname, &rkind, &f.HasVariadic, &aschema, &aname); err != nil {
			return nil, fmt.Errorf("schema: functions: %w", err)
		}
		f.Volatility = Volatility(vol)
		if aname != "" {
			f.RowArg = &QName{aschema, aname}
		}
		hasOut := false
		for i, typ := range types {
			mode := "i"
			if i < len(modes) {
				mode = modes[i]
			}
			name := ""
			if i < len(names) {
				name = names[i]
			}
			switch mode {
			case "i", "b", "v":
				f.Params = append(f.Params, Param{Name: name, Type: typ, Variadic: mode == "v"})
			}
			if mode == "o" || mode == "b" || mode == "t" {
				hasOut = true
			}
		}
		for i := len(f.Params) - int(ndefaults); i < len(f.Params); i++ {
			if i >= 0 {
				f.Params[i].HasDefault = true
			}
		}
		switch {
		case f.ReturnType == "void":
			f.Return = ReturnsVoid
		case typtype == "c":
			f.Return = ReturnsComposite
			if rkind != "c" && rname != "" {
				f.ReturnTable = &QName{rschema, rname}
			}
		case f.ReturnType == "record" && hasOut:
			f.Return = ReturnsComposite
		case f.ReturnType == "record":
			f.Return = ReturnsRecord
		default:
			f.Return = ReturnsScalar
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("schema: functions: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].Schema+"."+out[i].Name < out[j].Schema+"."+out[j].Name
	})
	return out, nil
}

var systemSchemas = "('pg_catalog', 'information_schema', 'pg_toast')"

// qualifiedType renders a type name that does not depend on the search_path
// the snapshot was loaded with: user types come schema-qualified, so casts
// built from them mean the same under the request's search_path.
func qualifiedType(oid, mod string) string {
	return "(SELECT CASE WHEN qn.nspname = 'pg_catalog' OR NOT pg_type_is_visible(qt.oid) THEN format_type(qt.oid, " + mod + ")" +
		" ELSE quote_ident(qn.nspname) || '.' || format_type(qt.oid, " + mod + ") END" +
		" FROM pg_type qt JOIN pg_namespace qn ON qn.oid = qt.typnamespace WHERE qt.oid = " + oid + ")"
}

var relationsSQL = `
SELECT c.oid, n.nspname::text, c.relname::text, c.relkind IN ('v', 'm'),
       c.relkind IN ('r', 'p') OR (pg_relation_is_updatable(c.oid::regclass, true) & 8) = 8,
       c.relkind IN ('r', 'p') OR (pg_relation_is_updatable(c.oid::regclass, true) & 4) = 4,
       c.relkind IN ('r', 'p') OR (pg_relation_is_updatable(c.oid::regclass, true) & 16) = 16
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p') AND NOT c.relispartition AND n.nspname = ANY($1)
ORDER BY n.nspname, c.relname`

var columnsSQL = `
SELECT a.attrelid, a.attnum, a.attname::text, ` + qualifiedType("a.atttypid", "a.atttypmod") + `,
       NOT (a.attnotnull OR (t.typtype = 'd' AND t.typnotnull)),
       CASE
         WHEN a.attidentity <> '' THEN format('nextval(%L::regclass)',
              pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname))
         WHEN a.attgenerated <> '' THEN NULL
         ELSE COALESCE(pg_get_expr(d.adbin, d.adrelid), CASE WHEN t.typtype = 'd' THEN t.typdefault END)
       END,
       a.attgenerated <> ''
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped
  AND c.relkind IN ('r', 'v', 'm', 'f', 'p') AND NOT c.relispartition AND n.nspname = ANY($1)
ORDER BY a.attrelid, a.attnum`

var constraintsSQL = `
SELECT c.conname::text, c.contype::text, c.conrelid, c.conkey,
       NULLIF(c.confrelid, 0), COALESCE(c.confkey, '{}')
FROM pg_constraint c
JOIN pg_class r ON r.oid = c.conrelid
JOIN pg_namespace n ON n.oid = r.relnamespace
WHERE c.contype IN ('p', 'u', 'f') AND c.conparentid = 0
  AND n.nspname NOT IN ` + systemSchemas + `
ORDER BY c.conrelid, c.conname`

var viewsSQL = `
SELECT c.oid, r.ev_action::text
FROM pg_rewrite r
JOIN pg_class c ON c.oid = r.ev_class
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE r.rulename = '_RETURN' AND c.relkind IN ('v', 'm')
  AND n.nspname NOT IN ` + systemSchemas

var functionsSQL = `
SELECT n.nspname::text, p.proname::text,
       COALESCE(p.proargnames, '{}')::text[],
       COALESCE(p.proargmodes::text[], '{}'),
       ARRAY(SELECT ` + qualifiedType("u.t", "NULL") + `
             FROM unnest(COALESCE(p.proallargtypes, p.proargtypes::oid[])) WITH ORDINALITY AS u(t, i)
             ORDER BY u.i),
       p.pronargdefaults, p.proretset, p.provolatile::text,
       ` + qualifiedType("p.prorettype", "NULL") + `, rt.typtype::text,
       COALESCE(rn.nspname::text, ''), COALESCE(rc.relname::text, ''), COALESCE(rc.relkind::text, ''),
       p.provariadic <> 0,
       COALESCE(an.nspname::text, ''), COALESCE(ac.relname::text, '')
FROM pg_proc p
LEFT JOIN pg_type at ON p.pronargs = 1 AND at.oid = p.proargtypes[0]
LEFT JOIN pg_class ac ON ac.oid = at.typrelid AND ac.relkind IN ('r', 'v', 'm', 'f', 'p')
LEFT JOIN pg_namespace an ON an.oid = ac.relnamespace
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_type rt ON rt.oid = p.prorettype
LEFT JOIN pg_class rc ON rc.oid = rt.typrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE n.nspname = ANY($1) AND p.prokind = 'f' AND p.prorettype <> 'pg_catalog.trigger'::regtype
ORDER BY n.nspname, p.proname, p.oid`
