package pgoutput

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// ChangeKind says what a Change is.
type ChangeKind uint8

// Change kinds.
const (
	ChangeInsert ChangeKind = iota + 1
	ChangeUpdate
	ChangeDelete
	ChangeTruncate
	ChangeMessage
)

func (k ChangeKind) String() string {
	switch k {
	case ChangeInsert:
		return "INSERT"
	case ChangeUpdate:
		return "UPDATE"
	case ChangeDelete:
		return "DELETE"
	case ChangeTruncate:
		return "TRUNCATE"
	case ChangeMessage:
		return "MESSAGE"
	}
	return fmt.Sprintf("ChangeKind(%d)", uint8(k))
}

// Change is one row change (or truncate, or logical message) of a
// committed transaction.
type Change struct {
	Kind      ChangeKind
	CommitLSN LSN // the transaction's commit LSN
	Index     int // position of this change in its transaction, from 0
	LSN       LSN // WAL position of the change itself

	// Insert, Update, Delete: the table and the row images. Old is nil
	// unless the server sent an old tuple (OldKind OldKey or OldFull).
	// In New, TupleUnchanged marks TOASTed values the server did not resend.
	Relation *Relation
	New      []Field
	OldKind  byte
	Old      []Field

	// Truncate: the tables emptied together and the TruncateCascade /
	// TruncateRestartIdentity bits.
	Truncated       []*Relation
	TruncateOptions uint8

	// Message: a pg_logical_emit_message record.
	Message *LogicalMessage
}

// Tx is a committed transaction, with its changes in commit order.
//
// A non-transactional logical message is delivered alone as a Tx with XID
// 0 and one ChangeMessage; its CommitLSN is the message's LSN.
type Tx struct {
	XID        uint32
	CommitLSN  LSN // start of the commit record
	EndLSN     LSN // the position acknowledged once the handler returns nil
	CommitTime time.Time
	Origin     string // replication origin name, if any
	Changes    []Change
	// Relations is the session's relation and type cache, valid only
	// during the handler call (for names of non built-in types).
	Relations *Relations
}

// Handler consumes one committed transaction. When it returns nil the
// transaction counts as handled and its EndLSN may be confirmed to the
// server, after which the server never sends it again; an error stops Run
// without confirming it, so the transaction is redelivered next time.
type Handler func(ctx context.Context, tx *Tx) error

// Config configures a Stream.
type Config struct {
	// ConnString is a libpq URL or DSN; replication=database is added.
	ConnString string
	// Slot is the logical replication slot to stream from.
	Slot string
	// CreateSlot creates Slot (persistent, pgoutput) when it does not exist.
	CreateSlot bool
	// Publications are the pgoutput publication names.
	Publications []string
	// StartLSN is where the first Run starts; 0 means the slot's
	// confirmed_flush_lsn. Later runs resume from Acked().
	StartLSN LSN
	// Messages also delivers logical decoding messages (server 14+).
	Messages bool
	// StatusInterval is how often the position is reported even when the
	// server does not ask; default 10s. It must stay well under the
	// server's wal_sender_timeout (default 60s).
	StatusInterval time.Duration
	// Logger receives connection events; nil discards them.
	Logger *slog.Logger
	// Deferred: a nil from the handler means only that it took the
	// transaction over; the position is confirmed up to what is passed to
	// Ack. The handler can then queue transactions and deliver them in
	// batches on another goroutine while the stream reads on.
	Deferred bool
}

// Stream delivers committed transactions from a logical replication slot.
type Stream struct {
	cfg     Config
	handler Handler
	log     *slog.Logger
	acked   atomic.Uint64
}

