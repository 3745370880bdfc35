package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/madbase/madbase/internal/realtime/pgoutput"
	"github.com/madbase/madbase/internal/tenant"
)

// maxRecordBytes is Supabase's max_record_bytes: a bigger record loses its
// long values and carries Error 413.
const maxRecordBytes = 1 << 20

// tableMeta is what delivering a table's changes needs from the catalog.
type tableMeta struct {
	rel       *pgoutput.Relation
	rls       bool
	types     []*colType // by relation column position
	pk        []int      // positions of primary key columns
	pkCast    []string   // format_type of each pk column
	qualified string
	columns   json.RawMessage // [{name, type}]
}

func (f *feed) meta(ctx context.Context, rel *pgoutput.Relation) (*tableMeta, error) {
	if m := f.metas[rel.ID]; m != nil && m.rel == rel {
		return m, nil
	}
	_, _, p := f.state()
	pool, err := f.s.tenants.Pool(ctx, p)
	if err != nil {
		return nil, err
	}
	rows, err := pool.Query(ctx, `select a.attname, format_type(a.atttypid, a.atttypmod), t.typname, t.typcategory::text,
			coalesce(et.typname, ''), coalesce(et.typcategory::text, ''),
			coalesce(a.attnum = any(i.indkey::int2[]), false), c.relrowsecurity
		from pg_class c
		join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
		join pg_type t on t.oid = a.atttypid
		left join pg_type et on et.oid = t.typelem and t.typcategory = 'A'
		left join pg_index i on i.indrelid = c.oid and i.indisprimary
		where c.oid = $1 order by a.attnum`, rel.ID)
	if err != nil {
		return nil, err
	}
	type col struct {
		cast string
		typ  *colType
		pk   bool
	}
	byName := map[string]col{}
	m := &tableMeta{rel: rel, qualified: pgx.Identifier{rel.Schema, rel.Name}.Sanitize()}
	for rows.Next() {
		var name, cast, typ, cat, etyp, ecat string
		var pk bool
		if err := rows.Scan(&name, &cast, &typ, &cat, &etyp, &ecat, &pk, &m.rls); err != nil {
			return nil, err
		}
		ct := &colType{name: typ, category: cat[0]}
		if etyp != "" {
			ct.elem = &colType{name: etyp, category: ecat[0]}
		}
		byName[name] = col{cast: cast, typ: ct, pk: pk}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	cols := make([]map[string]string, len(rel.Columns))
	for i, c := range rel.Columns {
		info, ok := byName[c.Name]
		if !ok {
			// The table changed or was dropped since; treat as text.
			info = col{cast: "text", typ: &colType{name: "text", category: 'S'}}
		}
		m.types = append(m.types, info.typ)
		if info.pk {
			m.pk = append(m.pk, i)
			m.pkCast = append(m.pkCast, info.cast)
		}
		cols[i] = map[string]string{"name": c.Name, "type": info.typ.name}
	}
	m.columns = mustJSON(cols)
	f.metas[rel.ID] = m
	return m, nil
}

// event is one row change on its way to the channels whose bindings match.
type event struct {
	meta   *tableMeta
	data   json.RawMessage
	chans  []*channel
	ids    map[*channel][]int64
	rls    bool     // INSERT/UPDATE on an RLS table: visibility per claims
	pkVals []string // text of the pk columns, for the visibility query
}

// handle delivers a batch of committed transactions, in order: it turns
// them into postgres_changes events and database broadcasts, checks RLS
// visibility with one query per (table, claims) group for the whole batch,
// and queues everything to the subscribed connections before returning,
// after which the stream may confirm the batch.
func (f *feed) handle(ctx context.Context, txs []*pgoutput.Tx) error {
	if f.s.bus != nil && f.leader.Load() {
		// The other nodes deliver to their own subscribers; the position is
		// confirmed once the bus accepted the transactions.
		for _, tx := range txs {
			if err := f.s.bus.Publish(ctx, busTopic, mustJSON(&envelope{Node: f.s.hub.nonce, Kind: kindChanges, Ref: f.ref, Tx: toWire(tx)})); err != nil {
				return fmt.Errorf("realtime: publishing changes: %w", err)
			}
		}
	}
	f.hmu.Lock()
	defer f.hmu.Unlock()
	return f.handleTxs(ctx, txs, false)
}

// handleTxs delivers txs to this node's subscribers. remote are
// transactions the leader sent: their database broadcasts reached this node
// already as broadcasts.
func (f *feed) handleTxs(ctx context.Context, txs []*pgoutput.Tx, remote bool) error {
	bindings := f.snapshot()
	var events []*event
	for _, tx := range txs {
		var err error
		if events, err = f.collect(ctx, events, tx, bindings, remote); err != nil {
			return err
		}
	}
	last := txs[len(txs)-1].CommitTime
	defer func() { f.s.m.lagSeconds.WithLabelValues(f.ref).Set(time.Since(last).Seconds()) }()
	if len(events) == 0 {
		return nil
	}
	var visible map[visKey]map[int]bool
	if slices.ContainsFunc(events, func(e *event) bool { return e.rls }) {
		if err := f.awaitVisible(ctx, txs); err != nil {
			return err
		}
		var err error
		if visible, err = f.visibility(ctx, events); err != nil {
			return err
		}
	}
	// Subscribers with the same bindings on the same topic get the same
	// frame: encode it once per event.
	type frameKey struct {
		vsn   int
		topic string
		ids   string
	}
	frames := map[frameKey]frame{}
	var idsBuf []byte
	for i, e := range events {
		clear(frames)
		for _, ch := range e.chans {
			if ch.closed.Load() {
				continue
			}
			if e.rls {
				a := ch.auth.Load()
				if !a.IsService() && !visible[visKey{e.meta.rel.ID, claimsKey(a)}][i] {
					continue
				}
			}
			idsBuf = appendIDs(idsBuf[:0], e.ids[ch])
			k := frameKey{ch.c.vsn, ch.topic, string(idsBuf)}
			fr, ok := frames[k]
			if !ok {
				payload := make([]byte, 0, len(e.data)+len(idsBuf)+16)
				payload = append(payload, `{"data":`...)
				payload = append(payload, e.data...)
				payload = append(payload, `,"ids":`...)
				payload = append(payload, idsBuf...)
				payload = append(payload, '}')
				fr = encode(ch.c.vsn, "", "", ch.topic, "postgres_changes", payload)
				frames[k] = fr
			}
			ch.c.send(fr)
		}
	}
	return nil
}

// appendIDs appends ids as a JSON array.
func appendIDs(b []byte, ids []int64) []byte {
	b = append(b, '[')
	for j, id := range ids {
		if j > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return append(b, ']')
}

// collect appends the events of tx for the subscribers' bindings.
func (f *feed) collect(ctx context.Context, events []*event, tx *pgoutput.Tx, bindings []*binding, remote bool) ([]*event, error) {
	f.s.m.changes.WithLabelValues(f.ref).Add(float64(len(tx.Changes)))
	commitTS := tx.CommitTime.UTC().Format("2006-01-02T15:04:05.000Z")
	for i := range tx.Changes {
		c := &tx.Changes[i]
		var kind string
		switch c.Kind {
		case pgoutput.ChangeInsert:
			kind = "INSERT"
		case pgoutput.ChangeUpdate:
			kind = "UPDATE"
		case pgoutput.ChangeDelete:
			kind = "DELETE"
		default:
			continue // truncates and logical messages have no postgres_changes form
		}
		rel := c.Relation
		if c.Kind == pgoutput.ChangeInsert && rel.Schema == "realtime" && rel.Name == "messages" && !remote {
			f.databaseBroadcast(c)
		}
		var matched []*binding
		for _, b := range bindings {
			if b.matches(kind, rel.Schema, rel.Name) {
				matched = append(matched, b)
			}
		}
		if len(matched) == 0 {
			continue
		}
		m, err := f.meta(ctx, rel)
		if err != nil {
			return nil, fmt.Errorf("realtime: table metadata of %s.%s: %w", rel.Schema, rel.Name, err)
		}
		row := rowCells(m, c.New)
		old := rowCells(m, c.Old)
		e := &event{meta: m, ids: map[*channel][]int64{}}
		for _, b := range matched {
			ok := filtersPass(b.filters, row)
			if kind == "DELETE" {
				ok = filtersPass(b.filters, old)
			}
			if !ok {
				continue
			}
			if _, seen := e.ids[b.ch]; !seen {
				e.chans = append(e.chans, b.ch)
			}
			if ids := e.ids[b.ch]; !containsID(ids, b.id) {
				e.ids[b.ch] = append(ids, b.id)
			}
		}
		if len(e.chans) == 0 {
			continue
		}
		e.data, e.pkVals = buildData(m, c, kind, commitTS)
		e.rls = m.rls && kind != "DELETE" && len(m.pk) > 0
		events = append(events, e)
	}
	return events, nil
}

func containsID(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func claimsKey(a *tenant.Auth) string { return a.Role() + "\x00" + a.Claims.JSON() }

type visKey struct {
	rel    uint32
	claims string
}

// visibility runs, for every table and every distinct claims set among the
// subscribers, one query that returns which of the transaction's changed
// rows those claims may SELECT now (as Supabase, it re-reads the current
// row by primary key under the subscriber's role and claims).
func (f *feed) visibility(ctx context.Context, events []*event) (map[visKey]map[int]bool, error) {
	type group struct {
		auth *tenant.Auth
		meta *tableMeta
		idx  []int
	}
	groups := map[visKey]*group{}
	var order []visKey
	for i, e := range events {
		if !e.rls {
			continue
		}
		seen := map[string]bool{}
		for _, ch := range e.chans {
			a := ch.auth.Load()
			if a.IsService() {
				continue
			}
			ck := claimsKey(a)
			if seen[ck] {
				continue
			}
			seen[ck] = true
			k := visKey{e.meta.rel.ID, ck}
			g := groups[k]
			if g == nil {
				g = &group{auth: a, meta: e.meta}
				groups[k] = g
				order = append(order, k)
			}
			g.idx = append(g.idx, i)
		}
	}
	out := make(map[visKey]map[int]bool, len(groups))
	for _, k := range order {
		out[k] = map[int]bool{}
	}
	// Groups are independent transactions: run a few at once, so that a
	// batch with many claims sets waits for round trips in parallel.
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, visibilityParallel)
	)
	for _, k := range order {
		g, vis := groups[k], out[k]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			sql, args := visibilitySQL(g.meta, g.idx, events)
			f.s.m.rlsQueries.WithLabelValues(f.ref).Inc()
			var ids []int32
			err := f.s.tenants.Tx(ctx, g.auth, tenant.TxOptions{ReadOnly: true}, func(ctx context.Context, q tenant.Querier) error {
				rows, err := q.Query(ctx, sql, args...)
				if err != nil {
					return err
				}
				ids, err = pgx.CollectRows(rows, pgx.RowTo[int32])
				return err
			})
			if refused(err) {
				// The subscriber's claims cannot read the table (no grant, a
				// policy that raises, an unknown role): it sees nothing.
				f.s.log.Debug("realtime: visibility query refused", "project", f.ref, "table", g.meta.qualified, "err", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = fmt.Errorf("realtime: visibility query on %s: %w", g.meta.qualified, err)
				}
				return
			}
			for _, i := range ids {
				vis[int(i)] = true
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return out, nil
}

// awaitVisible waits until txs are visible to new snapshots. PostgreSQL
// flushes a commit record, which the walsender may stream at once, before
// it marks the transaction completed in shared memory, so a visibility query
// sent right away could miss the row and wrongly withhold the change. A
// committed transaction leaves that set within moments; past maxWait the
// queries go ahead anyway rather than stall the stream.
func (f *feed) awaitVisible(ctx context.Context, txs []*pgoutput.Tx) error {
	const maxWait = 2 * time.Second
	_, _, p := f.state()
	pool, err := f.s.tenants.Pool(ctx, p)
	if err != nil {
		return err
	}
	start := time.Now()
	for wait := 100 * time.Microsecond; ; wait = min(2*wait, 20*time.Millisecond) {
		var snap string
		if err := pool.QueryRow(ctx, `select pg_current_snapshot()::text`).Scan(&snap); err != nil {
			return fmt.Errorf("realtime: snapshot: %w", err)
		}
		if !anyRunning(snap, txs) {
			return nil
		}
		if time.Since(start) > maxWait {
			f.s.log.Warn("realtime: streamed transaction still not visible; checking visibility anyway", "project", f.ref, "snapshot", snap)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// anyRunning reports whether one of txs is not yet visible in a snapshot
// ("xmin:xmax:xip,…", 64-bit xids): at or above xmax, or listed as in
// progress. The stream's 32-bit xids are recent, so each is placed in the
// epoch that brings it nearest to xmax.
func anyRunning(snap string, txs []*pgoutput.Tx) bool {
	parts := strings.SplitN(snap, ":", 3)
	if len(parts) < 3 {
		return false
	}
	xmax, err := strconv.ParseUint(parts[1], 10, 64)
	if err != nil {
		return false
	}
	var xip []uint64
	for x := range strings.SplitSeq(parts[2], ",") {
		if v, err := strconv.ParseUint(x, 10, 64); err == nil {
			xip = append(xip, v)
		}
	}
	for _, tx := range txs {
		if tx.XID == 0 {
			continue
		}
		x := xmax&^0xFFFFFFFF | uint64(tx.XID)
		switch {
		case x >= xmax+1<<31:
			x -= 1 << 32
		case x+1<<31 < xmax:
			x += 1 << 32
		}
		if x >= xmax || slices.Contains(xip, x) {
			return true
		}
	}
	return false
}

// refused reports whether a visibility query failed because of what the
// claims may do (no grant, a policy that raises, fails on the row, runs
// past the role's statement_timeout or past a program limit, an unknown
// role) rather than because the database could not answer now
// (connection, resources, shutdown, conflicts): the batch is then retried,
// so nobody misses a change for a transient failure.
func refused(err error) bool {
	if errors.Is(err, tenant.ErrRoleNotAllowed) {
		return true
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) < 2 {
		return false
	}
	if pe.Code == "57014" {
		// query_canceled: the claims' policy ran past the role's
		// statement_timeout. Retrying would stall the project's stream on
		// every change for one subscriber's slow policy.
		return true
	}
	switch pe.Code[:2] {
	case "08", "40", "53", "55", "57", "58", "XX", "HV":
		return false
	}
	return true
}

// visibilityParallel is how many visibility queries of one batch run at
// once (each holds a pooled connection of the project).
const visibilityParallel = 4

func visibilitySQL(m *tableMeta, idx []int, events []*event) (string, []any) {
	var b strings.Builder
	b.WriteString("select k.i from unnest($1::int4[]")
	args := []any{}
	ids := make([]int32, len(idx))
	for j, i := range idx {
		ids[j] = int32(i)
	}
	args = append(args, ids)
	cols := make([]string, len(m.pk))
	for p := range m.pk {
		fmt.Fprintf(&b, ", $%d::text[]", p+2)
		vals := make([]string, len(idx))
		for j, i := range idx {
			vals[j] = events[i].pkVals[p]
		}
		args = append(args, vals)
		cols[p] = fmt.Sprintf("p%d", p)
	}
	fmt.Fprintf(&b, ") as k(i, %s) where exists (select 1 from %s t where ", strings.Join(cols, ", "), m.qualified)
	for p, pos := range m.pk {
		if p > 0 {
			b.WriteString(" and ")
		}
		fmt.Fprintf(&b, "t.%s = k.p%d::%s", pgx.Identifier{m.rel.Columns[pos].Name}.Sanitize(), p, m.pkCast[p])
	}
	b.WriteString(")")
	return b.String(), args
}

// rowCells maps column names to values for filter evaluation.
func rowCells(m *tableMeta, fields []pgoutput.Field) map[string]cell {
	if fields == nil {
		return nil
	}
	out := make(map[string]cell, len(fields))
	for i, fl := range fields {
		if fl.Kind == pgoutput.TupleUnchanged {
			continue
		}
		out[fl.Name] = cell{text: fl.Text(), null: fl.IsNull(), typ: m.types[i]}
	}
	return out
}

func filtersPass(conds []cond, row map[string]cell) bool {
	for _, c := range conds {
		v, ok := row[c.column]
		if !ok {
			v = cell{null: true}
		}
		if !c.match(v) {
			return false
		}
	}
	return true
}

// buildData renders the event's data object and returns the primary key
// values (text) of the row.
func buildData(m *tableMeta, c *pgoutput.Change, kind, commitTS string) (json.RawMessage, []string) {
	rel := m.rel
	data := map[string]any{
		"schema": rel.Schema, "table": rel.Name, "commit_timestamp": commitTS, "type": kind,
	}
	if kind != "DELETE" && len(m.pk) == 0 {
		data["errors"] = []string{"Error 400: Bad Request, no primary key"}
		return mustJSON(data), nil
	}
	var errs []string
	record := func(fields []pgoutput.Field, only []int) map[string]json.RawMessage {
		out := map[string]json.RawMessage{}
		add := func(i int) {
			fl := fields[i]
			switch {
			case fl.Kind == pgoutput.TupleUnchanged:
				// An unchanged TOASTed value: take it from the old image when sent.
				if c.Old != nil && c.Old[i].Kind == pgoutput.TupleText {
					out[fl.Name] = jsonValue(m.types[i], c.Old[i].Text())
				}
			case fl.IsNull():
				out[fl.Name] = json.RawMessage("null")
			case fl.Kind == pgoutput.TupleText:
				out[fl.Name] = jsonValue(m.types[i], fl.Text())
			}
		}
		if only != nil {
			for _, i := range only {
				add(i)
			}
		} else {
			for i := range fields {
				add(i)
			}
		}
		return out
	}
	var pkVals []string
	src := c.New
	if kind == "DELETE" {
		src = c.Old
	}
	for _, i := range m.pk {
		if src != nil && i < len(src) {
			pkVals = append(pkVals, src[i].Text())
		} else {
			pkVals = append(pkVals, "")
		}
	}
	data["columns"] = m.columns
	switch kind {
	case "INSERT":
		data["record"] = record(c.New, nil)
	case "UPDATE":
		data["record"] = record(c.New, nil)
		switch {
		case c.OldKind == pgoutput.OldFull:
			data["old_record"] = record(c.Old, nil)
		case c.OldKind == pgoutput.OldKey:
			data["old_record"] = record(c.Old, keyColumns(c.Old))
		default:
			data["old_record"] = record(c.New, m.pk)
		}
	case "DELETE":
		switch {
		case c.Old == nil:
			data["old_record"] = map[string]any{}
		case m.rls && len(m.pk) > 0:
			// Supabase never RLS-checks deletes, so on RLS tables it reveals
			// only the primary key, even under REPLICA IDENTITY FULL.
			data["old_record"] = record(c.Old, m.pk)
		case c.OldKind == pgoutput.OldFull:
			data["old_record"] = record(c.Old, nil)
		default:
			data["old_record"] = record(c.Old, keyColumns(c.Old))
		}
	}
	data["errors"] = nil
	b := mustJSON(data)
	if len(b) > maxRecordBytes {
		for _, k := range []string{"record", "old_record"} {
			if r, ok := data[k].(map[string]json.RawMessage); ok {
				for name, v := range r {
					if len(v) > 64 {
						delete(r, name)
					}
				}
			}
		}
		errs = append(errs, "Error 413: Payload Too Large")
		data["errors"] = errs
		b = mustJSON(data)
	}
	return b, pkVals
}

func keyColumns(fields []pgoutput.Field) []int {
	var out []int
	for i, fl := range fields {
		if fl.Key {
			out = append(out, i)
		}
	}
	return out
}

// databaseBroadcast delivers a realtime.messages insert (realtime.send,
// realtime.broadcast_changes) to the topic's channels.
func (f *feed) databaseBroadcast(c *pgoutput.Change) {
	var topic, ev, payload, id, ext string
	private := false
	for _, fl := range c.New {
		if fl.IsNull() || fl.Kind != pgoutput.TupleText {
			continue
		}
		switch fl.Name {
		case "topic":
			topic = fl.Text()
		case "event":
			ev = fl.Text()
		case "payload":
			payload = fl.Text()
		case "id":
			id = fl.Text()
		case "extension":
			ext = fl.Text()
		case "private":
			private = fl.Text() == "t"
		}
	}
	if ext != "broadcast" || topic == "" {
		return
	}
	if payload == "" || !json.Valid([]byte(payload)) {
		payload = "{}"
	}
	var meta json.RawMessage
	if id != "" {
		meta = mustJSON(map[string]string{"id": id})
	}
	f.s.hub.broadcast(topicKey{ref: f.ref, private: private, sub: topic}, nil,
		&outBroadcast{topic: "realtime:" + topic, event: ev, payload: []byte(payload), meta: meta})
}
