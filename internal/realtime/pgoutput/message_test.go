package pgoutput

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// wire builds protocol bytes by hand, so the tests state the layout
// independently of the decoder.
type wire []byte

func (w wire) u8(v byte) wire    { return append(w, v) }
func (w wire) u16(v int16) wire  { return binary.BigEndian.AppendUint16(w, uint16(v)) }
func (w wire) u32(v uint32) wire { return binary.BigEndian.AppendUint32(w, v) }
func (w wire) i32(v int32) wire  { return w.u32(uint32(v)) }
func (w wire) u64(v uint64) wire { return binary.BigEndian.AppendUint64(w, v) }
func (w wire) str(s string) wire { return append(append(w, s...), 0) }
func (w wire) raw(b ...byte) wire {
	return append(w, b...)
}

// text, null and unchanged append one tuple value.
func (w wire) text(s string) wire { return w.u8('t').i32(int32(len(s))).raw([]byte(s)...) }
func (w wire) null() wire         { return w.u8('n') }
func (w wire) unchanged() wire    { return w.u8('u') }

// 2024-01-02 03:04:05.123456 UTC in PostgreSQL epoch microseconds.
var (
	testTime   = time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)
	testMicros = uint64(testTime.UnixMicro() - 946684800_000_000)
)

type decodeCase struct {
	name string
	in   []byte
	want Message
}

func decodeCases() []decodeCase {
	return []decodeCase{
		{"begin", wire{}.u8('B').u64(0x16_B374D848).u64(testMicros).u32(777),
			&Begin{FinalLSN: 0x16_B374D848, CommitTime: testTime, XID: 777}},
		{"commit", wire{}.u8('C').u8(0).u64(0x100).u64(0x128).u64(testMicros),
			&Commit{CommitLSN: 0x100, EndLSN: 0x128, CommitTime: testTime}},
		{"origin", wire{}.u8('O').u64(0x42).str("node_a"),
			&Origin{CommitLSN: 0x42, Name: "node_a"}},
		{"relation", wire{}.u8('R').u32(16384).str("public").str("todos").u8('f').u16(3).
			u8(1).str("id").u32(20).i32(-1).
			u8(0).str("title").u32(1043).i32(104).
			u8(0).str("tags").u32(1009).i32(-1),
			&Relation{ID: 16384, Schema: "public", Name: "todos", Identity: IdentityFull, Columns: []Column{
				{Key: true, Name: "id", TypeOID: 20, TypeMod: -1},
				{Name: "title", TypeOID: 1043, TypeMod: 104},
				{Name: "tags", TypeOID: 1009, TypeMod: -1},
			}}},
		{"relation pg_catalog no columns", wire{}.u8('R').u32(1).str("").str("t").u8('n').u16(0),
			&Relation{ID: 1, Name: "t", Identity: IdentityNothing, Columns: []Column{}}},
		{"type", wire{}.u8('Y').u32(90001).str("public").str("mood"),
			&Type{OID: 90001, Schema: "public", Name: "mood"}},
		{"insert", wire{}.u8('I').u32(16384).u8('N').u16(3).text("7").text("héllo").null(),
			&Insert{RelationID: 16384, New: Tuple{{Kind: 't', Data: []byte("7")}, {Kind: 't', Data: []byte("héllo")}, {Kind: 'n'}}}},
		{"insert binary and empty text", wire{}.u8('I').u32(5).u8('N').u16(2).u8('b').i32(2).raw(0, 1).u8('t').i32(0),
			&Insert{RelationID: 5, New: Tuple{{Kind: 'b', Data: []byte{0, 1}}, {Kind: 't', Data: []byte{}}}}},
		{"update no old", wire{}.u8('U').u32(16384).u8('N').u16(2).text("7").unchanged(),
			&Update{RelationID: 16384, New: Tuple{{Kind: 't', Data: []byte("7")}, {Kind: 'u'}}}},
		{"update key", wire{}.u8('U').u32(16384).u8('K').u16(2).text("7").null().u8('N').u16(2).text("8").text("x"),
			&Update{RelationID: 16384, OldKind: OldKey,
				Old: Tuple{{Kind: 't', Data: []byte("7")}, {Kind: 'n'}},
				New: Tuple{{Kind: 't', Data: []byte("8")}, {Kind: 't', Data: []byte("x")}}}},
		{"update full", wire{}.u8('U').u32(16384).u8('O').u16(1).text("a").u8('N').u16(1).text("b"),
			&Update{RelationID: 16384, OldKind: OldFull, Old: Tuple{{Kind: 't', Data: []byte("a")}}, New: Tuple{{Kind: 't', Data: []byte("b")}}}},
		{"delete key", wire{}.u8('D').u32(9).u8('K').u16(2).text("1").null(),
			&Delete{RelationID: 9, OldKind: OldKey, Old: Tuple{{Kind: 't', Data: []byte("1")}, {Kind: 'n'}}}},
		{"delete full", wire{}.u8('D').u32(9).u8('O').u16(1).text("1"),
			&Delete{RelationID: 9, OldKind: OldFull, Old: Tuple{{Kind: 't', Data: []byte("1")}}}},
		{"truncate", wire{}.u8('T').u32(2).u8(TruncateCascade | TruncateRestartIdentity).u32(10).u32(11),
			&Truncate{Options: 3, RelationIDs: []uint32{10, 11}}},
		{"message transactional", wire{}.u8('M').u8(1).u64(0x99).str("app").i32(3).raw('a', 0, 'b'),
			&LogicalMessage{Transactional: true, LSN: 0x99, Prefix: "app", Content: []byte{'a', 0, 'b'}}},
		{"message plain empty", wire{}.u8('M').u8(0).u64(0x99).str("").i32(0),
			&LogicalMessage{LSN: 0x99, Content: []byte{}}},
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range decodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.in)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Decode mismatch (-want +got):\n%s", diff)
			}
			if got.Type() != MessageType(tc.in[0]) {
				t.Errorf("Type() = %v, want %q", got.Type(), tc.in[0])
			}
		})
	}
}