// NewStream validates cfg and returns a stream that calls h for each
// committed transaction.
func NewStream(cfg Config, h Handler) (*Stream, error) {
	if h == nil {
		return nil, errors.New("pgoutput: nil handler")
	}
	if _, err := startReplicationSQL(cfg.Slot, 0, PluginArgs{Publications: cfg.Publications}); err != nil {
		return nil, err
	}
	if _, err := pgconn.ParseConfig(cfg.ConnString); err != nil {
		return nil, fmt.Errorf("pgoutput: %w", err)
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Stream{cfg: cfg, handler: h, log: log}
	s.acked.Store(uint64(cfg.StartLSN))
	return s, nil
}

// Acked returns the highest LSN known handled: the end of the last
// transaction whose handler returned nil, or an idle keepalive position.
// It is what the stream reports as flushed, and where the next Run starts.
func (s *Stream) Acked() LSN { return LSN(s.acked.Load()) }

// Ack confirms every transaction ending at or before l, with Deferred.
func (s *Stream) Ack(l LSN) { s.advance(l) }

func (s *Stream) advance(l LSN) {
	for {
		cur := s.acked.Load()
		if uint64(l) <= cur || s.acked.CompareAndSwap(cur, uint64(l)) {
			return
		}
	}
}

// Run connects, starts streaming from Acked() and delivers transactions
// until ctx ends (it then reports the position once more and returns
// ctx's error), the handler fails, or the connection breaks. Run may be
// called again after it returns to resume; it must not run concurrently
// with itself.
//
// The handler runs on the receive loop, so while it runs no keepalive is
// answered: it must return well within wal_sender_timeout.
func (s *Stream) Run(ctx context.Context) error {
	pcfg, err := pgconn.ParseConfig(s.cfg.ConnString)
	if err != nil {
		return fmt.Errorf("pgoutput: %w", err)
	}
	pcfg.RuntimeParams["replication"] = "database"
	conn, err := pgconn.ConnectConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("pgoutput: connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		conn.Close(cctx)
	}()

	if s.cfg.CreateSlot {
		slot, err := CreateReplicationSlot(ctx, conn, s.cfg.Slot, "pgoutput", false)
		switch {
		case err == nil:
			s.log.Info("replication slot created", "slot", slot.Name, "consistent_point", slot.ConsistentPoint.String())
		case IsDuplicateSlot(err):
		default:
			return fmt.Errorf("pgoutput: %w", err)
		}
	}
	start := s.Acked()
	err = StartReplication(ctx, conn, s.cfg.Slot, start, PluginArgs{Publications: s.cfg.Publications, Messages: s.cfg.Messages})
	if err != nil {
		return fmt.Errorf("pgoutput: %w", err)
	}
	s.log.Info("replication started", "slot", s.cfg.Slot, "start_lsn", start.String())

	sess := &session{s: s, conn: conn, rels: NewRelations()}
	err = sess.loop(ctx)
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	var conErr *connError
	if !errors.As(err, &conErr) {
		// The connection still works: report the final position and end
		// the copy cleanly, so a shutdown or a failed handler leaves the
		// slot exactly where the handler got to. (Merely closing could
		// reset the connection and lose the last update.)
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if serr := sess.finish(fctx); serr != nil {
			s.log.Warn("replication shutdown incomplete", "err", serr)
		}
	}
	return err
}

// connError marks failures of the connection itself, after which there is
// no point in a clean shutdown.
type connError struct{ err error }

func (e *connError) Error() string { return e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

// finish sends the final status, ends the copy and drains the server's
// remaining messages until it is idle again.
func (ss *session) finish(ctx context.Context) error {
	if err := ss.sendStatus(ctx, false); err != nil {
		return err
	}
	ss.conn.Frontend().Send(&pgproto3.CopyDone{})
	if err := ss.conn.Frontend().Flush(); err != nil {
		return fmt.Errorf("send CopyDone: %w", err)
	}
	for {
		msg, err := ss.conn.ReceiveMessage(ctx)
		if err != nil {
			return err
		}
		switch msg := msg.(type) {
		case *pgproto3.ReadyForQuery:
			return nil
		case *pgproto3.ErrorResponse:
			return pgconn.ErrorResponseToPgError(msg)
		}
	}
}

// session is the state of one replication connection.
type session struct {
	s    *Stream
	conn *pgconn.PgConn
	rels *Relations
	tx   *Tx // open transaction between Begin and Commit, else nil
	// handed is the end of the last transaction given to the handler.
	handed LSN

	nextStatus time.Time
}

func (ss *session) sendStatus(ctx context.Context, reply bool) error {
	pos := ss.s.Acked()
	ss.nextStatus = time.Now().Add(ss.s.cfg.StatusInterval)
	return SendStandbyStatusUpdate(ctx, ss.conn, StandbyStatus{Written: pos, Flushed: pos, Applied: pos, ReplyRequested: reply})
}

func (ss *session) loop(ctx context.Context) error {
	ss.nextStatus = time.Now().Add(ss.s.cfg.StatusInterval)
	for {
		if !time.Now().Before(ss.nextStatus) {
			if err := ss.sendStatus(ctx, false); err != nil {
				return &connError{fmt.Errorf("pgoutput: %w", err)}
			}
		}
		rctx, cancel := context.WithDeadline(ctx, ss.nextStatus)
		msg, err := ss.conn.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if pgconn.Timeout(err) {
				continue // time for a status update
			}
			return &connError{fmt.Errorf("pgoutput: receive: %w", err)}
		}
		switch msg := msg.(type) {
		case *pgproto3.CopyData:
			if err := ss.copyData(ctx, msg.Data); err != nil {
				return err
			}
		case *pgproto3.ErrorResponse:
			return &connError{fmt.Errorf("pgoutput: server: %w", pgconn.ErrorResponseToPgError(msg))}
		case *pgproto3.CopyDone:
			return &connError{errors.New("pgoutput: server ended replication")}
		case *pgproto3.NoticeResponse, *pgproto3.ParameterStatus:
		default:
			return fmt.Errorf("pgoutput: unexpected %T while streaming", msg)
		}
	}
}

func (ss *session) copyData(ctx context.Context, data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("pgoutput: %w: empty CopyData", ErrMalformed)
	}
	switch data[0] {
	case CopyPrimaryKeepalive:
		ka, err := ParsePrimaryKeepalive(data)
		if err != nil {
			return err
		}
		if ss.tx == nil && ss.s.Acked() >= ss.handed {
			// Between transactions, with everything handed over confirmed,
			// all the server decoded up to here has been handled, so its
			// position is safe to confirm; this lets the slot advance past
			// WAL of unpublished tables.
			ss.s.advance(ka.ServerWALEnd)
		}
		if ka.ReplyRequested {
			if err := ss.sendStatus(ctx, false); err != nil {
				return &connError{fmt.Errorf("pgoutput: %w", err)}
			}
		}
		return nil
	case CopyXLogData:
		xld, err := ParseXLogData(data)
		if err != nil {
			return err
		}
		// pgconn reuses its read buffer; decoded slices must outlive it.
		m, err := Decode(bytes.Clone(xld.Data))
		if err != nil {
			return fmt.Errorf("at %s: %w", xld.WALStart, err)
		}
		return ss.message(ctx, xld.WALStart, m)
	default:
		return fmt.Errorf("pgoutput: %w: CopyData kind %q", ErrMalformed, data[0])
	}
}

