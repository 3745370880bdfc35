package pgoutput

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseXLogData(t *testing.T) {
	in := wire{}.u8('w').u64(0x10).u64(0x20).u64(testMicros).raw('B', 1, 2)
	got, err := ParseXLogData(in)
	if err != nil {
		t.Fatal(err)
	}
	want := XLogData{WALStart: 0x10, ServerWALEnd: 0x20, ServerTime: testTime, Data: []byte{'B', 1, 2}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for n := range 25 {
		if _, err := ParseXLogData(in[:n]); !errors.Is(err, ErrMalformed) {
			t.Errorf("%d bytes: err = %v, want ErrMalformed", n, err)
		}
	}
	if _, err := ParseXLogData(append(wire{'k'}, in[1:]...)); !errors.Is(err, ErrMalformed) {
		t.Errorf("wrong kind byte: err = %v", err)
	}
}

func TestParsePrimaryKeepalive(t *testing.T) {
	for _, reply := range []byte{0, 1} {
		in := wire{}.u8('k').u64(0xABCDEF).u64(testMicros).u8(reply)
		got, err := ParsePrimaryKeepalive(in)
		if err != nil {
			t.Fatal(err)
		}
		want := PrimaryKeepalive{ServerWALEnd: 0xABCDEF, ServerTime: testTime, ReplyRequested: reply == 1}
		if got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
		if _, err := ParsePrimaryKeepalive(in[:17]); !errors.Is(err, ErrMalformed) {
			t.Errorf("short keepalive: err = %v", err)
		}
		if _, err := ParsePrimaryKeepalive(append(in, 0)); !errors.Is(err, ErrMalformed) {
			t.Errorf("long keepalive: err = %v", err)
		}
	}
}

func TestStandbyStatusEncode(t *testing.T) {
	got := StandbyStatus{Written: 3, Flushed: 2, Applied: 1, ClientTime: testTime, ReplyRequested: true}.encode()
	want := []byte(wire{}.u8('r').u64(3).u64(2).u64(1).u64(testMicros).u8(1))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// A zero ClientTime means now, not the year 2000.
	b := StandbyStatus{}.encode()
	if ts := pgTime(int64(wire(b[25:33]).be64())); time.Since(ts) > time.Minute || b[33] != 0 {
		t.Errorf("zero ClientTime encoded as %v, reply byte %d", ts, b[33])
	}
}

func (w wire) be64() uint64 {
	var v uint64
	for _, c := range w {
		v = v<<8 | uint64(c)
	}
	return v
}

func TestStartReplicationSQL(t *testing.T) {
	got, err := startReplicationSQL("slot_1", 0x1_00000010, PluginArgs{Publications: []string{"supabase_realtime", `we"ird,'pub`}, Messages: true})
	if err != nil {
		t.Fatal(err)
	}
	want := `START_REPLICATION SLOT slot_1 LOGICAL 1/10 (proto_version '1', publication_names '"supabase_realtime","we""ird,''pub"', messages 'true')`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	bad := []struct {
		slot string
		pubs []string
	}{
		{"", []string{"p"}},
		{"Slot", []string{"p"}},
		{"a b", []string{"p"}},
		{"a;drop", []string{"p"}},
		{"s", nil},
		{"s", []string{""}},
		{"s", []string{"a\x00b"}},
	}
	for _, b := range bad {
		if sql, err := startReplicationSQL(b.slot, 0, PluginArgs{Publications: b.pubs}); err == nil {
			t.Errorf("startReplicationSQL(%q, %q) = %q, want error", b.slot, b.pubs, sql)
		}
	}
}
