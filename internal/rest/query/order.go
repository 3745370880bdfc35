package query

// ParseOrder parses the value of order=.
func ParseOrder(v string) ([]OrderTerm, error) {
	sc := newScanner("order", v)
	var out []OrderTerm
	for {
		sc.skipSpaces()
		t, err := sc.orderTerm()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
		sc.skipSpaces()
		if sc.accept(",") {
			continue
		}
		if sc.eof() {
			return out, nil
		}
		return nil, sc.fail("\",\"", "end of input")
	}
}

func (sc *scanner) orderTerm() (OrderTerm, *Error) {
	var t OrderTerm
	n, err := sc.name()
	if err != nil {
		return t, err
	}
	if sc.accept("(") {
		fld, err := sc.field()
		if err != nil {
			return t, err
		}
		if !sc.accept(")") {
			return t, sc.fail("\"->\"", "\")\"")
		}
		t.Relation = n
		t.Field = fld
	} else {
		jp, err := sc.jsonPath()
		if err != nil {
			return t, err
		}
		t.Field = Field{Name: n, JSONPath: jp}
	}
	if sc.eof() || sc.peek() == ',' {
		return t, nil
	}
	if !sc.accept(".") {
		return t, sc.fail("\"->\"", "\".\"", "\",\"", "end of input")
	}
	switch {
	case sc.accept("asc"):
		t.Dir = DirAsc
	case sc.accept("desc"):
		t.Dir = DirDesc
	case sc.accept("nullsfirst"):
		t.Nulls = NullsFirst
		return t, nil
	case sc.accept("nullslast"):
		t.Nulls = NullsLast
		return t, nil
	default:
		return t, sc.fail("\"asc\"", "\"desc\"", "\"nullsfirst\"", "\"nullslast\"")
	}
	if sc.eof() || sc.peek() == ',' {
		return t, nil
	}
	if !sc.accept(".") {
		return t, sc.fail("\".\"", "\",\"", "end of input")
	}
	switch {
	case sc.accept("nullsfirst"):
		t.Nulls = NullsFirst
	case sc.accept("nullslast"):
		t.Nulls = NullsLast
	default:
		return t, sc.fail("\"nullsfirst\"", "\"nullslast\"")
	}
	return t, nil
}

// ParseColumns parses columns= / on_conflict= (comma-separated names,
// quoted or not).
func ParseColumns(what, v string) ([]string, error) {
	sc := newScanner(what, v)
	var out []string
	for {
		sc.skipSpaces()
		n, err := sc.name()
		if err != nil {
			return nil, err
		}
		out = append(out, n)
		sc.skipSpaces()
		if sc.accept(",") {
			continue
		}
		if sc.eof() {
			return out, nil
		}
		return nil, sc.fail("\",\"", "end of input")
	}
}
