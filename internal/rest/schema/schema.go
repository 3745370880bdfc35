package schema

import (
	"slices"
	"sort"
)

// QName is a schema-qualified relation or function name.
type QName struct {
	Schema, Name string
}

// Column of a table or view, in attnum order.
type Column struct {
	Name string
	// Type is the SQL type as format_type prints it ("integer",
	// "character varying(20)", "text[]"); used for casts of request bodies.
	Type     string
	Nullable bool
	// Default is the default expression ("" when none); identity columns get
	// nextval() of their sequence.
	Default   string
	Generated bool
}

// Table is an exposed table, view, materialized view or foreign table.
type Table struct {
	Schema, Name string
	IsView       bool
	Insertable   bool
	Updatable    bool
	Deletable    bool
	Columns      []Column
	// PK columns, sorted; views inherit the PK of their base table when all
	// its columns are exposed.
	PK []string
	// Uniques holds the column sets of UNIQUE constraints (PK excluded).
	Uniques [][]string
}

// QName returns the table's qualified name.
func (t *Table) QName() QName { return QName{t.Schema, t.Name} }

// Column returns the named column.
func (t *Table) Column(name string) (*Column, bool) {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i], true
		}
	}
	return nil, false
}

// ForeignKey is a foreign key between exposed relations, after tracing views
// (a view exposing all FK columns of its base table carries the FK).
type ForeignKey struct {
	Name           string
	Table          QName
	Columns        []string
	Foreign        QName
	ForeignColumns []string
}

// Cardinality of a relationship, worded as in PGRST201 details.
type Cardinality string

// Cardinalities.
const (
	ManyToOne  Cardinality = "many-to-one"
	OneToMany  Cardinality = "one-to-many"
	OneToOne   Cardinality = "one-to-one"
	ManyToMany Cardinality = "many-to-many"
)

// ColumnPair joins a column of one side to a column of the other.
type ColumnPair struct {
	Left, Right string
}

// Relationship from Table (the origin) to Foreign (the embedded side).
type Relationship struct {
	Table         QName
	Foreign       QName
	ForeignIsView bool
	Cardinality   Cardinality
	IsSelf        bool
	// Constraint is the FK name (empty for many-to-many).
	Constraint string
	// Columns pairs origin columns (Left) with foreign columns (Right).
	Columns []ColumnPair
	// Parent is set on the one-to-one relationship seen from the referenced side.
	Parent bool
	// Junction is set for many-to-many.
	Junction *Junction
	// Function is set for a computed relationship: a function taking the
	// origin's row and returning rows of Foreign (SETOF: to-many).
	Function *QName
}

// ToOne reports whether the embed yields one object (or null) rather than an array.
func (r *Relationship) ToOne() bool {
	return r.Cardinality == ManyToOne || r.Cardinality == OneToOne
}

// Junction of a many-to-many relationship.
type Junction struct {
	Table QName
	// Constraint1 is the junction's FK to the origin, Constraint2 to the foreign table.
	Constraint1, Constraint2 string
	// OriginColumns pairs origin columns (Left) with junction columns (Right).
	OriginColumns []ColumnPair
	// ForeignColumns pairs junction columns (Left) with foreign columns (Right).
	ForeignColumns []ColumnPair
}

// Volatility of a function.
type Volatility string

// Volatilities.
const (
	Immutable Volatility = "i"
	Stable    Volatility = "s"
	Volatile  Volatility = "v"
)

// Param is an input parameter of a function.
type Param struct {
	Name       string // "" when unnamed
	Type       string // format_type of the parameter type
	HasDefault bool
	Variadic   bool
}

// ReturnKind classifies what a function returns.
type ReturnKind int

// Return kinds.
const (
	ReturnsScalar    ReturnKind = iota // base, enum, domain, array, ... type
	ReturnsComposite                   // a row type, or OUT parameters
	ReturnsRecord                      // bare record / SETOF record
	ReturnsVoid
)

