package realtime

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// colType is what converting a column's text value to JSON needs to know
// about its type (from pg_type).
type colType struct {
	name     string // typname: "int8", "_text", "my_enum"
	category byte   // typcategory: 'N' numeric, 'B' boolean, 'A' array, …
	elem     *colType
}

// jsonValue renders a pgoutput text value as the typed JSON Supabase emits
// (to_jsonb of the value): numbers, booleans, JSON, arrays, timestamps in
// ISO form; everything else as a string.
func jsonValue(t *colType, text string) json.RawMessage {
	switch {
	case t.name == "json" || t.name == "jsonb":
		if json.Valid([]byte(text)) {
			return json.RawMessage(text)
		}
	case t.category == 'N':
		if isJSONNumber(text) {
			return json.RawMessage(text)
		}
	case t.category == 'B':
		switch text {
		case "t", "true":
			return json.RawMessage("true")
		case "f", "false":
			return json.RawMessage("false")
		}
	case t.category == 'A' && t.elem != nil:
		v, err := parseArray(text)
		if err == nil {
			return arrayJSON(t.elem, v)
		}
	case t.name == "timestamp":
		return mustJSON(isoTimestamp(text, false))
	case t.name == "timestamptz":
		return mustJSON(isoTimestamp(text, true))
	}
	return mustJSON(text)
}

func arrayJSON(elem *colType, v []any) json.RawMessage {
	b := []byte{'['}
	for i, e := range v {
		if i > 0 {
			b = append(b, ',')
		}
		switch e := e.(type) {
		case nil:
			b = append(b, "null"...)
		case string:
			b = append(b, jsonValue(elem, e)...)
		case []any:
			b = append(b, arrayJSON(elem, e)...)
		}
	}
	return append(b, ']')
}

// isJSONNumber reports whether s is a number JSON accepts as is (so NaN,
// Infinity and money's "$1.00" stay strings).
func isJSONNumber(s string) bool {
	if s == "" {
		return false
	}
	var n json.Number
	return json.Unmarshal([]byte(s), &n) == nil && n.String() == s
}

// isoTimestamp turns PostgreSQL's ISO DateStyle output into to_jsonb's
// form: "2025-05-01 12:00:00.123+00" → "2025-05-01T12:00:00.123+00:00".
func isoTimestamp(s string, tz bool) string {
	date, clock, ok := strings.Cut(s, " ")
	if !ok || strings.HasSuffix(s, " BC") {
		return s // infinity, -infinity, BC dates
	}
	if tz {
		if i := strings.LastIndexAny(clock, "+-"); i > 0 {
			off := clock[i+1:]
			if len(off) == 2 {
				clock += ":00"
			}
		}
	}
	return date + "T" + clock
}

var errArray = errors.New("malformed array literal")

// parseArray parses an array's text output ({a,"b c",NULL,{1,2}}) into
// nested []any of string and nil (NULL).
func parseArray(s string) ([]any, error) {
	if strings.HasPrefix(s, "[") {
		// explicit bounds: [0:1]={…}
		i := strings.Index(s, "=")
		if i < 0 {
			return nil, errArray
		}
		s = s[i+1:]
	}
	p := &arrayParser{s: s}
	v, err := p.array()
	if err != nil {
		return nil, err
	}
	if p.i != len(p.s) {
		return nil, errArray
	}
	return v, nil
}

type arrayParser struct {
	s string
	i int
}

func (p *arrayParser) array() ([]any, error) {
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return nil, errArray
	}
	p.i++
	out := []any{}
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return out, nil
	}
	for {
		if p.i >= len(p.s) {
			return nil, errArray
		}
		switch p.s[p.i] {
		case '{':
			v, err := p.array()
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		case '"':
			p.i++
			var b strings.Builder
			for {
				if p.i >= len(p.s) {
					return nil, errArray
				}
				c := p.s[p.i]
				p.i++
				if c == '\\' {
					if p.i >= len(p.s) {
						return nil, errArray
					}
					b.WriteByte(p.s[p.i])
					p.i++
					continue
				}
				if c == '"' {
					break
				}
				b.WriteByte(c)
			}
			out = append(out, b.String())
		default:
			j := p.i
			for j < len(p.s) && p.s[j] != ',' && p.s[j] != '}' && p.s[j] != ';' {
				j++
			}
			word := strings.TrimSpace(p.s[p.i:j])
			p.i = j
			if word == "" {
				return nil, errArray
			}
			if strings.EqualFold(word, "NULL") {
				out = append(out, nil)
			} else {
				out = append(out, word)
			}
		}
		if p.i >= len(p.s) {
			return nil, errArray
		}
		switch p.s[p.i] {
		case ',', ';':
			p.i++
		case '}':
			p.i++
			return out, nil
		default:
			return nil, errArray
		}
	}
}

// numeric reports the built-in number types.
func numeric(name string) bool {
	switch name {
	case "int2", "int4", "int8", "float4", "float8", "numeric", "oid":
		return true
	}
	return false
}

func parseFloat(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f, err == nil
}
