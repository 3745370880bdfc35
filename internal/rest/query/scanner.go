package query

import (
	"strconv"
	"strings"
	"unicode"
)

// scanner is a cursor over one parameter's text. Positions are in runes so
// error columns match what a user counts.
type scanner struct {
	what  string // "select parameter", "filter", ... for error messages
	input string
	s     []rune
	i     int
}

func newScanner(what, input string) *scanner {
	return &scanner{what: what, input: input, s: []rune(input)}
}

func (sc *scanner) eof() bool { return sc.i >= len(sc.s) }

func (sc *scanner) peek() rune {
	if sc.i >= len(sc.s) {
		return -1
	}
	return sc.s[sc.i]
}

func (sc *scanner) peekAt(n int) rune {
	if sc.i+n >= len(sc.s) || sc.i+n < 0 {
		return -1
	}
	return sc.s[sc.i+n]
}

func (sc *scanner) has(prefix string) bool {
	j := sc.i
	for _, r := range prefix {
		if j >= len(sc.s) || sc.s[j] != r {
			return false
		}
		j++
	}
	return true
}

// accept consumes prefix if present.
func (sc *scanner) accept(prefix string) bool {
	if !sc.has(prefix) {
		return false
	}
	sc.i += len([]rune(prefix))
	return true
}

func (sc *scanner) rest() string { return string(sc.s[min(sc.i, len(sc.s)):]) }

func (sc *scanner) skipSpaces() {
	for sc.i < len(sc.s) && (sc.s[sc.i] == ' ' || sc.s[sc.i] == '\t') {
		sc.i++
	}
}

// fail reports a grammar error at the current position.
func (sc *scanner) fail(expect ...string) *Error {
	return sc.failAt(sc.i, expect...)
}

// failMsg reports a semantic failure (unknown operator, ...) at pos.
func (sc *scanner) failMsg(pos int, msg string) *Error {
	return parseError(sc.what, sc.input, pos+1, msg)
}

func (sc *scanner) failAt(pos int, expect ...string) *Error {
	var b strings.Builder
	if pos >= len(sc.s) {
		b.WriteString("unexpected end of input")
	} else {
		b.WriteString("unexpected ")
		b.WriteString(strconv.Quote(string(sc.s[pos])))
	}
	if len(expect) > 0 {
		b.WriteString(" expecting ")
		for i, e := range expect {
			switch {
			case i == 0:
			case i == len(expect)-1:
				b.WriteString(" or ")
			default:
				b.WriteString(", ")
			}
			b.WriteString(e)
		}
	}
	return parseError(sc.what, sc.input, pos+1, b.String())
}

func isIdentRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '$' || r == ' '
}

const expectIdent = "field name (* or [a..z0..9_$])"

// quoted parses "…" with backslash escaping any next character.
func (sc *scanner) quoted() (string, bool) {
	if sc.peek() != '"' {
		return "", false
	}
	j := sc.i + 1
	var b strings.Builder
	for j < len(sc.s) {
		r := sc.s[j]
		switch r {
		case '\\':
			if j+1 >= len(sc.s) {
				return "", false
			}
			b.WriteRune(sc.s[j+1])
			j += 2
		case '"':
			sc.i = j + 1
			return b.String(), true
		default:
			b.WriteRune(r)
			j++
		}
	}
	return "", false
}

// name parses a field/relation name: a quoted identifier, or runs of
// identifier characters joined by single dashes not followed by '>'.
func (sc *scanner) name() (string, *Error) {
	if sc.peek() == '"' {
		start := sc.i
		v, ok := sc.quoted()
		if !ok {
			sc.i = len(sc.s)
			return "", sc.failAt(len(sc.s), "\"\\\"\"")
		}
		_ = start
		return v, nil
	}
	var b strings.Builder
	for {
		start := sc.i
		for sc.i < len(sc.s) && isIdentRune(sc.s[sc.i]) {
			sc.i++
		}
		if sc.i == start {
			return "", sc.fail(expectIdent)
		}
		b.WriteString(string(sc.s[start:sc.i]))
		if sc.peek() == '-' && sc.peekAt(1) != '>' && sc.peekAt(1) != -1 && isIdentRune(sc.peekAt(1)) {
			b.WriteRune('-')
			sc.i++
			continue
		}
		break
	}
	v := strings.Trim(b.String(), " ")
	if v == "" {
		return "", sc.fail(expectIdent)
	}
	return v, nil
}

// jsonPath parses a sequence of ->key / ->>key steps.
func (sc *scanner) jsonPath() ([]JSONOp, *Error) {
	var ops []JSONOp
	for sc.has("->") {
		op := JSONOp{}
		if sc.accept("->>") {
			op.Text = true
		} else {
			sc.accept("->")
		}
		if k, ok := sc.index(); ok {
			op.Key, op.Index = k, true
		} else {
			k, err := sc.name()
			if err != nil {
				return nil, err
			}
			op.Key = k
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// index parses an array index key (-?digits) when it is followed by
// something that cannot continue an identifier.
func (sc *scanner) index() (string, bool) {
	j := sc.i
	if j < len(sc.s) && sc.s[j] == '-' {
		j++
	}
	d := j
	for j < len(sc.s) && sc.s[j] >= '0' && sc.s[j] <= '9' {
		j++
	}
	if j == d {
		return "", false
	}
	if j < len(sc.s) {
		r := sc.s[j]
		if unicode.IsLetter(r) || r == '_' || r == '$' || r == ' ' || unicode.IsDigit(r) {
			return "", false
		}
	}
	v := string(sc.s[sc.i:j])
	if _, err := strconv.ParseInt(v, 10, 64); err != nil {
		return "", false
	}
	sc.i = j
	return v, true
}

// field parses name[json path].
func (sc *scanner) field() (Field, *Error) {
	n, err := sc.name()
	if err != nil {
		return Field{}, err
	}
	p, err := sc.jsonPath()
	if err != nil {
		return Field{}, err
	}
	return Field{Name: n, JSONPath: p}, nil
}

// typeName parses the type after :: (letters, digits, _, space, $).
func (sc *scanner) typeName() (string, *Error) {
	start := sc.i
	for sc.i < len(sc.s) && isIdentRune(sc.s[sc.i]) {
		sc.i++
	}
	v := strings.Trim(string(sc.s[start:sc.i]), " ")
	if v == "" {
		return "", sc.fail("letter", "digit", "\"_\"", "\" \"")
	}
	return v, nil
}