// Function is a callable function in an exposed schema.
type Function struct {
	Schema, Name string
	Params       []Param
	ReturnType   string // format_type of the return type
	Return       ReturnKind
	ReturnsSet   bool
	// ReturnTable names the relation whose row type is returned (nil when
	// the function does not return a table or view row type).
	ReturnTable *QName
	Volatility  Volatility
	// HasVariadic is set when the last parameter is VARIADIC.
	HasVariadic bool
	// RowArg names the relation whose row type is the function's single
	// parameter (computed fields and computed relationships take one).
	RowArg *QName
}

// QName returns the function's qualified name.
func (f *Function) QName() QName { return QName{f.Schema, f.Name} }

// Catalog is the raw input of a Snapshot: what Load reads from the
// database, or a hand-written fixture in tests.
type Catalog struct {
	Schemas     []string
	Tables      []*Table
	ForeignKeys []ForeignKey
	Functions   []*Function
}

// Snapshot is an immutable schema cache.
type Snapshot struct {
	schemas []string
	tables  map[QName]*Table
	rels    map[QName][]*Relationship
	funcs   map[QName][]*Function
}

// Schemas returns the exposed schemas, in configuration order.
func (s *Snapshot) Schemas() []string { return slices.Clone(s.schemas) }

// LookupTable returns the table without producing an error.
func (s *Snapshot) LookupTable(q QName) (*Table, bool) {
	t, ok := s.tables[q]
	return t, ok
}

