package pgoutput

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// The functions in this file drive the walsender's replication commands on
// a connection opened with the runtime parameter replication=database.

// SystemInfo is the result of IDENTIFY_SYSTEM.
type SystemInfo struct {
	SystemID string
	Timeline int32
	XLogPos  LSN // current WAL flush position
	DBName   string
}

// IdentifySystem asks the server who it is and where its WAL ends.
func IdentifySystem(ctx context.Context, conn *pgconn.PgConn) (SystemInfo, error) {
	row, err := execOneRow(ctx, conn, "IDENTIFY_SYSTEM", 4)
	if err != nil {
		return SystemInfo{}, fmt.Errorf("identify system: %w", err)
	}
	tl, err := strconv.ParseInt(string(row[1]), 10, 32)
	if err != nil {
		return SystemInfo{}, fmt.Errorf("identify system: timeline %q: %w", row[1], err)
	}
	pos, err := ParseLSN(string(row[2]))
	if err != nil {
		return SystemInfo{}, fmt.Errorf("identify system: %w", err)
	}
	return SystemInfo{SystemID: string(row[0]), Timeline: int32(tl), XLogPos: pos, DBName: string(row[3])}, nil
}

// SlotInfo is the result of CREATE_REPLICATION_SLOT.
type SlotInfo struct {
	Name string
	// ConsistentPoint is the first LSN from which the slot can stream;
	// transactions committed before it are not decoded.
	ConsistentPoint LSN
	Plugin          string
}

// CreateReplicationSlot creates a logical slot using plugin (normally
// "pgoutput") without exporting a snapshot. A temporary slot lives only as
// long as this connection, so it must be streamed on the same connection.
func CreateReplicationSlot(ctx context.Context, conn *pgconn.PgConn, name, plugin string, temporary bool) (SlotInfo, error) {
	if err := checkSlotName(name); err != nil {
		return SlotInfo{}, err
	}
	if err := checkSlotName(plugin); err != nil {
		return SlotInfo{}, fmt.Errorf("plugin: %w", err)
	}
	tmp := ""
	if temporary {
		tmp = " TEMPORARY"
	}
	// The pre-15 option spelling is still accepted by current servers and
	// works on older ones too.
	sql := fmt.Sprintf("CREATE_REPLICATION_SLOT %s%s LOGICAL %s NOEXPORT_SNAPSHOT", name, tmp, plugin)
	row, err := execOneRow(ctx, conn, sql, 4)
	if err != nil {
		return SlotInfo{}, fmt.Errorf("create replication slot %s: %w", name, err)
	}
	cp, err := ParseLSN(string(row[1]))
	if err != nil {
		return SlotInfo{}, fmt.Errorf("create replication slot %s: %w", name, err)
	}
	return SlotInfo{Name: string(row[0]), ConsistentPoint: cp, Plugin: string(row[3])}, nil
}

// DropReplicationSlot drops a slot; with wait it waits for an active slot to
// become inactive instead of failing.
func DropReplicationSlot(ctx context.Context, conn *pgconn.PgConn, name string, wait bool) error {
	if err := checkSlotName(name); err != nil {
		return err
	}
	sql := "DROP_REPLICATION_SLOT " + name
	if wait {
		sql += " WAIT"
	}
	if _, err := conn.Exec(ctx, sql).ReadAll(); err != nil {
		return fmt.Errorf("drop replication slot %s: %w", name, err)
	}
	return nil
}

// IsDuplicateSlot reports whether err is the server's "replication slot
// already exists" error.
func IsDuplicateSlot(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42710"
}

// PluginArgs are the pgoutput options sent with START_REPLICATION.
type PluginArgs struct {
	Publications []string // publication names, at least one
	// Messages asks for logical decoding messages (pg_logical_emit_message);
	// servers before 14 reject it.
	Messages bool
}

// StartReplication enters streaming (CopyBoth) mode on slot from start,
// with pgoutput protocol version 1. A start of 0 or one before the slot's
// confirmed_flush_lsn means "from confirmed_flush_lsn". After it returns,
// read with conn.ReceiveMessage and answer with SendStandbyStatusUpdate.
func StartReplication(ctx context.Context, conn *pgconn.PgConn, slot string, start LSN, args PluginArgs) error {
	sql, err := startReplicationSQL(slot, start, args)
	if err != nil {
		return err
	}
	conn.Frontend().Send(&pgproto3.Query{String: sql})
	if err := conn.Frontend().Flush(); err != nil {
		return fmt.Errorf("start replication: send: %w", err)
	}
	for {
		msg, err := conn.ReceiveMessage(ctx)
		if err != nil {
			return fmt.Errorf("start replication: %w", err)
		}
		switch msg := msg.(type) {
		case *pgproto3.CopyBothResponse:
			return nil
		case *pgproto3.ErrorResponse:
			pgErr := pgconn.ErrorResponseToPgError(msg)
			// Leave the connection idle and usable: the server follows
			// an error with ReadyForQuery.
			for {
				m, err := conn.ReceiveMessage(ctx)
				if err != nil {
					break
				}
				if _, ok := m.(*pgproto3.ReadyForQuery); ok {
					break
				}
			}
			return fmt.Errorf("start replication: %w", pgErr)
		case *pgproto3.NoticeResponse, *pgproto3.ParameterStatus:
		default:
			return fmt.Errorf("start replication: unexpected %T", msg)
		}
	}
}

