package tenant

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/madbase/madbase/internal/httpx"
)

// Querier is what a handler may do inside Tx. *pgx.Conn satisfies it; the
// value Tx hands out defers BEGIN and the claims setup so they travel in the
// same round trip as the handler's first statement.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error)
}

// TxOptions shape one RLS transaction.
type TxOptions struct {
	ReadOnly bool
	// Rollback ends the transaction with ROLLBACK even on success (Prefer: tx=rollback).
	Rollback bool
	// EndInBatch says the handler issues exactly one statement or batch and
	// needs no verdict after reading it: the transaction then ends in that
	// same round trip (the batch runs as one implicit transaction, committed
	// at its end; with Rollback, BEGIN … ROLLBACK travel with it), so a
	// request costs one round trip in all. Any statement after the first
	// fails with ErrTxEnded.
	EndInBatch bool
	// Hold, with EndInBatch, lets a handler that may need a verdict after
	// all keep the one round trip: it is a statement that fails exactly when
	// the verdict is needed (e.g. when the statement left response settings
	// to validate). It runs after the batch, behind a savepoint, with COMMIT
	// after it. If it passes, the transaction has committed in the round
	// trip; if it fails with a database error, the transaction goes back to
	// the savepoint and stays open, and commits after fn only if fn returns
	// nil, as without EndInBatch.
	Hold string
	// Request supplies request.method, request.path and request.headers.
	Request *http.Request
	// Path, when set, is request.path instead of Request's URL path.
	Path string
	// Settings are extra transaction-local GUCs (e.g. storage.operation, realtime.topic).
	Settings map[string]string
}

// AllowedRoles are the roles Tx will switch to.
var AllowedRoles = map[string]bool{RoleAnon: true, RoleAuthenticated: true, RoleService: true}

// ErrRoleNotAllowed is the 403 for a token naming another role.
var ErrRoleNotAllowed = httpx.E(http.StatusForbidden, CodeRoleNotAllowed, "role not allowed")

// ErrUnavailable is answered when no connection to the project database can be had.
var ErrUnavailable = httpx.E(http.StatusServiceUnavailable, "database_unavailable", "the project database is unavailable")

// preludeSQL sets the transaction's role and claims, n more settings
// ($8 = $9, $10 = $11, …), then transaction_read_only when readOnly. It is
// one expression over a one-row Result: num_nulls takes every set_config
// call as an argument and answers one int, so the values set need not
// travel back, and without an aggregate over a subquery PostgreSQL runs
// about 24,000 fewer instructions per request (counted with callgrind).
func preludeSQL(readOnly bool, n int) string {
	if n < len(preludes[0]) {
		if readOnly {
			return preludes[1][n]
		}
		return preludes[0][n]
	}
	return buildPrelude(readOnly, n)
}

// preludes are the prelude statements for up to three extra settings, the
// shapes requests use (each is one prepared statement per connection).
var preludes = func() (p [2][4]string) {
	for n := range 4 {
		p[0][n], p[1][n] = buildPrelude(false, n), buildPrelude(true, n)
	}
	return p
}()

func buildPrelude(readOnly bool, n int) string {
	var b strings.Builder
	b.WriteString(`select num_nulls(set_config('role', $1, true), set_config('request.jwt.claims', $2, true),
	set_config('request.jwt.claim.sub', $3, true), set_config('request.jwt.claim.role', $1, true),
	set_config('request.jwt.claim.email', $4, true), set_config('request.method', $5, true),
	set_config('request.path', $6, true), set_config('request.headers', $7, true)`)
	for i := range n {
		b.WriteString(", set_config($")
		b.WriteString(strconv.Itoa(8 + 2*i))
		b.WriteString(", $")
		b.WriteString(strconv.Itoa(9 + 2*i))
		b.WriteString(", true)")
	}
	if readOnly {
		// Last, so that no role setting can turn it off.
		b.WriteString(", set_config('transaction_read_only', 'on', true)")
	}
	b.WriteString(")")
	return b.String()
}

// ErrTxEnded is returned for a statement issued after an EndInBatch
// transaction's first round trip.
var ErrTxEnded = errors.New("tenant: transaction already ended (EndInBatch allows one statement or batch)")

// Tx runs fn in one transaction on a's project with a's role and claims set
// transaction-locally. The connection goes back to the pool only in a clean
// idle state; otherwise it is closed, so no role or claim can outlive the
// transaction whatever fn did (error, panic, cancelled context, timeout).
func (m *Manager) Tx(ctx context.Context, a *Auth, opt TxOptions, fn func(ctx context.Context, q Querier) error) (err error) {
	role := a.Role()
	if !AllowedRoles[role] {
		return ErrRoleNotAllowed.With(fmt.Errorf("role %q", role))
	}
	e, err := m.entry(ctx, a.Project)
	if err != nil {
		return ErrUnavailable.With(err)
	}
	return runTx(ctx, e.pool, a, opt, m.settingsFor(ctx, e, role), fn)
}

