package query

// Field is a column reference with an optional JSON path (col->a->>b).
type Field struct {
	Name     string
	JSONPath []JSONOp
}

// JSONOp is one step of a JSON path. Text marks ->> (text result) as opposed
// to -> (json result). Index marks a numeric key (->0, ->-1), which PostgREST
// applies as an array index.
type JSONOp struct {
	Text  bool
	Key   string
	Index bool
}

// ItemKind tells which kind of select item a SelectItem is.
type ItemKind int

// Select item kinds.
const (
	ItemField  ItemKind = iota // column, JSON path, cast, aggregate over a column
	ItemStar                   // *
	ItemCount                  // count() without a column
	ItemEmbed                  // rel(...)
	ItemSpread                 // ...rel(...)
)

// Aggregate functions allowed in select.
const (
	AggNone  = ""
	AggCount = "count"
	AggSum   = "sum"
	AggAvg   = "avg"
	AggMax   = "max"
	AggMin   = "min"
)

// JoinType is the join requested for an embedded resource.
type JoinType int

// Join types: JoinDefault behaves as JoinLeft.
const (
	JoinDefault JoinType = iota
	JoinInner
	JoinLeft
)

// SelectItem is one element of the select tree.
type SelectItem struct {
	Kind  ItemKind
	Alias string // output key override ("" when none)

	// ItemField / ItemCount.
	Field   Field
	Cast    string // type name after ::, applied before any aggregate
	Agg     string // Agg* constant
	AggCast string // type name after the aggregate

	// ItemEmbed / ItemSpread.
	Relation string
	Hint     string
	Join     JoinType
	Children []SelectItem
}

// Operator names a filter operator (eq, in, fts, ...).
type Operator string

// Filter operators.
const (
	OpEq         Operator = "eq"
	OpNeq        Operator = "neq"
	OpGt         Operator = "gt"
	OpGte        Operator = "gte"
	OpLt         Operator = "lt"
	OpLte        Operator = "lte"
	OpLike       Operator = "like"
	OpIlike      Operator = "ilike"
	OpMatch      Operator = "match"
	OpImatch     Operator = "imatch"
	OpIn         Operator = "in"
	OpIs         Operator = "is"
	OpIsDistinct Operator = "isdistinct"
	OpFts        Operator = "fts"
	OpPlfts      Operator = "plfts"
	OpPhfts      Operator = "phfts"
	OpWfts       Operator = "wfts"
	OpCs         Operator = "cs"
	OpCd         Operator = "cd"
	OpOv         Operator = "ov"
	OpSl         Operator = "sl"
	OpSr         Operator = "sr"
	OpNxr        Operator = "nxr"
	OpNxl        Operator = "nxl"
	OpAdj        Operator = "adj"
)

// Quantifier is the (any)/(all) modifier of a filter.
type Quantifier string

// Quantifiers.
const (
	QuantNone Quantifier = ""
	QuantAny  Quantifier = "any"
	QuantAll  Quantifier = "all"
)

// Values of the is operator, lower-cased.
const (
	IsNull    = "null"
	IsNotNull = "not_null"
	IsTrue    = "true"
	IsFalse   = "false"
	IsUnknown = "unknown"
)

// Filter is one condition col=[not.]op[(mod)].value.
type Filter struct {
	Field Field
	Not   bool
	Op    Operator
	Quant Quantifier
	// Lang is the text search configuration of fts operators ("" = default).
	Lang string
	// Value is the operand: verbatim for simple operators (a PG array literal
	// for quantified ones), the lower-cased keyword for is. Unused for in.
	Value string
	// List holds the items of an in list.
	List []string
}

// Logic is a node of an and/or tree; a leaf has Filter set.
type Logic struct {
	Or       bool // or(...) when true, and(...) otherwise
	Not      bool
	Children []Logic
	Filter   *Filter
}

// Direction of an order term ("" = database default, ascending).
type Direction string

// Directions.
const (
	DirDefault Direction = ""
	DirAsc     Direction = "asc"
	DirDesc    Direction = "desc"
)

// Nulls placement of an order term ("" = database default).
type Nulls string

// Null placements.
const (
	NullsDefault Nulls = ""
	NullsFirst   Nulls = "nullsfirst"
	NullsLast    Nulls = "nullslast"
)

// OrderTerm is one element of order=. Relation is set for a related order
// rel(col).desc on a to-one embed.
type OrderTerm struct {
	Relation string
	Field    Field
	Dir      Direction
	Nulls    Nulls
}

// Path names an embedded resource by the chain of aliases/relation names from
// the root; the root itself is the empty path.
type Path []string

// PathFilter is a filter applied at a node of the embed tree.
type PathFilter struct {
	Path   Path
	Filter Filter
}

// PathLogic is a logic tree applied at a node of the embed tree.
type PathLogic struct {
	Path Path
	Tree Logic
}

// PathOrder is the order of a node of the embed tree.
type PathOrder struct {
	Path  Path
	Terms []OrderTerm
}

// PathRange is limit/offset of a node. Limit is nil when absent.
type PathRange struct {
	Path   Path
	Offset int64
	Limit  *int64
}

// Arg is an RPC argument passed in the query string of a GET/HEAD call.
type Arg struct {
	Name  string
	Value string
}

// Params is a parsed query string.
type Params struct {
	// Select is the select tree; [*] when the parameter is absent or empty.
	Select []SelectItem
	// Filters in query-string order.
	Filters []PathFilter
	// Logic trees (or=, and=, not.or=, rel.or= ...) in query-string order.
	Logic []PathLogic
	// Order per path (first occurrence per path wins).
	Order []PathOrder
	// Ranges per path (limit/offset; the last value of each wins).
	Ranges []PathRange
	// Columns of columns=, nil when absent.
	Columns []string
	// OnConflict of on_conflict=, nil when absent.
	OnConflict []string
	// Args are the parameters that are not filters (no dot in the key, value
	// not starting with an operator), in query-string order, repeated names
	// kept (variadic arguments): RPC arguments, ignored for tables.
	Args []Arg
}

// RootFilters returns the filters at the root node.
func (p *Params) RootFilters() []Filter {
	var out []Filter
	for _, f := range p.Filters {
		if len(f.Path) == 0 {
			out = append(out, f.Filter)
		}
	}
	return out
}

// Range returns the limit/offset of the node at path (zero value if none).
func (p *Params) Range(path Path) PathRange {
	for i := len(p.Ranges) - 1; i >= 0; i-- {
		if samePath(p.Ranges[i].Path, path) {
			return p.Ranges[i]
		}
	}
	return PathRange{Path: path}
}

func samePath(a, b Path) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Equal reports whether two paths name the same node.
func (p Path) Equal(o Path) bool { return samePath(p, o) }

// HasRootConditions reports whether any filter or logic tree applies to the
// root node (PATCH/DELETE without one are refused, as Supabase's
// pg-safeupdate does).
func (p *Params) HasRootConditions() bool {
	for _, f := range p.Filters {
		if len(f.Path) == 0 {
			return true
		}
	}
	for _, l := range p.Logic {
		if len(l.Path) == 0 {
			return true
		}
	}
	return false
}
