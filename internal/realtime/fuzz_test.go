package realtime

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeFrame: client frames of both serializers never panic, and a
// decoded kind-3 broadcast keeps its declared parts.
func FuzzDecodeFrame(f *testing.F) {
	f.Add([]byte(`[null,"1","phoenix","heartbeat",{}]`), false)
	f.Add([]byte(`{"topic":"realtime:a","event":"phx_join","payload":{"config":{}},"ref":"1","join_ref":"1"}`), false)
	f.Add([]byte(`["1","2","realtime:a","broadcast",{"type":"broadcast","event":"e","payload":{"x":1}}]`), false)
	f.Add(append([]byte{3, 1, 1, 10, 1, 0, 1}, `12realtime:ae{"x":1}`...), true)
	f.Add([]byte{3, 0, 0, 0, 0, 0, 0}, true)
	f.Fuzz(func(t *testing.T, data []byte, binary bool) {
		if binary {
			m, err := decodeBinary(data)
			if err == nil && (m.push == nil || m.event != "broadcast") {
				t.Fatalf("kind-3 decoded without a push: %+v", m)
			}
			return
		}
		for _, vsn := range []int{vsn1, vsn2} {
			m, err := decodeText(vsn, data)
			if err == nil && !json.Valid(m.payload) {
				t.Fatalf("payload is not JSON: %q", m.payload)
			}
		}
	})
}

// FuzzParseFilter: filters never panic; parsed conditions are well formed
// and evaluate without panicking.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"id=eq.1", "title=neq.\"a,b\"", "n=in.(1,2,\"3\")", "a=not.in.(x)", "done=is.null", "x=gt.1,y=lte.2", "", "a=,", "(=in.("} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		conds, err := parseFilter(s)
		if err != nil {
			return
		}
		for _, c := range conds {
			if len(c.values) == 0 || c.column == "" {
				t.Fatalf("bad cond %+v from %q", c, s)
			}
			for _, typ := range []*colType{{name: "int4", category: 'N'}, {name: "text", category: 'S'}, {name: "bool", category: 'B'}} {
				c.match(cell{text: "1", typ: typ})
				c.match(cell{null: true, typ: typ})
			}
		}
	})
}

// FuzzParseArray: array literals never panic and valid ones render as
// valid JSON.
func FuzzParseArray(f *testing.F) {
	for _, s := range []string{`{}`, `{1,2,3}`, `{"a b","c\"d",NULL}`, `{{1,2},{3,4}}`, `[0:1]={1,2}`, `{`, `{"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseArray(s)
		if err != nil {
			return
		}
		for _, elem := range []*colType{{name: "int4", category: 'N'}, {name: "text", category: 'S'}, {name: "jsonb", category: 'U'}, {name: "bool", category: 'B'}} {
			if out := arrayJSON(elem, v); !json.Valid(out) {
				t.Fatalf("%q → invalid JSON %s", s, out)
			}
		}
	})
}
