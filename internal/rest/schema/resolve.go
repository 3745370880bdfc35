package schema

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/madbase/madbase/internal/rest/query"
)

// Table returns the exposed table or view schema.name, or PGRST205 with a
// "Perhaps you meant" hint naming the closest table of that schema.
func (s *Snapshot) Table(schemaName, name string) (*Table, error) {
	if t, ok := s.tables[QName{schemaName, name}]; ok {
		return t, nil
	}
	var names []string
	for q := range s.tables {
		if q.Schema == schemaName {
			names = append(names, q.Name)
		}
	}
	var hint any
	if best, ok := closest(name, names); ok {
		hint = fmt.Sprintf("Perhaps you meant the table '%s.%s'", schemaName, best)
	}
	return nil, &query.Error{
		Status:  404,
		Code:    "PGRST205",
		Message: fmt.Sprintf("Could not find the table '%s.%s' in the schema cache", schemaName, name),
		Hint:    hint,
	}
}

// FindRelationship resolves an embed target (and optional hint) from the
// origin relation the way PostgREST does: by foreign table name, FK
// constraint name or single FK column, with hints naming a constraint, a
// column of either side or a junction table. Self-references follow
// PostgREST's convention: the table name means the children (one-to-many),
// the FK column name means the parent (many-to-one).
func (s *Snapshot) FindRelationship(origin QName, target, hint string) (*Relationship, error) {
	var found []*Relationship
	for _, r := range s.rels[origin] {
		// Only relations of the request's schema can be embedded.
		if r.Foreign.Schema == origin.Schema && matchRel(r, target, hint) {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, s.noRelError(origin, target, hint)
	}
	return nil, ambiguousError(origin, target, found)
}

func matchRel(r *Relationship, target, hint string) bool {
	if r.Function != nil {
		return target == r.Function.Name
	}
	singleOrigin := func(h string) bool { return len(r.Columns) == 1 && r.Columns[0].Left == h }
	singleForeign := func(h string) bool { return len(r.Columns) == 1 && r.Columns[0].Right == h }
	isCons := func(h string) bool { return r.Cardinality != ManyToMany && r.Constraint == h }
	if r.IsSelf {
		if hint == "" {
			return (target == r.Foreign.Name && r.Cardinality == OneToMany) ||
				(singleOrigin(target) && r.Cardinality == ManyToOne)
		}
		return target == r.Foreign.Name && r.Cardinality == OneToMany && singleForeign(hint)
	}
	if hint == "" {
		return target == r.Foreign.Name ||
			(isCons(target) && !r.ForeignIsView) ||
			(r.Cardinality != ManyToMany && singleOrigin(target) && !r.ForeignIsView)
	}
	return target == r.Foreign.Name && (isCons(hint) ||
		(r.Cardinality != ManyToMany && (singleOrigin(hint) || singleForeign(hint))) ||
		(r.Junction != nil && r.Junction.Table.Name == hint))
}

func (s *Snapshot) noRelError(origin QName, target, hint string) error {
	using := ""
	if hint != "" {
		using = fmt.Sprintf(" using the hint '%s'", hint)
	}
	var hintText any
	var names []string
	for _, r := range s.rels[origin] {
		if !slices.Contains(names, r.Foreign.Name) {
			names = append(names, r.Foreign.Name)
		}
	}
	if best, ok := closest(target, names); ok && best != target {
		hintText = fmt.Sprintf("Perhaps you meant '%s' instead of '%s'.", best, target)
	}
	return &query.Error{
		Status:  400,
		Code:    "PGRST200",
		Message: fmt.Sprintf("Could not find a relationship between '%s' and '%s' in the schema cache", origin.Name, target),
		Details: fmt.Sprintf("Searched for a foreign key relationship between '%s' and '%s'%s in the schema '%s', but no matches were found.", origin.Name, target, using, origin.Schema),
		Hint:    hintText,
	}
}

// RelationshipDetail is one element of PGRST201's details array.
type RelationshipDetail struct {
	Cardinality  string `json:"cardinality"`
	Embedding    string `json:"embedding"`
	Relationship string `json:"relationship"`
}

func ambiguousError(origin QName, target string, rels []*Relationship) error {
	details := make([]RelationshipDetail, 0, len(rels))
	hints := make([]string, 0, len(rels))
	for _, r := range rels {
		d := RelationshipDetail{
			Cardinality: string(r.Cardinality),
			Embedding:   fmt.Sprintf("%s with %s", r.Table.Name, r.Foreign.Name),
		}
		if r.Function != nil {
			d.Relationship = fmt.Sprintf("%s.%s", r.Function.Schema, r.Function.Name)
			hints = append(hints, fmt.Sprintf("'%s'", r.Function.Name))
		} else if j := r.Junction; j != nil {
			d.Relationship = fmt.Sprintf("%s using %s(%s) and %s(%s)", j.Table.Name,
				j.Constraint1, joinRight(j.OriginColumns), j.Constraint2, joinLeft(j.ForeignColumns))
			hints = append(hints, fmt.Sprintf("'%s!%s'", r.Foreign.Name, j.Table.Name))
		} else {
			d.Relationship = fmt.Sprintf("%s using %s(%s) and %s(%s)", r.Constraint, r.Table.Name, joinLeft(r.Columns), r.Foreign.Name, joinRight(r.Columns))
			hints = append(hints, fmt.Sprintf("'%s!%s'", r.Foreign.Name, r.Constraint))
		}
		details = append(details, d)
	}
	return &query.Error{
		Status:  300,
		Code:    "PGRST201",
		Message: fmt.Sprintf("Could not embed because more than one relationship was found for '%s' and '%s'", origin.Name, target),
		Details: details,
		Hint:    fmt.Sprintf("Try changing '%s' to one of the following: %s. Find the desired relationship in the 'details' key.", target, strings.Join(hints, ", ")),
	}
}

func joinLeft(p []ColumnPair) string {
	out := make([]string, len(p))
	for i := range p {
		out[i] = p[i].Left
	}
	return strings.Join(out, ", ")
}

func joinRight(p []ColumnPair) string {
	out := make([]string, len(p))
	for i := range p {
		out[i] = p[i].Right
	}
	return strings.Join(out, ", ")
}

// BodyKind says what kind of request body an RPC call carries, for the
// single-unnamed-parameter fallback.
type BodyKind int

// Body kinds.
const (
	BodyNone   BodyKind = iota // GET/HEAD: no fallback
	BodyJSON                   // application/json: json/jsonb parameter
	BodyText                   // text/plain: text parameter
	BodyXML                    // text/xml: xml parameter
	BodyBinary                 // application/octet-stream: bytea parameter
)

// FindFunction chooses the overload of schema.name whose parameter names
// fit argNames (required ones all present, the rest optional), falling back
// to a function with a single unnamed parameter of the body's type.
// No match → PGRST202 (404); several → PGRST203 (300).
func (s *Snapshot) FindFunction(q QName, argNames []string, body BodyKind) (*Function, error) {
	keys := uniqueSorted(argNames)
	var named, fallback []*Function
	for _, f := range s.funcs[q] {
		if !exposedSignature(f) {
			continue
		}
		if len(f.Params) == 1 && f.Params[0].Name == "" {
			if fitsUnnamed(f.Params[0].Type, body) {
				fallback = append(fallback, f)
			}
			continue
		}
		if body == BodyText || body == BodyXML || body == BodyBinary {
			continue
		}
		if matchesArgs(f, keys) {
			named = append(named, f)
		}
	}
	cands := named
	if len(cands) == 0 {
		cands = fallback
	}
	switch len(cands) {
	case 1:
		return cands[0], nil
	case 0:
		return nil, s.noFunctionError(q, keys)
	}
	sigs := make([]string, len(cands))
	for i, f := range cands {
		ps := make([]string, len(f.Params))
		for j, p := range f.Params {
			ps[j] = p.Name + " => " + p.Type
		}
		sigs[i] = fmt.Sprintf("%s.%s(%s)", f.Schema, f.Name, strings.Join(ps, ", "))
	}
	return nil, &query.Error{
		Status:  300,
		Code:    "PGRST203",
		Message: "Could not choose the best candidate function between: " + strings.Join(sigs, ", "),
		Hint:    "Try renaming the parameters or the function itself in the database so function overloading can be resolved",
	}
}

// exposedSignature: all parameters named, or exactly one unnamed parameter
// of a type PostgREST can pass a raw body to.
func exposedSignature(f *Function) bool {
	unnamed := 0
	for _, p := range f.Params {
		if p.Name == "" {
			unnamed++
		}
	}
	if unnamed == 0 {
		return true
	}
	if unnamed == 1 && len(f.Params) == 1 {
		switch f.Params[0].Type {
		case "json", "jsonb", "text", "xml", "bytea":
			return true
		}
	}
	return false
}

func fitsUnnamed(typ string, body BodyKind) bool {
	switch body {
	case BodyJSON:
		return typ == "json" || typ == "jsonb"
	case BodyText:
		return typ == "text"
	case BodyXML:
		return typ == "xml"
	case BodyBinary:
		return typ == "bytea"
	}
	return false
}

func matchesArgs(f *Function, keys []string) bool {
	if len(f.Params) == 0 {
		return len(keys) == 0
	}
	for _, k := range keys {
		found := false
		for _, p := range f.Params {
			if p.Name == k {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for _, p := range f.Params {
		if !p.HasDefault && !slices.Contains(keys, p.Name) {
			return false
		}
	}
	return true
}

func (s *Snapshot) noFunctionError(q QName, keys []string) error {
	msg := fmt.Sprintf("Could not find the function %s.%s(%s) in the schema cache", q.Schema, q.Name, strings.Join(keys, ", "))
	details := fmt.Sprintf("Searched for the function %s.%s with parameters %s or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.", q.Schema, q.Name, strings.Join(keys, ", "))
	if len(keys) == 0 {
		msg = fmt.Sprintf("Could not find the function %s.%s without parameters in the schema cache", q.Schema, q.Name)
		details = fmt.Sprintf("Searched for the function %s.%s without parameters or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.", q.Schema, q.Name)
	}
	var hint any
	if overloads := s.funcs[q]; len(overloads) > 0 {
		ps := make([]string, len(overloads[0].Params))
		for i, p := range overloads[0].Params {
			ps[i] = p.Name
		}
		hint = fmt.Sprintf("Perhaps you meant to call the function %s.%s(%s)", q.Schema, q.Name, strings.Join(ps, ", "))
	} else {
		var names []string
		for k := range s.funcs {
			if k.Schema == q.Schema {
				names = append(names, k.Name)
			}
		}
		if best, ok := closest(q.Name, names); ok {
			hint = fmt.Sprintf("Perhaps you meant to call the function %s.%s", q.Schema, best)
		}
	}
	return &query.Error{Status: 404, Code: "PGRST202", Message: msg, Details: details, Hint: hint}
}

func uniqueSorted(in []string) []string {
	out := slices.Clone(in)
	sort.Strings(out)
	return slices.Compact(out)
}

// closest returns the candidate most similar to name when the similarity
// (1 - edit distance / longer length) is at least one half.
func closest(name string, cands []string) (string, bool) {
	sort.Strings(cands)
	best, bestScore := "", 0.0
	for _, c := range cands {
		a, b := []rune(strings.ToLower(name)), []rune(strings.ToLower(c))
		longest := max(len(a), len(b))
		if longest == 0 {
			continue
		}
		score := 1 - float64(levenshtein(a, b))/float64(longest)
		if score > bestScore {
			best, bestScore = c, score
		}
	}
	return best, bestScore >= 0.5
}

func levenshtein(a, b []rune) int {
	if len(a) > 256 || len(b) > 256 {
		return max(len(a), len(b))
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
