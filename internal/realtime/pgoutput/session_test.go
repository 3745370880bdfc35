package pgoutput

import (
	"context"
	"errors"
	"testing"
)

// xlog wraps a pgoutput message in an XLogData CopyData payload at lsn.
func xlog(lsn uint64, msg wire) []byte {
	return wire{}.u8('w').u64(lsn).u64(lsn).u64(testMicros).raw(msg...)
}

func keepalive(end uint64) []byte {
	return wire{}.u8('k').u64(end).u64(testMicros).u8(0)
}

func newTestSession(t *testing.T, h Handler) *session {
	t.Helper()
	s, err := NewStream(Config{ConnString: "postgres://x@localhost/db", Slot: "s", Publications: []string{"p"}, StartLSN: 0x10}, h)
	if err != nil {
		t.Fatal(err)
	}
	return &session{s: s, rels: NewRelations()}
}

func feed(t *testing.T, ss *session, msgs ...[]byte) error {
	t.Helper()
	for _, m := range msgs {
		if err := ss.copyData(context.Background(), m); err != nil {
			return err
		}
	}
	return nil
}

var relTodos = wire{}.u8('R').u32(100).str("public").str("todos").u8('d').u16(2).
	u8(1).str("id").u32(23).i32(-1).
	u8(0).str("title").u32(25).i32(-1)

func TestSessionAssemblesTransactions(t *testing.T) {
	var got []*Tx
	ss := newTestSession(t, func(ctx context.Context, tx *Tx) error {
		got = append(got, tx)
		return nil
	})
	err := feed(t, ss,
		xlog(0x100, wire{}.u8('B').u64(0x200).u64(testMicros).u32(9)),
		xlog(0x100, wire{}.u8('O').u64(0x50).str("origin_x")),
		xlog(0x110, relTodos),
		xlog(0x120, wire{}.u8('I').u32(100).u8('N').u16(2).text("1").text("a")),
		keepalive(0x150), // mid-transaction: must not move the acknowledged position
		xlog(0x130, wire{}.u8('U').u32(100).u8('K').u16(2).text("1").null().u8('N').u16(2).text("2").unchanged()),
		xlog(0x140, wire{}.u8('D').u32(100).u8('K').u16(2).text("2").null()),
		xlog(0x150, wire{}.u8('T').u32(1).u8(0).u32(100)),
		xlog(0x160, wire{}.u8('M').u8(1).u64(0x160).str("pfx").i32(1).raw('x')),
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 || ss.s.Acked() != 0x10 {
		t.Fatalf("delivered %d transactions / acked %s before Commit", len(got), ss.s.Acked())
	}
	if err := feed(t, ss, xlog(0x200, wire{}.u8('C').u8(0).u64(0x200).u64(0x228).u64(testMicros))); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("delivered %d transactions, want 1", len(got))
	}
	tx := got[0]
	if tx.XID != 9 || tx.CommitLSN != 0x200 || tx.EndLSN != 0x228 || !tx.CommitTime.Equal(testTime) || tx.Origin != "origin_x" {
		t.Errorf("tx header = %+v", tx)
	}
	kinds := []ChangeKind{ChangeInsert, ChangeUpdate, ChangeDelete, ChangeTruncate, ChangeMessage}
	if len(tx.Changes) != len(kinds) {
		t.Fatalf("%d changes, want %d", len(tx.Changes), len(kinds))
	}
	for i, c := range tx.Changes {
		if c.Kind != kinds[i] || c.Index != i || c.CommitLSN != 0x200 {
			t.Errorf("change %d: kind %v index %d commit %s", i, c.Kind, c.Index, c.CommitLSN)
		}
	}
	ins, up, del, tr, msg := tx.Changes[0], tx.Changes[1], tx.Changes[2], tx.Changes[3], tx.Changes[4]
	if ins.Relation.Name != "todos" || ins.LSN != 0x120 || ins.New[1].Name != "title" || ins.New[1].Text() != "a" || ins.Old != nil {
		t.Errorf("insert = %+v", ins)
	}
	if up.OldKind != OldKey || up.Old[0].Text() != "1" || !up.Old[1].IsNull() || up.New[0].Text() != "2" || up.New[1].Kind != TupleUnchanged {
		t.Errorf("update = %+v", up)
	}
	if del.OldKind != OldKey || del.Old[0].Text() != "2" || del.New != nil {
		t.Errorf("delete = %+v", del)
	}
	if len(tr.Truncated) != 1 || tr.Truncated[0].Name != "todos" {
		t.Errorf("truncate = %+v", tr)
	}
	if string(msg.Message.Content) != "x" || msg.Message.Prefix != "pfx" {
		t.Errorf("message = %+v", msg)
	}
	if ss.s.Acked() != 0x228 {
		t.Errorf("acked %s after commit, want 0/228", ss.s.Acked())
	}

	// Between transactions an idle keepalive moves the position forward,
	// never backward.
	if err := feed(t, ss, keepalive(0x300), keepalive(0x250)); err != nil {
		t.Fatal(err)
	}
	if ss.s.Acked() != 0x300 {
		t.Errorf("acked %s after idle keepalives, want 0/300", ss.s.Acked())
	}

	// A non-transactional message is delivered on its own.
	if err := feed(t, ss, xlog(0x400, wire{}.u8('M').u8(0).u64(0x400).str("p").i32(0))); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].XID != 0 || len(got[1].Changes) != 1 || got[1].Changes[0].Kind != ChangeMessage || ss.s.Acked() != 0x401 {
		t.Errorf("non-transactional message: %d txs, acked %s", len(got), ss.s.Acked())
	}
}