func startReplicationSQL(slot string, start LSN, args PluginArgs) (string, error) {
	if err := checkSlotName(slot); err != nil {
		return "", err
	}
	if len(args.Publications) == 0 {
		return "", errors.New("start replication: no publication")
	}
	names := make([]string, len(args.Publications))
	for i, p := range args.Publications {
		if p == "" || strings.IndexByte(p, 0) >= 0 {
			return "", fmt.Errorf("start replication: invalid publication name %q", p)
		}
		// pgoutput splits this list like a search_path: comma separated,
		// each name an identifier that may be double quoted.
		names[i] = `"` + strings.ReplaceAll(p, `"`, `""`) + `"`
	}
	list := strings.ReplaceAll(strings.Join(names, ","), `'`, `''`)
	opts := fmt.Sprintf("proto_version '1', publication_names '%s'", list)
	if args.Messages {
		opts += ", messages 'true'"
	}
	return fmt.Sprintf("START_REPLICATION SLOT %s LOGICAL %s (%s)", slot, start, opts), nil
}

// checkSlotName accepts what the server accepts for slot names (lower-case
// letters, digits, underscore; at most 63 bytes), which also makes the name
// safe to splice into a replication command.
func checkSlotName(name string) error {
	if name == "" || len(name) > 63 {
		return fmt.Errorf("pgoutput: invalid slot name %q", name)
	}
	for _, c := range []byte(name) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Errorf("pgoutput: invalid slot name %q", name)
		}
	}
	return nil
}

func execOneRow(ctx context.Context, conn *pgconn.PgConn, sql string, cols int) ([][]byte, error) {
	results, err := conn.Exec(ctx, sql).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(results) != 1 || len(results[0].Rows) != 1 || len(results[0].Rows[0]) < cols {
		return nil, fmt.Errorf("pgoutput: unexpected result shape for %s", strings.Fields(sql)[0])
	}
	return results[0].Rows[0], nil
}

// CopyData message kinds inside a replication stream.
const (
	CopyXLogData         = 'w' // server → client: WAL (pgoutput) data
	CopyPrimaryKeepalive = 'k' // server → client: keepalive
	CopyStandbyStatus    = 'r' // client → server: standby status update
)

// XLogData carries one pgoutput message.
type XLogData struct {
	WALStart     LSN // LSN of the data (for pgoutput, the change's record)
	ServerWALEnd LSN
	ServerTime   time.Time
	Data         []byte // aliases the input
}

// ParseXLogData parses a whole CopyData payload starting with 'w'.
func ParseXLogData(b []byte) (XLogData, error) {
	if len(b) < 25 || b[0] != CopyXLogData {
		return XLogData{}, fmt.Errorf("%w: XLogData of %d bytes", ErrMalformed, len(b))
	}
	return XLogData{
		WALStart:     LSN(binary.BigEndian.Uint64(b[1:])),
		ServerWALEnd: LSN(binary.BigEndian.Uint64(b[9:])),
		ServerTime:   pgTime(int64(binary.BigEndian.Uint64(b[17:]))),
		Data:         b[25:],
	}, nil
}

// PrimaryKeepalive is the server's heartbeat.
type PrimaryKeepalive struct {
	ServerWALEnd LSN
	ServerTime   time.Time
	// ReplyRequested asks for a status update now, or the server
	// disconnects after wal_sender_timeout.
	ReplyRequested bool
}

// ParsePrimaryKeepalive parses a whole CopyData payload starting with 'k'.
func ParsePrimaryKeepalive(b []byte) (PrimaryKeepalive, error) {
	if len(b) != 18 || b[0] != CopyPrimaryKeepalive {
		return PrimaryKeepalive{}, fmt.Errorf("%w: keepalive of %d bytes", ErrMalformed, len(b))
	}
	return PrimaryKeepalive{
		ServerWALEnd:   LSN(binary.BigEndian.Uint64(b[1:])),
		ServerTime:     pgTime(int64(binary.BigEndian.Uint64(b[9:]))),
		ReplyRequested: b[17] != 0,
	}, nil
}

// StandbyStatus is what the client reports. For logical replication the
// server takes Flushed as the slot's confirmed_flush_lsn: everything before
// it will never be sent again.
type StandbyStatus struct {
	Written, Flushed, Applied LSN
	ClientTime                time.Time // zero means now
	ReplyRequested            bool
}

func (s StandbyStatus) encode() []byte {
	t := s.ClientTime
	if t.IsZero() {
		t = time.Now()
	}
	b := make([]byte, 0, 34)
	b = append(b, CopyStandbyStatus)
	b = binary.BigEndian.AppendUint64(b, uint64(s.Written))
	b = binary.BigEndian.AppendUint64(b, uint64(s.Flushed))
	b = binary.BigEndian.AppendUint64(b, uint64(s.Applied))
	b = binary.BigEndian.AppendUint64(b, uint64(pgMicros(t)))
	reply := byte(0)
	if s.ReplyRequested {
		reply = 1
	}
	return append(b, reply)
}

// SendStandbyStatusUpdate sends a status update on a streaming connection.
// It must not run concurrently with ReceiveMessage on the same connection.
func SendStandbyStatusUpdate(ctx context.Context, conn *pgconn.PgConn, s StandbyStatus) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.Conn().SetWriteDeadline(dl)
		defer conn.Conn().SetWriteDeadline(time.Time{})
	}
	conn.Frontend().Send(&pgproto3.CopyData{Data: s.encode()})
	if err := conn.Frontend().Flush(); err != nil {
		return fmt.Errorf("standby status update: %w", err)
	}
	return nil
}
