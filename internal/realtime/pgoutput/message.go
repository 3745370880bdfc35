package pgoutput

import (
	"errors"
	"fmt"
	"time"
)

// Errors returned (wrapped) by Decode and the copy-message parsers.
var (
	// ErrMalformed means the bytes are not a well-formed message.
	ErrMalformed = errors.New("pgoutput: malformed message")
	// ErrUnsupported means a well-known message that protocol version 1
	// never sends (streaming of in-progress transactions, two-phase commit).
	ErrUnsupported = errors.New("pgoutput: unsupported message")
)

// MessageType is the first byte of a pgoutput message.
type MessageType byte

// Message types of protocol version 1, and the later ones Decode rejects.
const (
	TypeBegin    MessageType = 'B'
	TypeCommit   MessageType = 'C'
	TypeOrigin   MessageType = 'O'
	TypeRelation MessageType = 'R'
	TypeType     MessageType = 'Y'
	TypeInsert   MessageType = 'I'
	TypeUpdate   MessageType = 'U'
	TypeDelete   MessageType = 'D'
	TypeTruncate MessageType = 'T'
	TypeMessage  MessageType = 'M'

	// Protocol version 2 (streaming) and 3 (two-phase); never requested.
	TypeStreamStart     MessageType = 'S'
	TypeStreamStop      MessageType = 'E'
	TypeStreamCommit    MessageType = 'c'
	TypeStreamAbort     MessageType = 'A'
	TypeBeginPrepare    MessageType = 'b'
	TypePrepare         MessageType = 'P'
	TypeCommitPrepared  MessageType = 'K'
	TypeRollbackPrepare MessageType = 'r'
	TypeStreamPrepare   MessageType = 'p'
)

func (t MessageType) String() string {
	switch t {
	case TypeBegin:
		return "Begin"
	case TypeCommit:
		return "Commit"
	case TypeOrigin:
		return "Origin"
	case TypeRelation:
		return "Relation"
	case TypeType:
		return "Type"
	case TypeInsert:
		return "Insert"
	case TypeUpdate:
		return "Update"
	case TypeDelete:
		return "Delete"
	case TypeTruncate:
		return "Truncate"
	case TypeMessage:
		return "Message"
	}
	return fmt.Sprintf("MessageType(%q)", byte(t))
}

// Message is one decoded pgoutput message: *Begin, *Commit, *Origin,
// *Relation, *Type, *Insert, *Update, *Delete, *Truncate or *LogicalMessage.
type Message interface {
	Type() MessageType
}

// Begin starts a transaction.
type Begin struct {
	FinalLSN   LSN // LSN of the transaction's commit record
	CommitTime time.Time
	XID        uint32
}

// Commit ends the transaction opened by the preceding Begin.
type Commit struct {
	Flags      uint8
	CommitLSN  LSN // start of the commit record
	EndLSN     LSN // end of the commit record: the position to acknowledge
	CommitTime time.Time
}

// Origin names the replication origin a transaction came from.
type Origin struct {
	CommitLSN LSN
	Name      string
}

// Replica identity settings, as pg_class.relreplident.
const (
	IdentityDefault = 'd'
	IdentityNothing = 'n'
	IdentityFull    = 'f'
	IdentityIndex   = 'i'
)

// Column describes one column of a Relation.
type Column struct {
	Key     bool // part of the replica identity (flag bit 1)
	Name    string
	TypeOID uint32
	TypeMod int32
}

// Relation describes a table; the server sends it before the first change
// of that table in a session and again whenever its definition changes.
type Relation struct {
	ID       uint32
	Schema   string // empty means pg_catalog
	Name     string
	Identity byte // IdentityDefault, IdentityNothing, IdentityFull or IdentityIndex
	Columns  []Column
}

// Type names a non built-in data type used by a following Relation.
type Type struct {
	OID    uint32
	Schema string
	Name   string
}

// Tuple value kinds.
const (
	TupleNull      = 'n' // SQL NULL
	TupleUnchanged = 'u' // unchanged TOASTed value; the actual value is not sent
	TupleText      = 't' // text output of the type
	TupleBinary    = 'b' // binary send output of the type
)

// TupleValue is one column of a Tuple. Data is nil unless Kind is TupleText
// or TupleBinary.
type TupleValue struct {
	Kind byte
	Data []byte
}