// Tables returns every exposed table and view, sorted by name.
func (s *Snapshot) Tables() []*Table {
	out := make([]*Table, 0, len(s.tables))
	for _, t := range s.tables {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Schema != out[j].Schema {
			return out[i].Schema < out[j].Schema
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Relationships returns the relationships whose origin is q.
func (s *Snapshot) Relationships(q QName) []*Relationship { return s.rels[q] }

// Functions returns the overloads of a function.
func (s *Snapshot) Functions(q QName) []*Function { return s.funcs[q] }

// FunctionNames returns the names of the functions of a schema, sorted.
func (s *Snapshot) FunctionNames(schemaName string) []string {
	var out []string
	for q := range s.funcs {
		if q.Schema == schemaName {
			out = append(out, q.Name)
		}
	}
	slices.Sort(out)
	return out
}

// Build makes a Snapshot from a Catalog, deriving relationships: many-to-one
// and one-to-many from each FK (one-to-one both ways when the FK columns are
// also the PK or a UNIQUE key of the referencing table) and many-to-many
// through every junction whose two FKs' columns are all in its PK.
// Relationships involving relations outside the catalog's tables (which
// are only the exposed ones) are dropped.
func Build(c Catalog) *Snapshot {
	s := &Snapshot{
		schemas: slices.Clone(c.Schemas),
		tables:  map[QName]*Table{},
		rels:    map[QName][]*Relationship{},
		funcs:   map[QName][]*Function{},
	}
	for _, t := range c.Tables {
		s.tables[t.QName()] = t
	}
	for _, f := range c.Functions {
		s.funcs[f.QName()] = append(s.funcs[f.QName()], f)
	}
	fks := slices.Clone(c.ForeignKeys)
	sort.SliceStable(fks, func(i, j int) bool {
		a, b := fks[i], fks[j]
		if a.Table != b.Table {
			return a.Table.Schema+"."+a.Table.Name < b.Table.Schema+"."+b.Table.Name
		}
		return a.Name < b.Name
	})
	for _, fk := range fks {
		child, ok1 := s.tables[fk.Table]
		parent, ok2 := s.tables[fk.Foreign]
		if !ok1 || !ok2 || len(fk.Columns) != len(fk.ForeignColumns) || len(fk.Columns) == 0 {
			continue
		}
		self := fk.Table == fk.Foreign
		fwd := make([]ColumnPair, len(fk.Columns))
		back := make([]ColumnPair, len(fk.Columns))
		for i := range fk.Columns {
			fwd[i] = ColumnPair{fk.Columns[i], fk.ForeignColumns[i]}
			back[i] = ColumnPair{fk.ForeignColumns[i], fk.Columns[i]}
		}
		if isKey(child, fk.Columns) {
			s.add(&Relationship{Table: fk.Table, Foreign: fk.Foreign, ForeignIsView: parent.IsView, Cardinality: OneToOne, IsSelf: self, Constraint: fk.Name, Columns: fwd})
			s.add(&Relationship{Table: fk.Foreign, Foreign: fk.Table, ForeignIsView: child.IsView, Cardinality: OneToOne, IsSelf: self, Constraint: fk.Name, Columns: back, Parent: true})
		} else {
			s.add(&Relationship{Table: fk.Table, Foreign: fk.Foreign, ForeignIsView: parent.IsView, Cardinality: ManyToOne, IsSelf: self, Constraint: fk.Name, Columns: fwd})
			s.add(&Relationship{Table: fk.Foreign, Foreign: fk.Table, ForeignIsView: child.IsView, Cardinality: OneToMany, IsSelf: self, Constraint: fk.Name, Columns: back})
		}
	}
	// Many-to-many through junctions.
	byChild := map[QName][]ForeignKey{}
	for _, fk := range fks {
		if _, ok := s.tables[fk.Foreign]; ok {
			byChild[fk.Table] = append(byChild[fk.Table], fk)
		}
	}
	for _, jt := range s.Tables() {
		if len(jt.PK) == 0 {
			continue
		}
		list := byChild[jt.QName()]
		for i, fk1 := range list {
			for j, fk2 := range list {
				if i == j || !subset(append(slices.Clone(fk1.Columns), fk2.Columns...), jt.PK) {
					continue
				}
				j1 := make([]ColumnPair, len(fk1.Columns))
				for k := range fk1.Columns {
					j1[k] = ColumnPair{fk1.ForeignColumns[k], fk1.Columns[k]}
				}
				j2 := make([]ColumnPair, len(fk2.Columns))
				for k := range fk2.Columns {
					j2[k] = ColumnPair{fk2.Columns[k], fk2.ForeignColumns[k]}
				}
				s.add(&Relationship{
					Table: fk1.Foreign, Foreign: fk2.Foreign, ForeignIsView: s.tables[fk2.Foreign].IsView,
					Cardinality: ManyToMany, IsSelf: fk1.Foreign == fk2.Foreign,
					Junction: &Junction{Table: jt.QName(), Constraint1: fk1.Name, Constraint2: fk2.Name, OriginColumns: j1, ForeignColumns: j2},
				})
			}
		}
	}
	// Computed relationships: fn(origin row) RETURNS [SETOF] foreign row.
	// One replaces the detected relationships of its origin that carry the
	// same name.
	for _, f := range c.Functions {
		if f.RowArg == nil || f.ReturnTable == nil || len(f.Params) != 1 {
			continue
		}
		origin, foreign := *f.RowArg, *f.ReturnTable
		ft, ok1 := s.tables[foreign]
		if _, ok2 := s.tables[origin]; !ok1 || !ok2 {
			continue
		}
		card := ManyToOne
		if f.ReturnsSet {
			card = OneToMany
		}
		kept := s.rels[origin][:0]
		for _, r := range s.rels[origin] {
			if r.Function != nil || r.Foreign.Name != f.Name {
				kept = append(kept, r)
			}
		}
		s.rels[origin] = kept
		fq := f.QName()
		s.add(&Relationship{Table: origin, Foreign: foreign, ForeignIsView: ft.IsView, Cardinality: card,
			IsSelf: origin == foreign, Function: &fq})
	}
	return s
}

func (s *Snapshot) add(r *Relationship) { s.rels[r.Table] = append(s.rels[r.Table], r) }

// isKey reports whether cols are exactly the PK or a UNIQUE key of t.
func isKey(t *Table, cols []string) bool {
	if sameSet(cols, t.PK) {
		return true
	}
	for _, u := range t.Uniques {
		if sameSet(cols, u) {
			return true
		}
	}
	return false
}

func sameSet(a, b []string) bool {
	return len(a) > 0 && subset(a, b) && subset(b, a)
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
