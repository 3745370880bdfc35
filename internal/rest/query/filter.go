package query

import "strings"

func opByName(s string) (Operator, bool) {
	switch Operator(s) {
	case OpEq, OpNeq, OpGt, OpGte, OpLt, OpLte, OpLike, OpIlike, OpMatch, OpImatch,
		OpIn, OpIs, OpIsDistinct, OpFts, OpPlfts, OpPhfts, OpWfts,
		OpCs, OpCd, OpOv, OpSl, OpSr, OpNxr, OpNxl, OpAdj:
		return Operator(s), true
	}
	return "", false
}

// Quantifiable reports whether op accepts (any)/(all).
func (op Operator) Quantifiable() bool {
	switch op {
	case OpEq, OpGt, OpGte, OpLt, OpLte, OpLike, OpIlike, OpMatch, OpImatch:
		return true
	}
	return false
}

// FTS reports whether op is a full-text search operator.
func (op Operator) FTS() bool {
	switch op {
	case OpFts, OpPlfts, OpPhfts, OpWfts:
		return true
	}
	return false
}

const expectOp = "operator (eq, gt, ...)"

// ParseFilter parses a filter key (path.to.col->json) and its value
// ([not.]op[(mod)].value).
func ParseFilter(key, value string) (Path, Filter, error) {
	path, fld, err := parseTreePath(key)
	if err != nil {
		return nil, Filter{}, err
	}
	f, perr := parseOpExpr(value)
	if perr != nil {
		return nil, Filter{}, perr
	}
	f.Field = fld
	return path, f, nil
}

// parseTreePath parses rel.sub.col->a->>b.
func parseTreePath(key string) (Path, Field, *Error) {
	sc := newScanner("tree path", key)
	var names []string
	for {
		n, err := sc.name()
		if err != nil {
			return nil, Field{}, err
		}
		if sc.accept(".") {
			names = append(names, n)
			continue
		}
		jp, err := sc.jsonPath()
		if err != nil {
			return nil, Field{}, err
		}
		if !sc.eof() {
			return nil, Field{}, sc.fail("\"->\"", "\".\"", "end of input")
		}
		return Path(names), Field{Name: n, JSONPath: jp}, nil
	}
}

func parseOpExpr(v string) (Filter, *Error) {
	sc := newScanner("filter", v)
	f, err := sc.opExpr(false)
	if err != nil {
		return Filter{}, err
	}
	return f, nil
}

// opExpr parses [not.]op[(mod)].value. In a logic tree (inLogic) a simple
// value ends at ',' or ')' unless quoted or a {…} array literal; at the top
// level it is the verbatim rest of the input.
func (sc *scanner) opExpr(inLogic bool) (Filter, *Error) {
	var f Filter
	if sc.has("not.") {
		sc.i += 4
		f.Not = true
	}
	start := sc.i
	for sc.i < len(sc.s) && sc.s[sc.i] >= 'a' && sc.s[sc.i] <= 'z' {
		sc.i++
	}
	op, ok := opByName(string(sc.s[start:sc.i]))
	if !ok {
		// As PostgREST: the operator is everything up to the first '.'.
		for j := start; j < len(sc.s); j++ {
			if sc.s[j] == '.' {
				return f, sc.failMsg(j+1, "unknown single value operator "+string(sc.s[start:j]))
			}
		}
		return f, sc.failAt(start, expectOp)
	}
	f.Op = op
	switch {
	case op == OpIn:
		if !sc.accept(".") {
			return f, sc.fail("\".\"")
		}
		l, err := sc.list()
		if err != nil {
			return f, err
		}
		f.List = l
		return f, nil
	case op == OpIs:
		if !sc.accept(".") {
			return f, sc.fail("\".\"")
		}
		// Like PostgREST, a keyword prefix is enough at the top level
		// (is.nullx is is.null); in a logic tree the item must end there.
		for _, kw := range []string{IsNotNull, IsNull, IsTrue, IsFalse, IsUnknown} {
			if n := len(kw); sc.i+n <= len(sc.s) && strings.EqualFold(string(sc.s[sc.i:sc.i+n]), kw) {
				end := sc.i + n
				if !inLogic || end == len(sc.s) || sc.s[end] == ',' || sc.s[end] == ')' {
					sc.i = end
					if !inLogic {
						sc.i = len(sc.s)
					}
					f.Value = kw
					return f, nil
				}
			}
		}
		return f, sc.fail("null or trilean value (unknown, true, false)")
	case op.FTS():
		if sc.accept("(") {
			l, err := sc.name()
			if err != nil {
				return f, err
			}
			if !sc.accept(")") {
				return f, sc.fail("\")\"")
			}
			f.Lang = l
		}
	case op.Quantifiable():
		if sc.accept("(any)") {
			f.Quant = QuantAny
		} else if sc.accept("(all)") {
			f.Quant = QuantAll
		}
	}
	if !sc.accept(".") {
		if op.Quantifiable() && sc.peek() == '(' {
			return f, sc.fail("\"(any)\"", "\"(all)\"")
		}
		return f, sc.fail("\".\"")
	}
	if !inLogic {
		f.Value = sc.rest()
		sc.i = len(sc.s)
		return f, nil
	}
	v, err := sc.logicValue()
	if err != nil {
		return f, err
	}
	f.Value = v
	return f, nil
}

