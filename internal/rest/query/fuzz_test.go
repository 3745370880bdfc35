package query

import (
	"errors"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"select=id,name,rel!fk!inner(a,b:c::text,...sp(x)),count()&id=eq.1",
		"or=(a.eq.1,and(b.in.(1,\"2,3\"),not.or(c.is.null)))&order=a.desc.nullslast",
		"data->a->>b=eq.1&select=data->0->>x::int&limit=5&offset=2",
		"rel.limit=1&rel.order=x&rel.or=(y.fts(english).z)&rel.x=like(any).{a*,b*}",
	} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, raw string, rpc bool) {
		p, err := ParseRaw(raw, Options{RPCRead: rpc})
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if !strings.HasPrefix(pe.Code, "PGRST1") || pe.Status < 400 || pe.Status > 499 {
				t.Fatalf("unexpected error %+v", pe)
			}
			return
		}
		if len(p.Select) == 0 {
			t.Fatal("empty select without error")
		}
	})
}
