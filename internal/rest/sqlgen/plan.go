package sqlgen

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/madbase/madbase/internal/rest/query"
	"github.com/madbase/madbase/internal/rest/schema"
)

// node is one relation of the read tree: the root or an embed.
type node struct {
	table *schema.Table // nil when the columns are unknown (RPC records)
	qname schema.QName
	ref   string // SQL qualifier of its columns
	from  string // FROM clause body
	depth int

	relName  string // relation as written in select
	alias    string
	rel      *schema.Relationship // to the parent (nil at the root)
	aggAlias string
	join     query.JoinType
	spread   bool

	items    []query.SelectItem // fields, stars and count()
	children []*node

	filters     []query.Filter
	logic       []query.Logic
	nullFilters []nullFilter
	order       []query.OrderTerm
	rng         query.PathRange
}

type nullFilter struct {
	child *node
	not   bool // rel=not.is.null (embed must exist)
}

func (n *node) outName() string {
	if n.alias != "" {
		return n.alias
	}
	return n.relName
}

// buildTree resolves the select tree from the root relation, attaching
// relationships, filters, logic trees, orders and ranges to their nodes.
func (b *builder) buildTree(root *node, p *query.Params, rootFilters bool) error {
	if err := b.addItems(root, p.Select); err != nil {
		return err
	}
	for _, f := range p.Filters {
		if len(f.Path) == 0 && !rootFilters {
			continue
		}
		n, err := findNode(root, f.Path)
		if err != nil {
			return err
		}
		if c := embedFilter(n, f.Filter); c != nil {
			n.nullFilters = append(n.nullFilters, *c)
			continue
		}
		n.filters = append(n.filters, f.Filter)
	}
	for _, l := range p.Logic {
		if len(l.Path) == 0 && !rootFilters {
			continue
		}
		n, err := findNode(root, l.Path)
		if err != nil {
			return err
		}
		n.logic = append(n.logic, l.Tree)
	}
	for _, o := range p.Order {
		n, err := findNode(root, o.Path)
		if err != nil {
			return err
		}
		for _, t := range o.Terms {
			if t.Relation == "" {
				continue
			}
			c := childNamed(n, t.Relation)
			if c == nil {
				return notEmbedded(t.Relation)
			}
			if !c.rel.ToOne() {
				return &query.Error{Status: 400, Code: "PGRST118",
					Message: fmt.Sprintf("A related order on '%s' is not possible", c.outName()),
					Details: fmt.Sprintf("'%s' and '%s' do not form a many-to-one or one-to-one relationship", n.qname.Name, c.outName())}
			}
		}
		n.order = o.Terms
	}
	for _, r := range p.Ranges {
		n, err := findNode(root, r.Path)
		if err != nil {
			return err
		}
		n.rng = r
	}
	return nil
}

func (b *builder) addItems(n *node, items []query.SelectItem) error {
	if n.items == nil {
		n.items = make([]query.SelectItem, 0, len(items))
	}
	for _, it := range items {
		if it.Kind != query.ItemEmbed && it.Kind != query.ItemSpread {
			if it.Agg != "" && !b.req.Aggregates {
				return &query.Error{Status: 400, Code: "PGRST123", Message: "Use of aggregate functions is not allowed"}
			}
			if it.Cast != "" && !validType(it.Cast) {
				return castErr(it.Cast)
			}
			if it.AggCast != "" && !validType(it.AggCast) {
				return castErr(it.AggCast)
			}
			n.items = append(n.items, it)
			continue
		}
		rel, err := b.snap.FindRelationship(n.qname, it.Relation, it.Hint)
		if err != nil {
			return err
		}
		ft, ok := b.snap.LookupTable(rel.Foreign)
		if !ok {
			return fmt.Errorf("sqlgen: relationship to unknown table %v", rel.Foreign)
		}
		c := &node{
			table: ft, qname: rel.Foreign, depth: n.depth + 1,
			relName: it.Relation, alias: it.Alias, rel: rel, join: it.Join,
			spread: it.Kind == query.ItemSpread,
		}
		c.aggAlias = ident(n.qname.Name + "_" + c.outName() + "_" + strconv.Itoa(c.depth))
		switch {
		case rel.Function != nil:
			// A computed relationship calls the function with the parent's row.
			c.ref = ident(rel.Foreign.Name + "_" + strconv.Itoa(c.depth))
			c.from = ident(rel.Function.Schema, rel.Function.Name) + "(" + n.ref + ".*) AS " + c.ref
		case rel.Cardinality == schema.ManyToMany:
			c.ref = ident(rel.Foreign.Schema, rel.Foreign.Name)
			c.from = c.ref + ", " + ident(rel.Junction.Table.Schema, rel.Junction.Table.Name)
		default:
			c.ref = ident(rel.Foreign.Name + "_" + strconv.Itoa(c.depth))
			c.from = ident(rel.Foreign.Schema, rel.Foreign.Name) + " AS " + c.ref
		}
		if err := b.addItems(c, it.Children); err != nil {
			return err
		}
		if c.spread && !rel.ToOne() && hasAgg(c) {
			return &query.Error{Status: 400, Code: "PGRST127", Message: "Feature not implemented",
				Details: "Aggregates are not implemented for one-to-many or many-to-many spreads."}
		}
		n.children = append(n.children, c)
	}
	return nil
}

func hasAgg(n *node) bool {
	for _, it := range n.items {
		if it.Agg != "" {
			return true
		}
	}
	return false
}

// childNamed finds an embed by alias, or by relation name (accepted even
// when aliased, as PostgREST v14 does).
func childNamed(n *node, name string) *node {
	for _, c := range n.children {
		if c.alias == name {
			return c
		}
	}
	for _, c := range n.children {
		if c.relName == name {
			return c
		}
	}
	return nil
}

func findNode(root *node, path query.Path) (*node, error) {
	n := root
	for _, seg := range path {
		c := childNamed(n, seg)
		if c == nil {
			return nil, notEmbedded(strings.Join(path, "."))
		}
		n = c
	}
	return n, nil
}

// embedFilter recognises rel=is.null / rel=not.is.null on an embed.
func embedFilter(n *node, f query.Filter) *nullFilter {
	if f.Op != query.OpIs || len(f.Field.JSONPath) > 0 || (f.Value != query.IsNull && f.Value != query.IsNotNull) {
		return nil
	}
	c := childNamed(n, f.Field.Name)
	if c == nil {
		return nil
	}
	if n.table != nil {
		if _, isCol := n.table.Column(f.Field.Name); isCol {
			return nil
		}
	}
	return &nullFilter{child: c, not: f.Not != (f.Value == query.IsNotNull)}
}
