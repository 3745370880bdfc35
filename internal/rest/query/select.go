package query

import "strings"

// ParseSelect parses the value of select=. An empty value means *.
func ParseSelect(v string) ([]SelectItem, error) {
	if strings.TrimSpace(v) == "" {
		return []SelectItem{{Kind: ItemStar}}, nil
	}
	sc := newScanner("select parameter", v)
	items, err := sc.forest(0)
	if err != nil {
		return nil, err
	}
	if !sc.eof() {
		return nil, sc.fail("\",\"", "end of input")
	}
	return items, nil
}

// maxDepth bounds embed nesting so hostile input cannot exhaust the stack.
const maxDepth = 64

// forest parses comma-separated items until end of input or an unconsumed ')'.
func (sc *scanner) forest(depth int) ([]SelectItem, *Error) {
	if depth > maxDepth {
		return nil, sc.fail("less nesting")
	}
	items := make([]SelectItem, 0, sc.countItems())
	for {
		sc.skipSpaces()
		if depth > 0 && len(items) == 0 && sc.peek() == ')' {
			return items, nil // empty embed rel()
		}
		it, err := sc.item(depth)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
		sc.skipSpaces()
		if sc.accept(",") {
			continue
		}
		if sc.eof() || (depth > 0 && sc.peek() == ')') {
			return items, nil
		}
		if depth > 0 {
			return nil, sc.fail("\",\"", "\")\"")
		}
		return nil, sc.fail("\",\"", "end of input")
	}
}

// countItems estimates how many items this level of the forest holds (one
// more than its top-level commas), so the slice is allocated once.
func (sc *scanner) countItems() int {
	n, depth := 1, 0
	for _, c := range sc.s[min(sc.i, len(sc.s)):] {
		switch c {
		case '(':
			depth++
		case ')':
			if depth == 0 {
				return n
			}
			depth--
		case ',':
			if depth == 0 {
				n++
			}
		}
	}
	return n
}

func (sc *scanner) item(depth int) (SelectItem, *Error) {
	if sc.accept("...") {
		it := SelectItem{Kind: ItemSpread}
		n, err := sc.name()
		if err != nil {
			return it, err
		}
		it.Relation = n
		if err := sc.embedRest(&it, depth); err != nil {
			return it, err
		}
		return it, nil
	}
	if sc.accept("*") {
		return SelectItem{Kind: ItemStar}, nil
	}
	var it SelectItem
	start := sc.i
	if n, err := sc.name(); err == nil && sc.peek() == ':' && sc.peekAt(1) != ':' {
		sc.i++
		it.Alias = n
		sc.skipSpaces()
	} else {
		sc.i = start
	}
	if sc.has("...") {
		return it, sc.fail(expectIdent)
	}
	if sc.has("count()") {
		sc.accept("count()")
		it.Kind = ItemCount
		it.Agg = AggCount
		if sc.accept("::") {
			c, err := sc.typeName()
			if err != nil {
				return it, err
			}
			it.AggCast = c
		}
		return it, nil
	}
	n, err := sc.name()
	if err != nil {
		return it, err
	}
	if sc.peek() == '!' || sc.peek() == '(' {
		it.Kind = ItemEmbed
		it.Relation = n
		return it, sc.embedRest(&it, depth)
	}
	it.Kind = ItemField
	it.Field.Name = n
	if it.Field.JSONPath, err = sc.jsonPath(); err != nil {
		return it, err
	}
	if sc.accept("::") {
		if it.Cast, err = sc.typeName(); err != nil {
			return it, err
		}
	}
	if sc.peek() == '.' {
		sc.i++
		agg := ""
		for _, a := range []string{AggSum, AggAvg, AggMax, AggMin, AggCount} {
			if sc.accept(a + "()") {
				agg = a
				break
			}
		}
		if agg == "" {
			return it, sc.fail("\"sum()\"", "\"avg()\"", "\"max()\"", "\"min()\"", "\"count()\"")
		}
		it.Agg = agg
		if sc.accept("::") {
			if it.AggCast, err = sc.typeName(); err != nil {
				return it, err
			}
		}
	}
	return it, nil
}

// embedRest parses [!hint][!inner|!left](forest) after a relation name.
func (sc *scanner) embedRest(it *SelectItem, depth int) *Error {
	for n := 0; n < 2 && sc.accept("!"); n++ {
		h, err := sc.name()
		if err != nil {
			return err
		}
		switch h {
		case "inner":
			it.Join = JoinInner
		case "left":
			it.Join = JoinLeft
		default:
			it.Hint = h
		}
	}
	if !sc.accept("(") {
		return sc.fail("\"!\"", "\"(\"")
	}
	ch, err := sc.forest(depth + 1)
	if err != nil {
		return err
	}
	if !sc.accept(")") {
		return sc.fail("\")\"")
	}
	it.Children = ch
	return nil
}
