package pgoutput

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/madbase/madbase/internal/testutil/pgtest"
)

var pg *pgtest.Cluster

func TestMain(m *testing.M) {
	if pgtest.Fuzzing() { // the fuzz targets need no database
		os.Exit(m.Run())
	}
	os.Exit(pgtest.Main(m, &pg, nil))
}

// newDB returns a fresh database's URL and a slot name unique in the
// cluster (slots are cluster-wide), dropping the slot before the database.
func newDB(t *testing.T) (url, slot string) {
	t.Helper()
	if pg == nil {
		t.Skip("no cluster while fuzzing")
	}
	url = pg.NewDB(t, "")
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	slot = "s_" + cfg.Database
	if len(slot) > 63 {
		slot = slot[:63]
	}
	t.Cleanup(func() {
		// A database with a slot cannot be dropped.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("cleanup connect: %v", err)
			return
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, slot)
		if err != nil {
			t.Errorf("cleanup drop slot: %v", err)
		}
	})
	return url, slot
}

func sqlConn(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func mustExec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func replConn(t *testing.T, url string) *pgconn.PgConn {
	t.Helper()
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["replication"] = "database"
	conn, err := pgconn.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestReplicationCommands drives the low-level layer by hand: commands,
// a temporary slot streamed on its own connection, decoding and a status
// update.
func TestReplicationCommands(t *testing.T) {
	url, slot := newDB(t)
	ctx := t.Context()
	sq := sqlConn(t, url)
	mustExec(t, sq, `CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION p FOR TABLE t`)

	rc := replConn(t, url)
	sys, err := IdentifySystem(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	var dbName string
	if err := sq.QueryRow(ctx, "SELECT current_database()").Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	if sys.DBName != dbName || sys.Timeline < 1 || sys.XLogPos == 0 || sys.SystemID == "" {
		t.Errorf("IdentifySystem = %+v", sys)
	}

	// A persistent slot, a duplicate, and its drop.
	persistent := slot + "_p"
	if len(persistent) > 63 {
		persistent = persistent[len(persistent)-63:]
	}
	info, err := CreateReplicationSlot(ctx, rc, persistent, "pgoutput", false)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != persistent || info.Plugin != "pgoutput" || info.ConsistentPoint < sys.XLogPos {
		t.Errorf("CreateReplicationSlot = %+v (xlogpos %s)", info, sys.XLogPos)
	}
	if _, err := CreateReplicationSlot(ctx, rc, persistent, "pgoutput", false); !IsDuplicateSlot(err) {
		t.Errorf("second create: err = %v, want duplicate", err)
	}
	if err := DropReplicationSlot(ctx, rc, persistent, false); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := sq.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", persistent).Scan(&n); err != nil || n != 0 {
		t.Errorf("slot still there after drop: %d, %v", n, err)
	}

	// Starting on a missing slot fails and leaves the connection usable.
	if err := StartReplication(ctx, rc, "no_such_slot", 0, PluginArgs{Publications: []string{"p"}}); err == nil {
		t.Fatal("StartReplication on a missing slot succeeded")
	}
	if _, err := IdentifySystem(ctx, rc); err != nil {
		t.Fatalf("connection unusable after a failed start: %v", err)
	}

	tmp, err := CreateReplicationSlot(ctx, rc, slot, "pgoutput", true)
	if err != nil {
		t.Fatal(err)
	}
	var temporary bool
	if err := sq.QueryRow(ctx, "SELECT temporary FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&temporary); err != nil || !temporary {
		t.Errorf("slot temporary = %v, %v", temporary, err)
	}
	if err := StartReplication(ctx, rc, slot, tmp.ConsistentPoint, PluginArgs{Publications: []string{"p"}, Messages: true}); err != nil {
		t.Fatal(err)
	}
	mustExec(t, sq, `INSERT INTO t VALUES (1, 'one')`)

	var got []MessageType
	var commit *Commit
	deadline, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for commit == nil {
		msg, err := rc.ReceiveMessage(deadline)
		if err != nil {
			t.Fatalf("receive (after %v): %v", got, err)
		}
		cd, ok := msg.(*pgproto3.CopyData)
		if !ok {
			t.Fatalf("unexpected %T", msg)
		}
		switch cd.Data[0] {
		case CopyPrimaryKeepalive:
			if _, err := ParsePrimaryKeepalive(cd.Data); err != nil {
				t.Fatal(err)
			}
		case CopyXLogData:
			x, err := ParseXLogData(cd.Data)
			if err != nil {
				t.Fatal(err)
			}
			m, err := Decode(x.Data)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, m.Type())
			if ins, ok := m.(*Insert); ok && (len(ins.New) != 2 || string(ins.New[1].Data) != "one") {
				t.Errorf("insert = %+v", ins)
			}
			commit, _ = m.(*Commit)
		}
	}
	if want := []MessageType{TypeBegin, TypeRelation, TypeInsert, TypeCommit}; !equalTypes(got, want) {
		t.Errorf("message types %v, want %v", got, want)
	}
	if err := SendStandbyStatusUpdate(ctx, rc, StandbyStatus{Written: commit.EndLSN, Flushed: commit.EndLSN, Applied: commit.EndLSN}); err != nil {
		t.Fatal(err)
	}
	waitConfirmed(t, sq, slot, commit.EndLSN)
}

func equalTypes(a, b []MessageType) bool {
	return strings.EqualFold(typesString(a), typesString(b))
}

func typesString(ts []MessageType) string {
	var b strings.Builder
	for _, t := range ts {
		b.WriteString(t.String() + " ")
	}
	return b.String()
}

// waitConfirmed waits until the server reports the slot's confirmed_flush_lsn
// as want (the status update is processed asynchronously).
func waitConfirmed(t *testing.T, sq *pgx.Conn, slot string, want LSN) {
	t.Helper()
	var got LSN
	for range 100 {
		got = confirmedFlush(t, sq, slot)
		if got == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("confirmed_flush_lsn = %s, want %s", got, want)
}

func confirmedFlush(t *testing.T, sq *pgx.Conn, slot string) LSN {
	t.Helper()
	var s string
	if err := sq.QueryRow(t.Context(), "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&s); err != nil {
		t.Fatal(err)
	}
	l, err := ParseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// collector gathers transactions from a Stream and stops it once stop says so.
type collector struct {
	mu     sync.Mutex
	txs    []*Tx
	cancel context.CancelFunc
	stop   func(txs []*Tx) bool
	fail   func(n int, tx *Tx) error // optional: error for the n-th (0-based) tx
}

func (c *collector) handle(ctx context.Context, tx *Tx) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		if err := c.fail(len(c.txs), tx); err != nil {
			return err
		}
	}
	c.txs = append(c.txs, tx)
	if c.stop != nil && c.stop(c.txs) {
		c.cancel()
	}
	return nil
}

// run runs a stream until the collector stops it, failing the test on any
// other outcome than the returned error.
func (c *collector) run(t *testing.T, cfg Config) (*Stream, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c.cancel = cancel
	s, err := NewStream(cfg, c.handle)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stream timed out after %d transactions", len(c.txs))
	}
	return s, err
}

