package query

import (
	"net/url"
	"strconv"
	"strings"
)

// Pair is one key=value of a query string, decoded.
type Pair struct {
	Key, Value string
}

// Options tune parsing. None are defined yet; the parameter keeps call
// sites stable as PostgREST versions add switches.
type Options struct {
	// RPCRead marks GET/HEAD /rpc/fn. Classification does not depend on it:
	// as in PostgREST, a parameter whose key has no dot and whose value does
	// not start with an operator is always collected in Params.Args (RPC
	// arguments; ignored for tables, so ?apikey=… is harmless).
	RPCRead bool
}

// SplitRawQuery splits a raw query string into decoded pairs, keeping order,
// decoding '+' as a space and dropping keys without '=' as PostgREST does.
// Invalid percent escapes are kept literally.
func SplitRawQuery(raw string) []Pair {
	var out []Pair
	for part := range strings.SplitSeq(raw, "&") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		out = append(out, Pair{Key: unescape(k), Value: unescape(v)})
	}
	return out
}

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return strings.ReplaceAll(s, "+", " ")
}

// ParseRaw parses a raw (still encoded) query string.
func ParseRaw(raw string, opt Options) (*Params, error) {
	return Parse(SplitRawQuery(raw), opt)
}

// Parse classifies and parses decoded query parameters.
func Parse(pairs []Pair, opt Options) (*Params, error) {
	p := &Params{}
	var haveSelect bool
	for _, kv := range pairs {
		k, v := kv.Key, kv.Value
		switch k {
		case "select":
			if haveSelect {
				continue
			}
			haveSelect = true
			s, err := ParseSelect(v)
			if err != nil {
				return nil, err
			}
			p.Select = s
			continue
		case "columns":
			if p.Columns != nil {
				continue
			}
			c, err := ParseColumns("columns parameter", v)
			if err != nil {
				return nil, err
			}
			p.Columns = c
			continue
		case "on_conflict":
			if p.OnConflict != nil {
				continue
			}
			c, err := ParseColumns("on_conflict parameter", v)
			if err != nil {
				return nil, err
			}
			p.OnConflict = c
			continue
		}
		segs := strings.Split(k, ".")
		last := segs[len(segs)-1]
		path := Path(segs[:len(segs)-1])
		switch last {
		case "order":
			terms, err := ParseOrder(v)
			if err != nil {
				return nil, err
			}
			if !p.hasOrder(path) {
				p.Order = append(p.Order, PathOrder{Path: path, Terms: terms})
			}
		case "limit", "offset":
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				continue // non-numeric values are ignored
			}
			r := p.Range(path)
			if last == "limit" {
				if n < 0 {
					return nil, &Error{Status: 416, Code: "PGRST103", Message: "Limit should be greater than or equal to zero."}
				}
				r.Limit = &n
			} else {
				if n < 0 {
					continue
				}
				r.Offset = n
			}
			p.SetRange(r)
		case "or", "and":
			not := false
			if len(path) > 0 && path[len(path)-1] == "not" {
				not = true
				path = path[:len(path)-1]
			}
			t, err := ParseLogic(last == "or", not, v)
			if err != nil {
				return nil, err
			}
			p.Logic = append(p.Logic, PathLogic{Path: path, Tree: t})
		default:
			if !strings.Contains(k, ".") && !looksLikeFilter(v) {
				p.Args = append(p.Args, Arg{Name: k, Value: v})
				continue
			}
			fpath, fld, perr := parseTreePath(k)
			if perr != nil {
				return nil, perr
			}
			f, ferr := parseOpExpr(v)
			if ferr != nil {
				return nil, ferr
			}
			f.Field = fld
			p.Filters = append(p.Filters, PathFilter{Path: fpath, Filter: f})
		}
	}
	if p.Select == nil {
		p.Select = []SelectItem{{Kind: ItemStar}}
	}
	return p, nil
}

func (p *Params) hasOrder(path Path) bool {
	for _, o := range p.Order {
		if o.Path.Equal(path) {
			return true
		}
	}
	return false
}

// OrderAt returns the order terms of the node at path.
func (p *Params) OrderAt(path Path) []OrderTerm {
	for _, o := range p.Order {
		if o.Path.Equal(path) {
			return o.Terms
		}
	}
	return nil
}

// SetRange replaces the limit/offset of the node at r.Path (the handler
// uses it to intersect a Range header with the root's limit/offset).
func (p *Params) SetRange(r PathRange) {
	for i := range p.Ranges {
		if p.Ranges[i].Path.Equal(r.Path) {
			p.Ranges[i] = r
			return
		}
	}
	p.Ranges = append(p.Ranges, r)
}
