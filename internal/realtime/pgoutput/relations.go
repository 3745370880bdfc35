package pgoutput

import "fmt"

// Relations remembers the Relation and Type messages of one replication
// session, so that tuples, which carry only a relation id, can be named.
// It is not safe for concurrent use.
type Relations struct {
	rels  map[uint32]*Relation
	types map[uint32]*Type
}

// NewRelations returns an empty cache.
func NewRelations() *Relations {
	return &Relations{rels: map[uint32]*Relation{}, types: map[uint32]*Type{}}
}

// Observe records m if it is a *Relation or *Type, replacing an earlier
// definition with the same id; it reports whether it did.
func (c *Relations) Observe(m Message) bool {
	switch m := m.(type) {
	case *Relation:
		c.rels[m.ID] = m
	case *Type:
		c.types[m.OID] = m
	default:
		return false
	}
	return true
}

// Get returns the latest definition of relation id.
func (c *Relations) Get(id uint32) (*Relation, bool) {
	r, ok := c.rels[id]
	return r, ok
}

// TypeName returns the schema and name a Type message gave for oid. Built-in
// types are never announced; callers resolve those from pg_type.
func (c *Relations) TypeName(oid uint32) (schema, name string, ok bool) {
	t, ok := c.types[oid]
	if !ok {
		return "", "", false
	}
	return t.Schema, t.Name, true
}

// Field is one named column value of a row image.
type Field struct {
	Name    string
	TypeOID uint32
	TypeMod int32
	Key     bool   // part of the replica identity
	Kind    byte   // TupleNull, TupleUnchanged, TupleText or TupleBinary
	Data    []byte // the text (or binary) value; nil for null and unchanged
}

// IsNull reports whether the value is SQL NULL.
func (f Field) IsNull() bool { return f.Kind == TupleNull }

// Text returns the value as text; it is meaningful for TupleText only.
func (f Field) Text() string { return string(f.Data) }

// Fields pairs a tuple of relation id with that relation's columns. A
// tuple for an unknown relation, or one whose width differs from the
// relation, is an error: the cache and the stream disagree.
func (c *Relations) Fields(id uint32, t Tuple) ([]Field, error) {
	rel, ok := c.rels[id]
	if !ok {
		return nil, fmt.Errorf("pgoutput: tuple for unknown relation %d", id)
	}
	return rel.Fields(t)
}

// Fields pairs t with r's columns.
func (r *Relation) Fields(t Tuple) ([]Field, error) {
	if len(t) != len(r.Columns) {
		return nil, fmt.Errorf("pgoutput: relation %s.%s has %d columns, tuple has %d", r.Schema, r.Name, len(r.Columns), len(t))
	}
	out := make([]Field, len(t))
	for i, v := range t {
		col := r.Columns[i]
		out[i] = Field{Name: col.Name, TypeOID: col.TypeOID, TypeMod: col.TypeMod, Key: col.Key, Kind: v.Kind, Data: v.Data}
	}
	return out, nil
}