// Tuple is a row image, one value per relation column in order.
type Tuple []TupleValue

// Old tuple kinds of Update and Delete.
const (
	OldNone = 0   // no old tuple was sent
	OldKey  = 'K' // only replica identity columns; others are null
	OldFull = 'O' // the whole old row (REPLICA IDENTITY FULL)
)

// Insert is a new row.
type Insert struct {
	RelationID uint32
	New        Tuple
}

// Update is a changed row. Old is nil when OldKind is OldNone, which happens
// when the identity did not change on a DEFAULT/INDEX identity table.
type Update struct {
	RelationID uint32
	OldKind    byte
	Old        Tuple
	New        Tuple
}

// Delete is a removed row; Old holds the identity (OldKey) or whole row (OldFull).
type Delete struct {
	RelationID uint32
	OldKind    byte
	Old        Tuple
}

// Truncate options bits.
const (
	TruncateCascade         = 1
	TruncateRestartIdentity = 2
)

// Truncate empties one or more tables in one statement.
type Truncate struct {
	Options     uint8
	RelationIDs []uint32
}

// LogicalMessage is a message written with pg_logical_emit_message.
// Non-transactional ones arrive outside any Begin/Commit.
type LogicalMessage struct {
	Transactional bool
	LSN           LSN
	Prefix        string
	Content       []byte
}

func (*Begin) Type() MessageType          { return TypeBegin }
func (*Commit) Type() MessageType         { return TypeCommit }
func (*Origin) Type() MessageType         { return TypeOrigin }
func (*Relation) Type() MessageType       { return TypeRelation }
func (*Type) Type() MessageType           { return TypeType }
func (*Insert) Type() MessageType         { return TypeInsert }
func (*Update) Type() MessageType         { return TypeUpdate }
func (*Delete) Type() MessageType         { return TypeDelete }
func (*Truncate) Type() MessageType       { return TypeTruncate }
func (*LogicalMessage) Type() MessageType { return TypeMessage }

// Decode decodes one pgoutput protocol version 1 message (the payload of an
// XLogData). Returned byte slices alias data. It returns an error wrapping
// ErrMalformed for bytes that are not a complete, exact message and
// ErrUnsupported for streaming and two-phase messages; it never panics.
func Decode(data []byte) (Message, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	r := reader{b: data[1:]}
	t := MessageType(data[0])
	var m Message
	switch t {
	case TypeBegin:
		m = &Begin{FinalLSN: LSN(r.u64()), CommitTime: pgTime(r.i64()), XID: r.u32()}
	case TypeCommit:
		m = &Commit{Flags: r.u8(), CommitLSN: LSN(r.u64()), EndLSN: LSN(r.u64()), CommitTime: pgTime(r.i64())}
	case TypeOrigin:
		m = &Origin{CommitLSN: LSN(r.u64()), Name: r.str()}
	case TypeRelation:
		m = r.relation()
	case TypeType:
		m = &Type{OID: r.u32(), Schema: r.str(), Name: r.str()}
	case TypeInsert:
		ins := &Insert{RelationID: r.u32()}
		if k := r.u8(); k != 'N' && r.err == nil {
			r.fail("insert: want 'N', got %q", k)
		}
		ins.New = r.tuple()
		m = ins
	case TypeUpdate:
		up := &Update{RelationID: r.u32()}
		k := r.u8()
		if k == OldKey || k == OldFull {
			up.OldKind = k
			up.Old = r.tuple()
			k = r.u8()
		}
		if k != 'N' && r.err == nil {
			r.fail("update: want 'N', got %q", k)
		}
		up.New = r.tuple()
		m = up
	case TypeDelete:
		del := &Delete{RelationID: r.u32(), OldKind: r.u8()}
		if del.OldKind != OldKey && del.OldKind != OldFull && r.err == nil {
			r.fail("delete: want 'K' or 'O', got %q", del.OldKind)
		}
		del.Old = r.tuple()
		m = del
	case TypeTruncate:
		m = r.truncate()
	case TypeMessage:
		lm := &LogicalMessage{}
		flags := r.u8()
		lm.Transactional = flags&1 != 0
		lm.LSN = LSN(r.u64())
		lm.Prefix = r.str()
		lm.Content = r.bytes(int(r.i32()))
		m = lm
	case TypeStreamStart, TypeStreamStop, TypeStreamCommit, TypeStreamAbort,
		TypeBeginPrepare, TypePrepare, TypeCommitPrepared, TypeRollbackPrepare, TypeStreamPrepare:
		return nil, fmt.Errorf("%w: %q (requires protocol version 2 or later)", ErrUnsupported, byte(t))
	default:
		return nil, fmt.Errorf("%w: unknown type %q", ErrMalformed, byte(t))
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return nil, fmt.Errorf("%s: %w", t, r.err)
	}
	return m, nil
}