// Every proper prefix of a valid message, and the message plus a trailing
// byte, must be rejected as malformed: a short or long read is never a
// message.
func TestDecodeTruncatedAndTrailing(t *testing.T) {
	for _, tc := range decodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			for n := range len(tc.in) {
				if m, err := Decode(tc.in[:n]); !errors.Is(err, ErrMalformed) {
					t.Errorf("prefix of %d/%d bytes: got %v, %v; want ErrMalformed", n, len(tc.in), m, err)
				}
			}
			long := append(append([]byte{}, tc.in...), 0)
			if _, err := Decode(long); !errors.Is(err, ErrMalformed) {
				t.Errorf("trailing byte: got %v, want ErrMalformed", err)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"unknown type", wire{}.u8('Z'), ErrMalformed},
		{"stream start", wire{}.u8('S').u32(1).u8(1), ErrUnsupported},
		{"stream stop", wire{}.u8('E'), ErrUnsupported},
		{"stream commit", wire{}.u8('c'), ErrUnsupported},
		{"stream abort", wire{}.u8('A'), ErrUnsupported},
		{"begin prepare", wire{}.u8('b'), ErrUnsupported},
		{"prepare", wire{}.u8('P'), ErrUnsupported},
		{"commit prepared", wire{}.u8('K'), ErrUnsupported},
		{"rollback prepared", wire{}.u8('r'), ErrUnsupported},
		{"stream prepare", wire{}.u8('p'), ErrUnsupported},
		{"insert without N", wire{}.u8('I').u32(1).u8('K').u16(0), ErrMalformed},
		{"update bad marker", wire{}.u8('U').u32(1).u8('X').u16(0), ErrMalformed},
		{"update old then no N", wire{}.u8('U').u32(1).u8('K').u16(0).u8('K').u16(0), ErrMalformed},
		{"delete N marker", wire{}.u8('D').u32(1).u8('N').u16(0), ErrMalformed},
		{"bad tuple kind", wire{}.u8('I').u32(1).u8('N').u16(1).u8('x'), ErrMalformed},
		{"negative tuple count", wire{}.u8('I').u32(1).u8('N').u16(-1), ErrMalformed},
		{"tuple count beyond data", wire{}.u8('I').u32(1).u8('N').u16(32767).null(), ErrMalformed},
		{"negative value length", wire{}.u8('I').u32(1).u8('N').u16(1).u8('t').i32(-1), ErrMalformed},
		{"value length beyond data", wire{}.u8('I').u32(1).u8('N').u16(1).u8('t').i32(1 << 30).raw('x'), ErrMalformed},
		{"relation column count beyond data", wire{}.u8('R').u32(1).str("s").str("t").u8('d').u16(5000), ErrMalformed},
		{"relation negative column count", wire{}.u8('R').u32(1).str("s").str("t").u8('d').u16(-2), ErrMalformed},
		{"truncate huge count", wire{}.u8('T').u32(0x7fffffff).u8(0).u32(1), ErrMalformed},
		{"truncate negative count", wire{}.u8('T').u32(0xffffffff).u8(0), ErrMalformed},
		{"message negative length", wire{}.u8('M').u8(0).u64(1).str("p").i32(-5), ErrMalformed},
		{"unterminated string", wire{}.u8('O').u64(1).raw('a', 'b'), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Decode(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %v, %v; want error %v", m, err, tc.want)
			}
			if m != nil {
				t.Errorf("message %v returned with error", m)
			}
		})
	}
}