func TestStreamDecodesChanges(t *testing.T) {
	url, slot := newDB(t)
	sq := sqlConn(t, url)
	mustExec(t, sq, `
		CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
		CREATE TABLE full_t (id int PRIMARY KEY, title varchar(20), n numeric(10,2), tags text[]);
		ALTER TABLE full_t REPLICA IDENTITY FULL;
		CREATE TABLE def_t (id bigint PRIMARY KEY, v text, d date, m mood, big text);
		ALTER TABLE def_t ALTER big SET STORAGE EXTERNAL;
		CREATE TABLE unpublished (id int);
		CREATE PUBLICATION pub FOR TABLE full_t, def_t;`)
	mustExec(t, sq, `SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, slot)

	big := strings.Repeat("0123456789", 1000) // stored out of line: unchanged on update
	mustExec(t, sq, `INSERT INTO full_t VALUES (1, 'a', 1.5, '{x,"y z"}'), (2, NULL, NULL, NULL)`)
	mustExec(t, sq, `INSERT INTO unpublished VALUES (1)`)
	mustExec(t, sq, `INSERT INTO def_t VALUES (10, 'v', '2024-02-29', 'happy', $1)`, big)
	mustExec(t, sq, `BEGIN;
		INSERT INTO def_t VALUES (12, 'v', '2024-02-29', 'happy', 'small');
		UPDATE full_t SET title = 'b' WHERE id = 1;
		UPDATE def_t SET v = 'w' WHERE id = 10;
		UPDATE def_t SET id = 11 WHERE id = 10;
		DELETE FROM full_t WHERE id = 1;
		DELETE FROM def_t WHERE id = 11;
		SELECT pg_logical_emit_message(true, 'madbase', 'in-tx');
		COMMIT`)
	mustExec(t, sq, `SELECT pg_logical_emit_message(false, 'madbase', 'outside')`)
	mustExec(t, sq, `TRUNCATE full_t, def_t RESTART IDENTITY`)

	c := &collector{stop: func(txs []*Tx) bool { return len(txs) == 5 }}
	s, err := c.run(t, Config{ConnString: url, Slot: slot, Publications: []string{"pub"}, Messages: true})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	txs := c.txs
	if len(txs) != 5 {
		t.Fatalf("%d transactions, want 5", len(txs))
	}

	// 1: two inserts into the FULL identity table.
	if len(txs[0].Changes) != 2 {
		t.Fatalf("tx1 has %d changes", len(txs[0].Changes))
	}
	ins := txs[0].Changes[0]
	rel := ins.Relation
	if ins.Kind != ChangeInsert || rel.Schema != "public" || rel.Name != "full_t" || rel.Identity != IdentityFull {
		t.Errorf("tx1 change 0: %v on %+v", ins.Kind, rel)
	}
	wantCols := []Column{
		{Key: true, Name: "id", TypeOID: 23, TypeMod: -1},
		{Key: true, Name: "title", TypeOID: 1043, TypeMod: 24},
		{Key: true, Name: "n", TypeOID: 1700, TypeMod: 10<<16 | 2 + 4},
		{Key: true, Name: "tags", TypeOID: 1009, TypeMod: -1},
	}
	if !equalColumns(rel.Columns, wantCols) {
		t.Errorf("full_t columns = %+v, want %+v", rel.Columns, wantCols)
	}
	if got := texts(ins.New); got != `1|a|1.50|{x,"y z"}` {
		t.Errorf("tx1 insert = %s", got)
	}
	if got := texts(txs[0].Changes[1].New); got != "2|NULL|NULL|NULL" {
		t.Errorf("tx1 insert 2 = %s", got)
	}
	for i, ch := range txs[0].Changes {
		if ch.Index != i || ch.CommitLSN != txs[0].CommitLSN || ch.LSN == 0 {
			t.Errorf("tx1 change %d: index %d commit %s lsn %s", i, ch.Index, ch.CommitLSN, ch.LSN)
		}
	}

	// 2: one insert into the DEFAULT identity table, with a TOASTed value.
	if len(txs[1].Changes) != 1 {
		t.Fatalf("tx2 has %d changes", len(txs[1].Changes))
	}
	defRel := txs[1].Changes[0].Relation
	if defRel.Name != "def_t" || defRel.Identity != IdentityDefault {
		t.Errorf("def_t relation %+v", defRel)
	}
	if got := texts(txs[1].Changes[0].New); got != "10|v|2024-02-29|happy|"+big {
		t.Errorf("def_t insert = %.80s", got)
	}
	moodOID := defRel.Columns[3].TypeOID
	if sch, name, ok := txs[1].Relations.TypeName(moodOID); !ok || sch != "public" || name != "mood" {
		t.Errorf("TypeName(%d) = %q %q %v", moodOID, sch, name, ok)
	}
	if !defRel.Columns[0].Key || defRel.Columns[1].Key || defRel.Columns[0].TypeOID != 20 || defRel.Columns[2].TypeOID != 1082 {
		t.Errorf("def_t columns %+v", defRel.Columns)
	}

	// 3: the mixed transaction.
	tx := txs[2]
	kinds := []ChangeKind{ChangeInsert, ChangeUpdate, ChangeUpdate, ChangeUpdate, ChangeDelete, ChangeDelete, ChangeMessage}
	if len(tx.Changes) != len(kinds) {
		t.Fatalf("tx2 has %d changes, want %d", len(tx.Changes), len(kinds))
	}
	for i, ch := range tx.Changes {
		if ch.Kind != kinds[i] || ch.Index != i || ch.CommitLSN != tx.CommitLSN {
			t.Errorf("tx2 change %d: %v index %d commit %s", i, ch.Kind, ch.Index, ch.CommitLSN)
		}
		if i > 0 && ch.LSN <= tx.Changes[i-1].LSN {
			t.Errorf("tx2 change %d LSN %s not after %s", i, ch.LSN, tx.Changes[i-1].LSN)
		}
	}
	if got := texts(tx.Changes[0].New); got != "12|v|2024-02-29|happy|small" || tx.Changes[0].Relation != defRel {
		t.Errorf("def_t insert = %s", got)
	}
	// FULL identity: the whole old row.
	if up := tx.Changes[1]; up.OldKind != OldFull || texts(up.Old) != `1|a|1.50|{x,"y z"}` || texts(up.New) != `1|b|1.50|{x,"y z"}` {
		t.Errorf("full_t update: %c old %s new %s", up.OldKind, texts(up.Old), texts(up.New))
	}
	// DEFAULT identity, key unchanged: no old row; the TOASTed column is not resent.
	if up := tx.Changes[2]; up.OldKind != OldNone || up.Old != nil || texts(up.New) != "10|w|2024-02-29|happy|<unchanged>" {
		t.Errorf("def_t update: %c old %v new %.80s", up.OldKind, up.Old, texts(up.New))
	}
	// DEFAULT identity, key changed: the old key only.
	if up := tx.Changes[3]; up.OldKind != OldKey || texts(up.Old) != "10|NULL|NULL|NULL|NULL" || !strings.HasPrefix(texts(up.New), "11|w|") {
		t.Errorf("def_t key update: %c old %s new %.80s", up.OldKind, texts(up.Old), texts(up.New))
	}
	if del := tx.Changes[4]; del.OldKind != OldFull || texts(del.Old) != `1|b|1.50|{x,"y z"}` || del.New != nil {
		t.Errorf("full_t delete: %c old %s", del.OldKind, texts(del.Old))
	}
	if del := tx.Changes[5]; del.OldKind != OldKey || texts(del.Old) != "11|NULL|NULL|NULL|NULL" {
		t.Errorf("def_t delete: %c old %s", del.OldKind, texts(del.Old))
	}
	if m := tx.Changes[6].Message; !m.Transactional || m.Prefix != "madbase" || string(m.Content) != "in-tx" {
		t.Errorf("transactional message %+v", m)
	}

	// 4: the non-transactional message, alone.
	if m := txs[3]; m.XID != 0 || len(m.Changes) != 1 || m.Changes[0].Message == nil || m.Changes[0].Message.Transactional ||
		string(m.Changes[0].Message.Content) != "outside" {
		t.Errorf("non-transactional message tx %+v", m)
	}

	// 5: one truncate of both tables.
	tr := txs[4]
	if len(tr.Changes) != 1 || tr.Changes[0].Kind != ChangeTruncate || len(tr.Changes[0].Truncated) != 2 ||
		tr.Changes[0].TruncateOptions != TruncateRestartIdentity {
		t.Fatalf("truncate tx %+v", tr)
	}
	names := []string{tr.Changes[0].Truncated[0].Name, tr.Changes[0].Truncated[1].Name}
	if !(names[0] == "full_t" && names[1] == "def_t" || names[0] == "def_t" && names[1] == "full_t") {
		t.Errorf("truncated %v", names)
	}

	for i := 1; i < len(txs); i++ {
		if txs[i].CommitLSN <= txs[i-1].CommitLSN || txs[i].EndLSN <= txs[i].CommitLSN && txs[i].XID != 0 {
			t.Errorf("tx %d: commit %s end %s after commit %s", i, txs[i].CommitLSN, txs[i].EndLSN, txs[i-1].CommitLSN)
		}
	}
	if !txs[0].CommitTime.After(time.Now().Add(-time.Minute)) {
		t.Errorf("commit time %v", txs[0].CommitTime)
	}
	// A clean stop reports the handled position to the server.
	if s.Acked() < txs[4].EndLSN {
		t.Errorf("acked %s before the last end %s", s.Acked(), txs[4].EndLSN)
	}
	waitInactive(t, sq, slot)
	if got := confirmedFlush(t, sq, slot); got != s.Acked() {
		t.Errorf("confirmed_flush_lsn %s after clean stop, want %s", got, s.Acked())
	}
}

func equalColumns(a, b []Column) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// texts renders a row image as "v1|v2|…" with NULL and <unchanged> markers.
func texts(fs []Field) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		switch f.Kind {
		case TupleNull:
			parts[i] = "NULL"
		case TupleUnchanged:
			parts[i] = "<unchanged>"
		default:
			parts[i] = f.Text()
		}
	}
	return strings.Join(parts, "|")
}

func waitInactive(t *testing.T, sq *pgx.Conn, slot string) {
	t.Helper()
	for range 200 {
		var active bool
		if err := sq.QueryRow(t.Context(), "SELECT active FROM pg_replication_slots WHERE slot_name = $1", slot).Scan(&active); err != nil {
			t.Fatal(err)
		}
		if !active {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("slot still active")
}

var errCrash = errors.New("simulated crash")

// TestStreamRestartLosesNothing is the durability guarantee: whatever way a
// stream stops (handler failure mid-flight, clean shutdown, process loss),
// restarting from the slot or from Acked() redelivers every committed
// transaction the handler did not finish. Duplicates are allowed.
func TestStreamRestartLosesNothing(t *testing.T) {
	url, slot := newDB(t)
	sq := sqlConn(t, url)
	mustExec(t, sq, `CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION pub FOR TABLE t`)
	cfg := Config{ConnString: url, Slot: slot, CreateSlot: true, Publications: []string{"pub"}, StatusInterval: 20 * time.Millisecond}

	// Create the slot first so that no write precedes it.
	probe := &collector{stop: func([]*Tx) bool { return true }}
	probeCtx, cancelProbe := context.WithCancel(t.Context())
	probe.cancel = cancelProbe
	ps, err := NewStream(cfg, probe.handle)
	if err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(300 * time.Millisecond); cancelProbe() }()
	if err := ps.Run(probeCtx); !errors.Is(err, context.Canceled) {
		t.Fatalf("probe run: %v", err)
	}

	// Writers commit rows 1..total, one per transaction, while streams
	// come and go.
	const total = 300
	writerDone := make(chan error, 1)
	go func() {
		conn, err := pgx.Connect(context.Background(), url)
		if err != nil {
			writerDone <- err
			return
		}
		defer conn.Close(context.Background())
		for i := 1; i <= total; i++ {
			if _, err := conn.Exec(context.Background(), "INSERT INTO t VALUES ($1)", i); err != nil {
				writerDone <- err
				return
			}
		}
		writerDone <- nil
	}()

	ids := func(txs []*Tx) []int {
		var out []int
		for _, tx := range txs {
			for _, ch := range tx.Changes {
				var id int
				for _, c := range ch.New[0].Data {
					id = id*10 + int(c-'0')
				}
				out = append(out, id)
			}
		}
		return out
	}
	seen := map[int]bool{}
	record := func(name string, txs []*Tx) []int {
		got := ids(txs)
		for i, id := range got {
			if i > 0 && id <= got[i-1] {
				t.Errorf("%s: id %d delivered after %d", name, id, got[i-1])
			}
			seen[id] = true
		}
		return got
	}

	// A: the handler fails on its 40th transaction. That transaction must
	// not be acknowledged, and must come again.
	var crashed *Tx
	a := &collector{fail: func(n int, tx *Tx) error {
		if n == 39 {
			crashed = tx
			return errCrash
		}
		return nil
	}}
	as, err := a.run(t, cfg)
	if !errors.Is(err, errCrash) || crashed == nil {
		t.Fatalf("A: Run = %v after %d transactions, want the simulated crash", err, len(a.txs))
	}
	record("A", a.txs)
	crashedID := ids([]*Tx{crashed})[0]
	if as.Acked() >= crashed.EndLSN {
		t.Errorf("A acked %s, beyond the failed transaction's end %s", as.Acked(), crashed.EndLSN)
	}
	waitInactive(t, sq, slot)
	if cf := confirmedFlush(t, sq, slot); cf > as.Acked() || cf >= crashed.EndLSN {
		t.Errorf("confirmed_flush %s after A: ahead of handled %s / failed end %s", cf, as.Acked(), crashed.EndLSN)
	}

	// B: a new process that lost its memory starts from the slot (0), and
	// shuts down cleanly after 100 transactions.
	b := &collector{stop: func(txs []*Tx) bool { return len(txs) == 100 }}
	bs, err := b.run(t, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("B: Run = %v", err)
	}
	gotB := record("B", b.txs)
	if !contains(gotB, crashedID) {
		t.Errorf("B did not redeliver row %d whose handler failed in A", crashedID)
	}
	if gotB[0] > crashedID {
		t.Errorf("B started at row %d, after the unhandled row %d", gotB[0], crashedID)
	}
	waitInactive(t, sq, slot)
	if cf := confirmedFlush(t, sq, slot); cf != bs.Acked() {
		t.Errorf("confirmed_flush %s after clean stop of B, want %s", cf, bs.Acked())
	}

	// D: resumes from B's Acked(), reports nothing (long status
	// interval), and loses its server connection after 30 transactions,
	// like a process killed before its next status update.
	cfgD := cfg
	cfgD.StartLSN = bs.Acked()
	cfgD.StatusInterval = time.Hour
	before := confirmedFlush(t, sq, slot)
	d := &collector{}
	d.stop = func(txs []*Tx) bool {
		if len(txs) == 30 {
			_, err := sq.Exec(context.Background(), "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1", slot)
			if err != nil {
				t.Errorf("terminate walsender: %v", err)
			}
		}
		return false
	}
	if _, err := d.run(t, cfgD); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("D: Run = %v, want a connection error", err)
	}
	gotD := record("D", d.txs)
	if len(gotD) < 30 || gotD[0] > gotB[len(gotB)-1]+1 {
		t.Fatalf("D delivered %v after B ended at %d", gotD, gotB[len(gotB)-1])
	}
	waitInactive(t, sq, slot)
	if cf := confirmedFlush(t, sq, slot); cf != before {
		t.Errorf("confirmed_flush moved from %s to %s without a status update", before, cf)
	}

	// C: a fresh process starts from the slot and runs until the writer's
	// last row; everything D handled but never confirmed comes again.
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	c := &collector{stop: func(txs []*Tx) bool { return ids(txs[len(txs)-1:])[0] == total }}
	if _, err := c.run(t, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("C: Run = %v", err)
	}
	gotC := record("C", c.txs)
	if gotC[0] > gotD[0] {
		t.Errorf("C started at %d, after D's unconfirmed rows from %d", gotC[0], gotD[0])
	}

	for i := 1; i <= total; i++ {
		if !seen[i] {
			t.Errorf("row %d committed but never delivered", i)
		}
	}
	t.Logf("A handled %d (failed on row %d), B %d (clean stop), D %d (killed), C %d; %d rows, %d deliveries",
		len(a.txs), crashedID, len(b.txs), len(d.txs), len(c.txs), total, len(a.txs)+len(b.txs)+len(d.txs)+len(c.txs))
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