// runTx runs fn as Tx does; roleKV are the role's own settings.
func runTx(ctx context.Context, pool *pgxpool.Pool, a *Auth, opt TxOptions, roleKV []any, fn func(ctx context.Context, q Querier) error) (err error) {
	pc, err := pool.Acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return ErrUnavailable.With(err)
	}
	conn := pc.Conn()
	q := &lazyTx{conn: conn, oneShot: opt.EndInBatch}
	// With EndInBatch the batch is the whole transaction. Without BEGIN,
	// PostgreSQL runs the statements up to the batch's one Sync as a single
	// implicit transaction and commits it there (or rolls it back on an
	// error), so neither BEGIN nor COMMIT need travel.
	// A hold needs a savepoint, so a transaction block.
	implicit := opt.EndInBatch && !opt.Rollback && opt.Hold == ""
	switch {
	case implicit:
	case opt.ReadOnly:
		q.begin = "begin read only"
	default:
		q.begin = "begin"
	}
	switch {
	case opt.EndInBatch && opt.Rollback:
		q.end = "rollback"
	case opt.EndInBatch && opt.Hold != "":
		q.hold, q.end = opt.Hold, "commit"
	}
	q.sql, q.args = prelude(a, opt, implicit && opt.ReadOnly, roleKV)
	defer func() {
		p := recover()
		if p != nil || err != nil || opt.Rollback {
			if q.started && conn.PgConn().TxStatus() != 'I' {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				_, _ = conn.Exec(rctx, "rollback")
				cancel()
			}
		}
		if conn.PgConn().TxStatus() != 'I' || conn.IsClosed() {
			// Don't trust it: closing makes the pool drop it.
			_ = conn.Close(context.Background())
		}
		pc.Release()
		if p != nil {
			panic(p)
		}
	}()
	if err := fn(ctx, q); err != nil {
		return err
	}
	if q.started && (!q.oneShot || q.held) && !opt.Rollback {
		if _, err := conn.Exec(ctx, "commit"); err != nil {
			return err
		}
	}
	return nil
}

// prelude returns the prelude statement and its arguments; readOnly adds
// transaction_read_only (what BEGIN READ ONLY sets) to the settings.
func prelude(a *Auth, opt TxOptions, readOnly bool, roleKV []any) (string, []any) {
	c := a.Claims
	method, path, headers := "", "", "{}"
	if r := opt.Request; r != nil {
		method, path = r.Method, r.URL.Path
		headers = headersJSON(r.Header)
	}
	if opt.Path != "" {
		path = opt.Path
	}
	n := len(opt.Settings) + len(roleKV)/2
	args := make([]any, 7, 7+2*n)
	args[0], args[1], args[2], args[3], args[4], args[5], args[6] = a.Role(), a.claimsJSON(), c.Sub(), c.Email(), method, path, headers
	args = append(args, roleKV...)
	for k, v := range opt.Settings {
		args = append(args, k, v)
	}
	return preludeSQL(readOnly, n), args
}

// headersJSON is request.headers: the header names lowercased, each
// header's values joined with ", ", as the JSON object encoding/json makes of
// such a map. Requests carry a dozen ASCII headers; those are written
// straight into one buffer, anything else goes through encoding/json.
func headersJSON(h http.Header) string {
	var arr [32]string
	keys := arr[:0]
	size := 2
	for k, v := range h {
		if !plainJSON(k) {
			return headersJSONSlow(h)
		}
		keys = append(keys, k)
		size += len(k) + 6
		for _, s := range v {
			if !plainJSON(s) {
				return headersJSONSlow(h)
			}
			size += len(s) + 2
		}
	}
	slices.SortFunc(keys, compareLower)
	for i := 1; i < len(keys); i++ {
		if compareLower(keys[i-1], keys[i]) == 0 {
			return headersJSONSlow(h) // two spellings of one name
		}
	}
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		for j := 0; j < len(k); j++ {
			c := k[j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b = append(b, c)
		}
		b = append(b, '"', ':', '"')
		for j, s := range h[k] {
			if j > 0 {
				b = append(b, ',', ' ')
			}
			b = append(b, s...)
		}
		b = append(b, '"')
	}
	b = append(b, '}')
	return string(b)
}