func TestLSN(t *testing.T) {
	tests := []struct {
		text string
		lsn  LSN
		out  string
	}{
		{"0/0", 0, "0/0"},
		{"16/B374D848", 0x16_B374D848, "16/B374D848"},
		{"16/b374d848", 0x16_B374D848, "16/B374D848"},
		{"0/0000ABCD", 0xABCD, "0/ABCD"},
		{"FFFFFFFF/FFFFFFFF", ^LSN(0), "FFFFFFFF/FFFFFFFF"},
	}
	for _, tc := range tests {
		got, err := ParseLSN(tc.text)
		if err != nil || got != tc.lsn {
			t.Errorf("ParseLSN(%q) = %v, %v; want %d", tc.text, got, err, tc.lsn)
		}
		if s := tc.lsn.String(); s != tc.out {
			t.Errorf("LSN(%d).String() = %q, want %q", uint64(tc.lsn), s, tc.out)
		}
	}
	for _, bad := range []string{"", "/", "1/", "/1", "1", "g/0", "0/g", "1/2/3", "+1/0", "-1/0", "123456789/0", "0/123456789", " 0/0"} {
		if l, err := ParseLSN(bad); err == nil {
			t.Errorf("ParseLSN(%q) = %v, want error", bad, l)
		}
	}
}

func TestRelations(t *testing.T) {
	c := NewRelations()
	rel := &Relation{ID: 7, Schema: "public", Name: "t", Identity: IdentityDefault, Columns: []Column{
		{Key: true, Name: "id", TypeOID: 23, TypeMod: -1},
		{Name: "mood", TypeOID: 90001, TypeMod: -1},
	}}
	if !c.Observe(rel) || !c.Observe(&Type{OID: 90001, Schema: "public", Name: "mood"}) {
		t.Fatal("Observe did not take a Relation or Type")
	}
	if c.Observe(&Begin{}) {
		t.Error("Observe took a Begin")
	}
	if s, n, ok := c.TypeName(90001); !ok || s != "public" || n != "mood" {
		t.Errorf("TypeName = %q, %q, %v", s, n, ok)
	}
	if _, _, ok := c.TypeName(23); ok {
		t.Error("TypeName knows a built-in type nobody announced")
	}

	got, err := c.Fields(7, Tuple{{Kind: 't', Data: []byte("1")}, {Kind: 'n'}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Field{
		{Name: "id", TypeOID: 23, TypeMod: -1, Key: true, Kind: 't', Data: []byte("1")},
		{Name: "mood", TypeOID: 90001, TypeMod: -1, Kind: 'n'},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Fields (-want +got):\n%s", diff)
	}
	if got[0].Text() != "1" || got[0].IsNull() || !got[1].IsNull() {
		t.Errorf("Text/IsNull wrong: %+v", got)
	}
	if _, err := c.Fields(8, nil); err == nil {
		t.Error("Fields of an unknown relation succeeded")
	}
	if _, err := c.Fields(7, Tuple{{Kind: 'n'}}); err == nil {
		t.Error("Fields with a short tuple succeeded")
	}

	// A later Relation message replaces the earlier definition (ALTER TABLE).
	c.Observe(&Relation{ID: 7, Schema: "public", Name: "t2", Columns: []Column{{Name: "id", TypeOID: 23}}})
	if r, ok := c.Get(7); !ok || r.Name != "t2" {
		t.Errorf("Get after redefinition = %+v, %v", r, ok)
	}
}
