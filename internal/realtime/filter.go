package realtime

import (
	"errors"
	"fmt"
	"strings"
)

// cond is one filter condition of a postgres_changes binding:
// column=[not.]op.value.
type cond struct {
	column string
	op     string // eq neq lt lte gt gte in is
	negate bool
	values []string // one value, or the list of in.(…)
}

var errFilter = errors.New("invalid filter")

// parseFilter parses a binding's filter string. Conditions are separated
// by top-level commas (not inside parentheses or double quotes) and ANDed;
// an empty string means no filter.
func parseFilter(s string) ([]cond, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []cond
	for _, seg := range splitTop(s) {
		c, err := parseCond(seg)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func splitTop(s string) []string {
	var parts []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func parseCond(seg string) (cond, error) {
	seg = strings.TrimSpace(seg)
	col, rest, ok := strings.Cut(seg, "=")
	col = strings.TrimSpace(col)
	if !ok || col == "" {
		return cond{}, fmt.Errorf("%w: %q is not column=operator.value", errFilter, seg)
	}
	c := cond{column: col}
	if r, ok := strings.CutPrefix(rest, "not."); ok {
		c.negate, rest = true, r
	}
	op, val, ok := strings.Cut(rest, ".")
	if !ok {
		return cond{}, fmt.Errorf("%w: %q has no operator", errFilter, seg)
	}
	c.op = op
	switch op {
	case "eq", "neq", "lt", "lte", "gt", "gte":
		v, err := unquote(val)
		if err != nil {
			return cond{}, err
		}
		c.values = []string{v}
	case "in":
		if len(val) < 2 || val[0] != '(' || val[len(val)-1] != ')' {
			return cond{}, fmt.Errorf("%w: in needs (v1,v2,…)", errFilter)
		}
		items := splitTop(val[1 : len(val)-1])
		if len(items) > 100 {
			return cond{}, fmt.Errorf("%w: in accepts at most 100 values", errFilter)
		}
		for _, it := range items {
			v, err := unquote(strings.TrimSpace(it))
			if err != nil {
				return cond{}, err
			}
			c.values = append(c.values, v)
		}
	case "is":
		switch v := strings.ToLower(val); v {
		case "null", "true", "false":
			c.values = []string{v}
		default:
			return cond{}, fmt.Errorf("%w: is accepts null, true or false", errFilter)
		}
	default:
		return cond{}, fmt.Errorf("%w: unsupported operator %q", errFilter, op)
	}
	return c, nil
}

// unquote removes PostgREST-style double quotes ("a,b" with \" and \\).
func unquote(v string) (string, error) {
	if len(v) == 0 || v[0] != '"' {
		return v, nil
	}
	if len(v) < 2 || v[len(v)-1] != '"' {
		return "", fmt.Errorf("%w: unterminated quote in %q", errFilter, v)
	}
	var b strings.Builder
	in := v[1 : len(v)-1]
	for i := 0; i < len(in); i++ {
		if in[i] == '\\' && i+1 < len(in) {
			i++
		}
		b.WriteByte(in[i])
	}
	return b.String(), nil
}

// cell is a column value as the filter sees it.
type cell struct {
	text string
	null bool
	typ  *colType
}

// check validates c against the column's type at subscription time.
func (c cond) check(t *colType) error {
	for _, v := range c.values {
		if c.op == "is" {
			if v != "null" && t.category != 'B' {
				return fmt.Errorf("%w: is.%s needs a boolean column", errFilter, v)
			}
			continue
		}
		switch {
		case t.category == 'N':
			if _, ok := parseFloat(v); !ok {
				return fmt.Errorf("%w: %q is not a number (column %s)", errFilter, v, c.column)
			}
		case t.category == 'B':
			if _, ok := parseBool(v); !ok {
				return fmt.Errorf("%w: %q is not a boolean (column %s)", errFilter, v, c.column)
			}
		}
	}
	return nil
}

// match evaluates c on a value; as in SQL, a NULL value matches nothing
// but is.null.
func (c cond) match(v cell) bool {
	var r bool
	if c.op == "is" {
		switch c.values[0] {
		case "null":
			r = v.null
		case "true":
			r = !v.null && v.text == "t"
		case "false":
			r = !v.null && v.text == "f"
		}
		return r != c.negate
	}
	if v.null {
		return false
	}
	if c.op == "in" {
		for _, lit := range c.values {
			if compare(v, lit) == 0 {
				r = true
				break
			}
		}
		return r != c.negate
	}
	cmp := compare(v, c.values[0])
	switch c.op {
	case "eq":
		r = cmp == 0
	case "neq":
		r = cmp != 0 && cmp != incomparable
	case "lt":
		r = cmp == -1
	case "lte":
		r = cmp == -1 || cmp == 0
	case "gt":
		r = cmp == 1
	case "gte":
		r = cmp == 1 || cmp == 0
	}
	return r != c.negate
}

const incomparable = 2

// compare compares a column value with a filter literal the way the cast
// to the column's type would: numerically for numbers, as booleans for
// booleans, case-insensitively for uuids, else as text.
func compare(v cell, lit string) int {
	switch {
	case v.typ != nil && v.typ.category == 'N':
		a, ok1 := parseFloat(v.text)
		b, ok2 := parseFloat(lit)
		if !ok1 || !ok2 {
			return incomparable
		}
		return cmp3(a < b, a > b)
	case v.typ != nil && v.typ.category == 'B':
		a, _ := parseBool(v.text)
		b, ok := parseBool(lit)
		if !ok {
			return incomparable
		}
		return cmp3(!a && b, a && !b)
	case v.typ != nil && v.typ.name == "uuid":
		return strings.Compare(strings.ToLower(v.text), strings.ToLower(lit))
	}
	return strings.Compare(v.text, lit)
}

func cmp3(less, greater bool) int {
	switch {
	case less:
		return -1
	case greater:
		return 1
	}
	return 0
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "t", "true", "yes", "on", "1", "y":
		return true, true
	case "f", "false", "no", "off", "0", "n":
		return false, true
	}
	return false, false
}
