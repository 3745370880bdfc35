package query

// ParseOrder parses the value of order=.
func ParseOrder(v string) ([]OrderTerm, error) {
	return commaList(newScanner("order", v), (*scanner).orderTerm)
}

// commaList parses item, item, … (spaces allowed around the commas) up to
// the end of input.
func commaList[T any](sc *scanner, item func(*scanner) (T, *Error)) ([]T, error) {
	var out []T
	for {
		sc.skipSpaces()
		t, err := item(sc)
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
	return commaList(newScanner(what, v), (*scanner).name)
}