func headersJSONSlow(h http.Header) string {
	m := make(map[string]string, len(h))
	for k, v := range h {
		m[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// plainJSON reports whether encoding/json writes s as is between quotes:
// printable ASCII other than the quote, backslash and HTML-escaped <, >, &.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// compareLower orders as strings.Compare of the lowercased ASCII strings.
func compareLower(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return int(x) - int(y)
		}
	}
	return len(a) - len(b)
}

// lazyTx sends BEGIN and the claims prelude pipelined with the first statement.
type lazyTx struct {
	conn    *pgx.Conn
	begin   string // "" with an implicit transaction (EndInBatch)
	sql     string // the prelude
	args    []any
	hold    string // TxOptions.Hold
	end     string // the statement that ends the tx in the first batch, if any
	oneShot bool   // EndInBatch: the first batch is the whole transaction
	started bool
	held    bool // the hold failed: the transaction is open, fn's verdict ends it
}

// holdSavepoint is where a failed hold returns to.
const holdSavepoint = "madbase_hold"

func (t *lazyTx) withPrelude(b *pgx.Batch) *pgx.Batch {
	nb := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(b.QueuedQueries)+3)}
	if t.begin != "" {
		nb.Queue(t.begin)
	}
	nb.Queue(t.sql, t.args...)
	nb.QueuedQueries = append(nb.QueuedQueries, b.QueuedQueries...)
	if t.hold != "" {
		nb.Queue("savepoint " + holdSavepoint)
		nb.Queue(t.hold)
	}
	if t.end != "" {
		nb.Queue(t.end)
	}
	t.started = true
	return nb
}

func (t *lazyTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.started {
		if t.oneShot {
			return &failedBatch{err: ErrTxEnded}
		}
		return t.conn.SendBatch(ctx, b)
	}
	br := t.conn.SendBatch(ctx, t.withPrelude(b))
	if t.begin != "" {
		if _, err := br.Exec(); err != nil {
			return &failedBatch{br: br, err: err}
		}
	}
	if _, err := br.Exec(); err != nil {
		return &failedBatch{br: br, err: err}
	}
	if t.hold != "" {
		return &heldBatch{BatchResults: br, t: t, ctx: ctx, left: len(b.QueuedQueries)}
	}
	return br
}

// heldBatch reads the savepoint and the hold after the caller's results.
type heldBatch struct {
	pgx.BatchResults
	t      *lazyTx
	ctx    context.Context
	left   int // the caller's results not yet read
	closed bool
	err    error
}

func (h *heldBatch) Exec() (pgconn.CommandTag, error) {
	h.left--
	return h.BatchResults.Exec()
}

func (h *heldBatch) Query() (pgx.Rows, error) {
	h.left--
	return h.BatchResults.Query()
}

func (h *heldBatch) QueryRow() pgx.Row {
	h.left--
	return h.BatchResults.QueryRow()
}

func (h *heldBatch) Close() error {
	if h.closed {
		return h.err
	}
	h.closed = true
	var err error
	for ; h.left > 0 && err == nil; h.left-- {
		_, err = h.BatchResults.Exec()
	}
	if err == nil {
		_, err = h.BatchResults.Exec() // savepoint
	}
	var holdErr error
	if err == nil {
		_, holdErr = h.BatchResults.Exec()
	}
	cerr := h.BatchResults.Close()
	var pgErr *pgconn.PgError
	switch {
	case err != nil:
		h.err = err
	case holdErr != nil && errors.As(holdErr, &pgErr):
		// The verdict is needed: undo the failed hold and leave the
		// transaction to fn.
		if _, err := h.t.conn.Exec(h.ctx, "rollback to savepoint "+holdSavepoint); err != nil {
			h.err = err
			break
		}
		h.t.held = true
	default:
		h.err = cmp.Or(holdErr, cerr)
	}
	return h.err
}

func one(sql string, args []any) *pgx.Batch {
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	return b
}

func (t *lazyTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.started && t.oneShot {
		return pgconn.CommandTag{}, ErrTxEnded
	}
	if t.started {
		return t.conn.Exec(ctx, sql, args...)
	}
	br := t.SendBatch(ctx, one(sql, args))
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (t *lazyTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if t.started && t.oneShot {
		return nil, ErrTxEnded
	}
	if t.started {
		return t.conn.Query(ctx, sql, args...)
	}
	br := t.SendBatch(ctx, one(sql, args))
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return rows, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (t *lazyTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := t.Query(ctx, sql, args...)
	return &row{rows: rows, err: err}
}

func (t *lazyTx) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	if t.oneShot {
		return 0, ErrTxEnded // COPY cannot ride in a batch
	}
	if !t.started {
		br := t.SendBatch(ctx, &pgx.Batch{})
		if err := br.Close(); err != nil {
			return 0, err
		}
	}
	return t.conn.CopyFrom(ctx, table, cols, src)
}

// batchRows closes the batch with the rows, so the connection is usable after.
type batchRows struct {
	pgx.Rows
	br     pgx.BatchResults
	closed bool
	err    error
}

func (r *batchRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.err = r.br.Close()
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

type row struct {
	rows pgx.Rows
	err  error
}

func (r *row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

type failedBatch struct {
	br  pgx.BatchResults
	err error
}

func (f *failedBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, f.err }
func (f *failedBatch) Query() (pgx.Rows, error)         { return nil, f.err }
func (f *failedBatch) QueryRow() pgx.Row                { return &row{err: f.err} }
func (f *failedBatch) Close() error {
	if f.br != nil {
		_ = f.br.Close()
	}
	return f.err
}

// IsNoRows reports pgx.ErrNoRows through wrapping.
func IsNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

func (f *failedBatch) Tx() pgx.Tx { return nil }
