package rest

import (
	"net/http"
	"slices"
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

// pick stores v in dst when it is one of the allowed values.
func pick(dst *string, v string, allowed ...string) bool {
	if !slices.Contains(allowed, v) {
		return false
	}
	*dst = v
	return true
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
				ok = pick(&p.Return, v, "minimal", "headers-only", "representation")
			case "count":
				ok = pick(&p.Count, v, "exact", "planned", "estimated")
			case "resolution":
				ok = pick(&p.Resolution, v, "merge-duplicates", "ignore-duplicates")
			case "missing":
				ok = pick(&p.Missing, v, "default", "null")
			case "handling":
				ok = pick(&p.Handling, v, "strict", "lenient")
			case "tx":
				ok = pick(&p.Tx, v, "commit", "rollback")
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