// logicValue parses a value inside a logic tree.
func (sc *scanner) logicValue() (string, *Error) {
	if sc.peek() == '"' {
		save := sc.i
		if v, ok := sc.quoted(); ok && (sc.peek() == ',' || sc.peek() == ')') {
			return v, nil
		}
		sc.i = save
	}
	if sc.peek() == '{' {
		j := sc.i + 1
		for j < len(sc.s) && sc.s[j] != '{' && sc.s[j] != '}' {
			j++
		}
		if j < len(sc.s) && sc.s[j] == '}' {
			v := string(sc.s[sc.i : j+1])
			sc.i = j + 1
			return v, nil
		}
	}
	start := sc.i
	for sc.i < len(sc.s) && sc.s[sc.i] != ',' && sc.s[sc.i] != ')' {
		sc.i++
	}
	return string(sc.s[start:sc.i]), nil
}

// list parses an in list: (item,item,…).
func (sc *scanner) list() ([]string, *Error) {
	sc.skipSpaces()
	if !sc.accept("(") {
		return nil, sc.fail("\"(\"")
	}
	sc.skipSpaces()
	items := []string{}
	if sc.accept(")") {
		return items, nil
	}
	for {
		var item string
		quotedOK := false
		if sc.peek() == '"' {
			save := sc.i
			if v, ok := sc.quoted(); ok && (sc.peek() == ',' || sc.peek() == ')') {
				item, quotedOK = v, true
			} else {
				sc.i = save
			}
		}
		if !quotedOK {
			start := sc.i
			for sc.i < len(sc.s) && sc.s[sc.i] != ',' && sc.s[sc.i] != ')' {
				sc.i++
			}
			item = string(sc.s[start:sc.i])
		}
		items = append(items, item)
		if sc.accept(",") {
			continue
		}
		if sc.accept(")") {
			return items, nil
		}
		return nil, sc.fail("\",\"", "\")\"")
	}
}

// ParseLogic parses the value of an or=/and= parameter; or and not say which
// node the key named.
func ParseLogic(or, not bool, value string) (Logic, error) {
	// PostgREST parses "or(…)" (op and value joined), so error columns count
	// the operator too.
	prefix := "and"
	if or {
		prefix = "or"
	}
	if not {
		prefix = "not." + prefix
	}
	sc := newScanner("logic tree", prefix+value)
	sc.input = value
	sc.i = len([]rune(prefix))
	children, err := sc.logicChildren(0)
	if err != nil {
		return Logic{}, err
	}
	// Trailing text after the closing parenthesis is ignored, as PostgREST does.
	return Logic{Or: or, Not: not, Children: children}, nil
}

func (sc *scanner) logicChildren(depth int) ([]Logic, *Error) {
	if depth > maxDepth {
		return nil, sc.fail("less nesting")
	}
	sc.skipSpaces()
	if !sc.accept("(") {
		return nil, sc.fail("\"(\"")
	}
	var out []Logic
	for {
		sc.skipSpaces()
		n, err := sc.logicItem(depth)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
		sc.skipSpaces()
		if sc.accept(",") {
			continue
		}
		if sc.accept(")") {
			return out, nil
		}
		return nil, sc.fail("\",\"", "\")\"")
	}
}

func (sc *scanner) logicItem(depth int) (Logic, *Error) {
	save := sc.i
	not := sc.accept("not.")
	for _, kw := range []string{"and", "or"} {
		if sc.has(kw) {
			j := sc.i + len(kw)
			k := j
			for k < len(sc.s) && (sc.s[k] == ' ' || sc.s[k] == '\t') {
				k++
			}
			if k < len(sc.s) && sc.s[k] == '(' {
				sc.i = j
				ch, err := sc.logicChildren(depth + 1)
				if err != nil {
					return Logic{}, err
				}
				return Logic{Or: kw == "or", Not: not, Children: ch}, nil
			}
		}
	}
	sc.i = save
	fld, err := sc.field()
	if err != nil {
		if sc.i == save {
			return Logic{}, sc.fail(expectIdent, "negation operator (not)", "logic operator (and, or)")
		}
		return Logic{}, err
	}
	if !sc.accept(".") {
		return Logic{}, sc.fail("\"->\"", "\".\"")
	}
	f, err := sc.opExpr(true)
	if err != nil {
		return Logic{}, err
	}
	f.Field = fld
	return Logic{Filter: &f}, nil
}

// looksLikeFilter is PostgREST's test for a parameter without a dot in its
// key: a value starting with an operator (not., is, in, a known operator,
// possibly with a (modifier)) is a filter; anything else is a parameter
// (an RPC argument, ignored on tables).
func looksLikeFilter(v string) bool {
	parts := strings.Split(v, ".")
	if parts[0] == "not" && len(parts) >= 2 {
		return true
	}
	base := parts[0]
	if i := strings.IndexByte(base, '('); i >= 0 {
		base = base[:i]
	}
	_, ok := opByName(base)
	return ok
}
