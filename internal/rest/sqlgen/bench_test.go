package sqlgen

import (
	"testing"

	"github.com/madbase/madbase/internal/rest/query"
)

// BenchmarkParseBuild measures the per-request CPU cost of turning a query
// string into SQL (the handler's part before the database round trip).
func BenchmarkParseBuild(b *testing.B) {
	s := fixtureSnapshot()
	for _, bc := range []struct{ name, q string }{
		{"pk", "id=eq.1"},
		{"embed", "select=id,name,cities(id,name,population)&cities.order=id&order=id&limit=100"},
		{"deep", "select=*,cities!inner(*,countries(*,capitals(*)))&cities.population=gt.1000&or=(id.eq.1,name.like.*a*)&order=name.desc&limit=10"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				p, err := query.ParseRaw(bc.q, query.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Build(s, Request{Kind: Read, Schema: "public", Relation: "countries", Params: p, Count: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
