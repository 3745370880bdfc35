package realtime

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/madbase/madbase/internal/tenant"
)

func TestJSONValue(t *testing.T) {
	typ := func(name string, cat byte, elem *colType) *colType {
		return &colType{name: name, category: cat, elem: elem}
	}
	for _, tc := range []struct {
		t    *colType
		in   string
		want string
	}{
		{typ("int8", 'N', nil), "9007199254740993", "9007199254740993"},
		{typ("float8", 'N', nil), "NaN", `"NaN"`},
		{typ("float8", 'N', nil), "-1.5e+30", "-1.5e+30"},
		{typ("money", 'N', nil), "$1.00", `"$1.00"`},
		{typ("bool", 'B', nil), "t", "true"},
		{typ("jsonb", 'U', nil), `{"a": [1, "x"]}`, `{"a": [1, "x"]}`},
		{typ("json", 'U', nil), `not json`, `"not json"`},
		{typ("timestamptz", 'D', nil), "2025-05-01 12:00:00.123+00", `"2025-05-01T12:00:00.123+00:00"`},
		{typ("timestamptz", 'D', nil), "2025-05-01 12:00:00+05:30", `"2025-05-01T12:00:00+05:30"`},
		{typ("timestamp", 'D', nil), "2025-05-01 12:00:00", `"2025-05-01T12:00:00"`},
		{typ("timestamp", 'D', nil), "infinity", `"infinity"`},
		{typ("_int4", 'A', typ("int4", 'N', nil)), "{{1,2},{NULL,4}}", "[[1,2],[null,4]]"},
		{typ("_text", 'A', typ("text", 'S', nil)), `{"a,b","c\\d",NULL,"NULL"}`, `["a,b","c\\d",null,"NULL"]`},
		{typ("_bool", 'A', typ("bool", 'B', nil)), "{t,f}", "[true,false]"},
		{typ("uuid", 'U', nil), "0b9f…", `"0b9f…"`},
	} {
		if got := string(jsonValue(tc.t, tc.in)); got != tc.want {
			t.Errorf("%s %q → %s, want %s", tc.t.name, tc.in, got, tc.want)
		}
	}
}

func TestFilterParseAndMatch(t *testing.T) {
	num := &colType{name: "int4", category: 'N'}
	text := &colType{name: "text", category: 'S'}
	uuid := &colType{name: "uuid", category: 'U'}
	for _, tc := range []struct {
		filter string
		row    map[string]cell
		want   bool
	}{
		{"id=eq.1", map[string]cell{"id": {text: "1", typ: num}}, true},
		{"id=eq.1.0", map[string]cell{"id": {text: "1", typ: num}}, true},
		{"id=neq.1", map[string]cell{"id": {text: "1", typ: num}}, false},
		{"id=lt.10", map[string]cell{"id": {text: "9", typ: num}}, true}, // numeric, not text, order
		{"id=gte.10", map[string]cell{"id": {text: "9", typ: num}}, false},
		{"id=lte.9", map[string]cell{"id": {text: "9", typ: num}}, true},
		{"id=gt.9", map[string]cell{"id": {text: "10", typ: num}}, true},
		{"id=in.(1,2,3)", map[string]cell{"id": {text: "2", typ: num}}, true},
		{"id=not.in.(1,2,3)", map[string]cell{"id": {text: "2", typ: num}}, false},
		{`t=eq."a,b"`, map[string]cell{"t": {text: "a,b", typ: text}}, true},
		{`t=in.("a,b",c)`, map[string]cell{"t": {text: "c", typ: text}}, true},
		{"t=eq.x", map[string]cell{"t": {null: true, typ: text}}, false}, // NULL never matches
		{"t=neq.x", map[string]cell{"t": {null: true, typ: text}}, false},
		{"t=is.null", map[string]cell{"t": {null: true, typ: text}}, true},
		{"u=eq.0B9F0000-0000-0000-0000-000000000000", map[string]cell{"u": {text: "0b9f0000-0000-0000-0000-000000000000", typ: uuid}}, true},
		{"id=gt.1,t=eq.a", map[string]cell{"id": {text: "2", typ: num}, "t": {text: "b", typ: text}}, false},
		{"", map[string]cell{}, true},
	} {
		conds, err := parseFilter(tc.filter)
		if err != nil {
			t.Fatalf("%q: %v", tc.filter, err)
		}
		if got := filtersPass(conds, tc.row); got != tc.want {
			t.Errorf("%q on %v = %v, want %v", tc.filter, tc.row, got, tc.want)
		}
	}
	for _, bad := range []string{"id", "id=eq", "id=like.x", "id=in.1,2", "a=eq.1,,b=eq.2", `t=eq."x`, "b=is.maybe"} {
		if _, err := parseFilter(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestFrames(t *testing.T) {
	f := encode(vsn2, "1", "", "realtime:a", "system", []byte(`{}`))
	if string(f.data) != `["1",null,"realtime:a","system",{}]` {
		t.Errorf("v2 %s", f.data)
	}
	f = encode(vsn1, "1", "7", "realtime:a", "phx_reply", []byte(`{}`))
	if string(f.data) != `{"topic":"realtime:a","event":"phx_reply","payload":{},"ref":"7"}` {
		t.Errorf("v1 %s", f.data)
	}
	// The compat doc's worked example of a kind-3 frame.
	raw := append([]byte{3, 1, 1, 14, 6, 0, 1}, `14realtime:room1cursor{"x":1}`...)
	m, err := decodeBinary(raw)
	if err != nil || m.joinRef != "1" || m.ref != "4" || m.topic != "realtime:room1" || m.push.event != "cursor" || string(m.push.payload) != `{"x":1}` {
		t.Fatalf("kind 3: %+v %v", m, err)
	}
	if _, err := decodeBinary(raw[:10]); err == nil {
		t.Error("truncated frame accepted")
	}
}

func TestRefused(t *testing.T) {
	for code, want := range map[string]bool{
		"42501": true,  // permission denied
		"P0001": true,  // a policy function raised
		"22P02": true,  // a policy failed on the row's data
		"08006": false, // connection failure
		"53300": false, // too many connections
		"57P01": false, // admin shutdown
		"40001": false, // serialization failure
		"55P03": false, // lock not available
		"57014": true,  // statement_timeout in a slow policy: not worth stalling the stream
		"54001": true,  // statement too complex: retrying cannot help
	} {
		if got := refused(&pgconn.PgError{Code: code}); got != want {
			t.Errorf("refused(%s) = %v, want %v", code, got, want)
		}
	}
	if !refused(fmt.Errorf("wrapped: %w", tenant.ErrRoleNotAllowed)) {
		t.Error("an unknown role is refused")
	}
	if refused(context.DeadlineExceeded) || refused(errors.New("conn closed")) {
		t.Error("errors without SQLSTATE are not refusals")
	}
}