func TestSessionHandlerErrorKeepsPosition(t *testing.T) {
	boom := errors.New("boom")
	ss := newTestSession(t, func(ctx context.Context, tx *Tx) error { return boom })
	err := feed(t, ss,
		xlog(0x100, wire{}.u8('B').u64(0x200).u64(testMicros).u32(9)),
		xlog(0x110, relTodos),
		xlog(0x120, wire{}.u8('I').u32(100).u8('N').u16(2).text("1").text("a")),
		xlog(0x200, wire{}.u8('C').u8(0).u64(0x200).u64(0x228).u64(testMicros)),
	)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if ss.s.Acked() != 0x10 {
		t.Errorf("acked %s after a failed handler, want the start 0/10", ss.s.Acked())
	}
}

func TestSessionProtocolErrors(t *testing.T) {
	begin := xlog(0x100, wire{}.u8('B').u64(0x200).u64(testMicros).u32(9))
	tests := []struct {
		name string
		msgs [][]byte
	}{
		{"insert outside transaction", [][]byte{xlog(1, relTodos), xlog(2, wire{}.u8('I').u32(100).u8('N').u16(2).null().null())}},
		{"commit outside transaction", [][]byte{xlog(1, wire{}.u8('C').u8(0).u64(1).u64(2).u64(0))}},
		{"nested begin", [][]byte{begin, begin}},
		{"unknown relation", [][]byte{begin, xlog(2, wire{}.u8('I').u32(999).u8('N').u16(0))}},
		{"tuple width mismatch", [][]byte{begin, xlog(1, relTodos), xlog(2, wire{}.u8('I').u32(100).u8('N').u16(1).null())}},
		{"truncate unknown relation", [][]byte{begin, xlog(2, wire{}.u8('T').u32(1).u8(0).u32(5))}},
		{"malformed pgoutput", [][]byte{xlog(1, wire{}.u8('B'))}},
		{"streaming message", [][]byte{xlog(1, wire{}.u8('S').u32(1).u8(1))}},
		{"empty copy data", [][]byte{{}}},
		{"unknown copy kind", [][]byte{{'x', 1}}},
		{"short keepalive", [][]byte{{'k', 1}}},
		{"short xlogdata", [][]byte{{'w', 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ss := newTestSession(t, func(ctx context.Context, tx *Tx) error {
				t.Error("handler called")
				return nil
			})
			if err := feed(t, ss, tc.msgs...); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestNewStreamValidates(t *testing.T) {
	h := func(context.Context, *Tx) error { return nil }
	ok := Config{ConnString: "postgres://u@localhost/db", Slot: "s", Publications: []string{"p"}}
	if _, err := NewStream(ok, h); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	if _, err := NewStream(ok, nil); err == nil {
		t.Error("nil handler accepted")
	}
	for name, mut := range map[string]func(*Config){
		"bad slot":       func(c *Config) { c.Slot = "Bad-Slot" },
		"no publication": func(c *Config) { c.Publications = nil },
		"bad conn":       func(c *Config) { c.ConnString = "postgres://%zz" },
	} {
		c := ok
		mut(&c)
		if _, err := NewStream(c, h); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestSessionDeferredAck(t *testing.T) {
	var got []*Tx
	s, err := NewStream(Config{ConnString: "postgres://x@localhost/db", Slot: "s", Publications: []string{"p"}, StartLSN: 0x10, Deferred: true},
		func(ctx context.Context, tx *Tx) error {
			got = append(got, tx)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	ss := &session{s: s, rels: NewRelations()}
	tx := func(begin, commit, end uint64) [][]byte {
		return [][]byte{
			xlog(begin, wire{}.u8('B').u64(commit).u64(testMicros).u32(9)),
			xlog(begin+0x10, relTodos),
			xlog(begin+0x20, wire{}.u8('I').u32(100).u8('N').u16(2).text("1").text("a")),
			xlog(commit, wire{}.u8('C').u8(0).u64(commit).u64(end).u64(testMicros)),
		}
	}
	if err := feed(t, ss, append(tx(0x100, 0x200, 0x228), tx(0x300, 0x400, 0x428)...)...); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || s.Acked() != 0x10 {
		t.Fatalf("%d transactions handed, acked %s: a deferred handler's transactions are not confirmed by themselves", len(got), s.Acked())
	}
	// A keepalive while handed transactions are unconfirmed must not skip
	// past them.
	if err := feed(t, ss, keepalive(0x500)); err != nil {
		t.Fatal(err)
	}
	if s.Acked() != 0x10 {
		t.Fatalf("keepalive moved the position to %s over unconfirmed transactions", s.Acked())
	}
	s.Ack(0x228)
	if err := feed(t, ss, keepalive(0x500)); err != nil {
		t.Fatal(err)
	}
	if s.Acked() != 0x228 {
		t.Fatalf("acked %s after Ack of the first of two transactions", s.Acked())
	}
	s.Ack(0x428)
	if err := feed(t, ss, keepalive(0x500)); err != nil {
		t.Fatal(err)
	}
	if s.Acked() != 0x500 {
		t.Fatalf("acked %s: with everything confirmed a keepalive moves the position", s.Acked())
	}
}
