package rest

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// prefs is the parsed Prefer header (RFC 7240 as PostgREST reads it: all
// Prefer headers, split on commas, first occurrence of each preference wins).
type prefs struct {
	Return      string // minimal | headers-only | representation | ""
	Count       string // exact | planned | estimated | ""
	Resolution  string // merge-duplicates | ignore-duplicates | ""
	Missing     string // default | null | ""
	Handling    string // strict | lenient | ""
	Tx          string // commit | rollback | ""
	Timezone    string
	MaxAffected *int64
	Invalid     []string
}

func parsePrefer(h http.Header) prefs {
	var p prefs
	seen := map[string]bool{}
	for _, line := range h.Values("Prefer") {
		for tok := range strings.SplitSeq(line, ",") {
			tok = strings.TrimSpace(tok)
			if tok == "" {
				continue
			}
			k, v, _ := strings.Cut(tok, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if seen[k] {
				continue
			}
			ok := true
			switch k {
			case "return":
				ok = v == "minimal" || v == "headers-only" || v == "representation"
				if ok {
					p.Return = v
				}
			case "count":
				ok = v == "exact" || v == "planned" || v == "estimated"
				if ok {
					p.Count = v
				}
			case "resolution":
				ok = v == "merge-duplicates" || v == "ignore-duplicates"
				if ok {
					p.Resolution = v
				}
			case "missing":
				ok = v == "default" || v == "null"
				if ok {
					p.Missing = v
				}
			case "handling":
				ok = v == "strict" || v == "lenient"
				if ok {
					p.Handling = v
				}
			case "tx":
				ok = v == "commit" || v == "rollback"
				if ok {
					p.Tx = v
				}
			case "timezone":
				// As PostgREST v14: an unknown zone is an invalid preference
				// (ignored unless handling=strict), not a database error.
				_, err := time.LoadLocation(v)
				ok = v != "" && v != "Local" && err == nil
				if ok {
					p.Timezone = v
				}
			case "max-affected":
				n, err := strconv.ParseInt(v, 10, 64)
				ok = err == nil && n >= 0
				if ok {
					p.MaxAffected = &n
				}
			default:
				ok = false
			}
			if !ok {
				p.Invalid = append(p.Invalid, tok)
				continue
			}
			seen[k] = true
		}
	}
	return p
}

// applied renders Preference-Applied in PostgREST's fixed order. write is
// set for table writes, resolution when the upsert has a conflict target,
// missing for inserts and updates.
func (p *prefs) applied(write, resolution, missing, txApplied bool) string {
	var out []string
	if write && resolution && p.Resolution != "" {
		out = append(out, "resolution="+p.Resolution)
	}
	if write && missing && p.Missing != "" {
		out = append(out, "missing="+p.Missing)
	}
	if write && p.Return != "" {
		out = append(out, "return="+p.Return)
	}
	if p.Count != "" {
		out = append(out, "count="+p.Count)
	}
	if txApplied && p.Tx != "" {
		out = append(out, "tx="+p.Tx)
	}
	if p.Handling != "" {
		out = append(out, "handling="+p.Handling)
	}
	if p.Timezone != "" {
		out = append(out, "timezone="+p.Timezone)
	}
	if p.Handling == "strict" && p.MaxAffected != nil {
		out = append(out, "max-affected="+strconv.FormatInt(*p.MaxAffected, 10))
	}
	return strings.Join(out, ", ")
}