func (r *reader) relation() *Relation {
	rel := &Relation{ID: r.u32(), Schema: r.str(), Name: r.str(), Identity: r.u8()}
	n := int(r.i16())
	// Each column is at least flags(1) + name NUL(1) + oid(4) + typmod(4).
	if n < 0 || n*10 > len(r.b) {
		r.fail("relation: bad column count %d", n)
		return rel
	}
	rel.Columns = make([]Column, n)
	for i := range rel.Columns {
		flags := r.u8()
		rel.Columns[i] = Column{Key: flags&1 != 0, Name: r.str(), TypeOID: r.u32(), TypeMod: r.i32()}
	}
	return rel
}

func (r *reader) truncate() *Truncate {
	n := int(r.i32())
	tr := &Truncate{Options: r.u8()}
	if n < 0 || n*4 > len(r.b) {
		r.fail("truncate: bad relation count %d", n)
		return tr
	}
	tr.RelationIDs = make([]uint32, n)
	for i := range tr.RelationIDs {
		tr.RelationIDs[i] = r.u32()
	}
	return tr
}

func (r *reader) tuple() Tuple {
	n := int(r.i16())
	// Each value is at least its kind byte.
	if n < 0 || n > len(r.b) {
		r.fail("tuple: bad column count %d", n)
		return nil
	}
	t := make(Tuple, n)
	for i := range t {
		k := r.u8()
		switch k {
		case TupleNull, TupleUnchanged:
			t[i] = TupleValue{Kind: k}
		case TupleText, TupleBinary:
			t[i] = TupleValue{Kind: k, Data: r.bytes(int(r.i32()))}
		default:
			if r.err == nil {
				r.fail("tuple: unknown value kind %q", k)
			}
		}
		if r.err != nil {
			return nil
		}
	}
	return t
}

// pgEpoch is PostgreSQL's timestamp zero, 2000-01-01 UTC, in Unix
// microseconds; wire timestamps are microseconds from it.
const pgEpoch = 946684800 * 1_000_000

func pgTime(us int64) time.Time {
	return time.UnixMicro(pgEpoch + us).UTC()
}

func pgMicros(t time.Time) int64 {
	return t.UnixMicro() - pgEpoch
}

// reader consumes big-endian fields; after the first short read every
// accessor returns zero values and err stays set, so callers check once.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.fail("need %d bytes, have %d", n, len(r.b))
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) u8() byte {
	p := r.take(1)
	if p == nil {
		return 0
	}
	return p[0]
}

func (r *reader) u32() uint32 {
	p := r.take(4)
	if p == nil {
		return 0
	}
	return uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3])
}

func (r *reader) u64() uint64 {
	hi := r.u32()
	return uint64(hi)<<32 | uint64(r.u32())
}

func (r *reader) i16() int16 {
	p := r.take(2)
	if p == nil {
		return 0
	}
	return int16(uint16(p[0])<<8 | uint16(p[1]))
}

func (r *reader) i32() int32 { return int32(r.u32()) }
func (r *reader) i64() int64 { return int64(r.u64()) }

func (r *reader) str() string {
	if r.err != nil {
		return ""
	}
	for i, c := range r.b {
		if c == 0 {
			s := string(r.b[:i])
			r.b = r.b[i+1:]
			return s
		}
	}
	r.fail("unterminated string")
	return ""
}

// bytes returns the next n bytes; a length of -1 is only legal for NULL
// in the extended protocol, never here.
func (r *reader) bytes(n int) []byte {
	if r.err == nil && n < 0 {
		r.fail("negative length %d", n)
	}
	return r.take(n)
}
