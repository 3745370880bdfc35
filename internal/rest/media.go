package rest

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// mediaKind is the response representation chosen from Accept.
type mediaKind int

const (
	mediaJSON mediaKind = iota
	mediaObject
	mediaCSV
	mediaPlan
)

// media is the negotiated response type.
type media struct {
	Kind       mediaKind
	StripNulls bool
	// Plan options.
	PlanFormat  string // json | text
	PlanFor     string // the media type the plan is for
	PlanOptions []string
}

// contentType is the Content-Type of a successful body.
func (m media) contentType() string {
	switch m.Kind {
	case mediaObject:
		if m.StripNulls {
			return "application/vnd.pgrst.object+json; nulls=stripped; charset=utf-8"
		}
		return "application/vnd.pgrst.object+json; charset=utf-8"
	case mediaCSV:
		return "text/csv; charset=utf-8"
	case mediaPlan:
		ct := "application/vnd.pgrst.plan+" + m.PlanFormat + `; for="` + m.PlanFor + `"`
		if len(m.PlanOptions) > 0 {
			ct += "; options=" + strings.Join(m.PlanOptions, "|")
		}
		return ct + "; charset=utf-8"
	}
	if m.StripNulls {
		return "application/vnd.pgrst.array+json; nulls=stripped; charset=utf-8"
	}
	return "application/json; charset=utf-8"
}

type accepted struct {
	typ    string
	params map[string]string
	q      float64
	raw    string
}

func parseAccept(h string) []accepted {
	var out []accepted
	for part := range strings.SplitSeq(h, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		segs := strings.Split(part, ";")
		a := accepted{typ: strings.ToLower(strings.TrimSpace(segs[0])), params: map[string]string{}, q: 1, raw: strings.TrimSpace(segs[0])}
		for _, s := range segs[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(s), "=")
			k = strings.ToLower(strings.TrimSpace(k))
			v = strings.Trim(strings.TrimSpace(v), `"`)
			if k == "" {
				continue
			}
			if k == "q" {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					a.q = f
				}
				continue
			}
			a.params[k] = v
		}
		out = append(out, a)
	}
	slices.SortStableFunc(out, func(a, b accepted) int {
		switch {
		case a.q > b.q:
			return -1
		case a.q < b.q:
			return 1
		}
		return 0
	})
	return out
}

// negotiate picks the first acceptable representation, or reports PGRST107.
func negotiate(r *http.Request, planEnabled bool) (media, error) {
	h := r.Header.Get("Accept")
	if strings.TrimSpace(h) == "" {
		return media{Kind: mediaJSON}, nil
	}
	list := parseAccept(h)
	for _, a := range list {
		if a.q <= 0 {
			continue
		}
		stripped := a.params["nulls"] == "stripped"
		switch a.typ {
		case "*/*", "application/*", "application/json", "application/vnd.pgrst.array+json", "application/vnd.pgrst.array":
			return media{Kind: mediaJSON, StripNulls: stripped && strings.HasPrefix(a.typ, "application/vnd.pgrst.array")}, nil
		case "application/vnd.pgrst.object+json", "application/vnd.pgrst.object":
			return media{Kind: mediaObject, StripNulls: stripped}, nil
		case "text/csv", "text/*":
			return media{Kind: mediaCSV}, nil
		case "application/vnd.pgrst.plan", "application/vnd.pgrst.plan+json", "application/vnd.pgrst.plan+text":
			if !planEnabled {
				continue
			}
			m := media{Kind: mediaPlan, PlanFormat: "text", PlanFor: "application/json"}
			if strings.HasSuffix(a.typ, "+json") {
				m.PlanFormat = "json"
			}
			if f := a.params["for"]; f != "" {
				m.PlanFor = f
			}
			for o := range strings.SplitSeq(a.params["options"], "|") {
				switch o = strings.TrimSpace(o); o {
				case "analyze", "verbose", "settings", "buffers", "wal":
					m.PlanOptions = append(m.PlanOptions, o)
				}
			}
			return m, nil
		}
	}
	raws := make([]string, 0, len(list))
	for _, a := range list {
		raws = append(raws, a.raw)
	}
	return media{}, restErr(http.StatusNotAcceptable, "PGRST107",
		"None of these media types are available: "+strings.Join(raws, ", "), nil, nil)
}