func (ss *session) message(ctx context.Context, at LSN, m Message) error {
	if ss.rels.Observe(m) {
		return nil
	}
	switch m := m.(type) {
	case *Begin:
		if ss.tx != nil {
			return fmt.Errorf("pgoutput: Begin at %s inside transaction %d", at, ss.tx.XID)
		}
		ss.tx = &Tx{XID: m.XID, CommitLSN: m.FinalLSN, CommitTime: m.CommitTime, Relations: ss.rels}
		return nil
	case *Commit:
		tx, err := ss.open(m)
		if err != nil {
			return err
		}
		tx.CommitLSN, tx.EndLSN, tx.CommitTime = m.CommitLSN, m.EndLSN, m.CommitTime
		for i := range tx.Changes {
			tx.Changes[i].CommitLSN = m.CommitLSN
		}
		ss.tx = nil
		return ss.deliver(ctx, tx)
	case *LogicalMessage:
		if !m.Transactional {
			// Confirming one past the record's start skips exactly this
			// record on restart; the record's end is not sent.
			tx := &Tx{CommitLSN: m.LSN, EndLSN: m.LSN + 1, Relations: ss.rels,
				Changes: []Change{{Kind: ChangeMessage, CommitLSN: m.LSN, LSN: m.LSN, Message: m}}}
			return ss.deliver(ctx, tx)
		}
		return ss.add(m, Change{Kind: ChangeMessage, LSN: at, Message: m})
	case *Origin:
		tx, err := ss.open(m)
		if err != nil {
			return err
		}
		tx.Origin = m.Name
		return nil
	case *Insert:
		rel, err := ss.relation(m.RelationID)
		if err != nil {
			return err
		}
		c := Change{Kind: ChangeInsert, LSN: at, Relation: rel}
		if c.New, err = rel.Fields(m.New); err != nil {
			return err
		}
		return ss.add(m, c)
	case *Update:
		rel, err := ss.relation(m.RelationID)
		if err != nil {
			return err
		}
		c := Change{Kind: ChangeUpdate, LSN: at, Relation: rel, OldKind: m.OldKind}
		if c.New, err = rel.Fields(m.New); err != nil {
			return err
		}
		if m.Old != nil {
			if c.Old, err = rel.Fields(m.Old); err != nil {
				return err
			}
		}
		return ss.add(m, c)
	case *Delete:
		rel, err := ss.relation(m.RelationID)
		if err != nil {
			return err
		}
		c := Change{Kind: ChangeDelete, LSN: at, Relation: rel, OldKind: m.OldKind}
		if c.Old, err = rel.Fields(m.Old); err != nil {
			return err
		}
		return ss.add(m, c)
	case *Truncate:
		c := Change{Kind: ChangeTruncate, LSN: at, TruncateOptions: m.Options}
		for _, id := range m.RelationIDs {
			rel, err := ss.relation(id)
			if err != nil {
				return err
			}
			c.Truncated = append(c.Truncated, rel)
		}
		return ss.add(m, c)
	}
	return fmt.Errorf("pgoutput: unexpected %s message", m.Type())
}

func (ss *session) open(m Message) (*Tx, error) {
	if ss.tx == nil {
		return nil, fmt.Errorf("pgoutput: %s outside a transaction", m.Type())
	}
	return ss.tx, nil
}

func (ss *session) add(m Message, c Change) error {
	tx, err := ss.open(m)
	if err != nil {
		return err
	}
	c.Index = len(tx.Changes)
	tx.Changes = append(tx.Changes, c)
	return nil
}

func (ss *session) relation(id uint32) (*Relation, error) {
	rel, ok := ss.rels.Get(id)
	if !ok {
		return nil, fmt.Errorf("pgoutput: change for relation %d before its Relation message", id)
	}
	return rel, nil
}

func (ss *session) deliver(ctx context.Context, tx *Tx) error {
	if err := ss.s.handler(ctx, tx); err != nil {
		return fmt.Errorf("pgoutput: handler for transaction at %s: %w", tx.CommitLSN, err)
	}
	ss.handed = tx.EndLSN
	if !ss.s.cfg.Deferred {
		ss.s.advance(tx.EndLSN)
	}
	return nil
}
