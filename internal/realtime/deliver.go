package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
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

// handle is the stream's handler: it turns a committed transaction into
// postgres_changes events and database broadcasts, checks RLS visibility
// with one query per (table, claims) group, and queues everything to the
// subscribed connections before returning, after which the stream may
// confirm the transaction.
func (f *feed) handle(ctx context.Context, tx *pgoutput.Tx) error {
	if f.s.bus != nil && f.leader.Load() {
		// The other nodes deliver to their own subscribers; the position is
		// confirmed once the bus accepted the transaction.
		if err := f.s.bus.Publish(ctx, busTopic, mustJSON(&envelope{Node: f.s.hub.nonce, Kind: kindChanges, Ref: f.ref, Tx: toWire(tx)})); err != nil {
			return fmt.Errorf("realtime: publishing changes: %w", err)
		}
	}
	f.hmu.Lock()
	defer f.hmu.Unlock()
	return f.handleTx(ctx, tx, false)
}

// handleTx delivers tx to this node's subscribers. remote is a transaction
// the leader sent: its database broadcasts reached this node already as
// broadcasts.
func (f *feed) handleTx(ctx context.Context, tx *pgoutput.Tx, remote bool) error {
	bindings := f.snapshot()
	f.s.m.changes.WithLabelValues(f.ref).Add(float64(len(tx.Changes)))
	commitTS := tx.CommitTime.UTC().Format("2006-01-02T15:04:05.000Z")
	var events []*event
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
			return fmt.Errorf("realtime: table metadata of %s.%s: %w", rel.Schema, rel.Name, err)
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
	if len(events) == 0 {
		return nil
	}
	visible, err := f.visibility(ctx, events)
	if err != nil {
		return err
	}
	for i, e := range events {
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
			payload := mustJSON(map[string]any{"ids": e.ids[ch], "data": e.data})
			ch.c.send(encode(ch.c.vsn, "", "", ch.topic, "postgres_changes", payload))
		}
	}
	f.s.m.lagSeconds.WithLabelValues(f.ref).Set(time.Since(tx.CommitTime).Seconds())
	return nil
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
		g := groups[k]
		vis := map[int]bool{}
		out[k] = vis
		sql, args := visibilitySQL(g.meta, g.idx, events)
		f.s.m.rlsQueries.WithLabelValues(f.ref).Inc()
		err := f.s.tenants.Tx(ctx, g.auth, tenant.TxOptions{ReadOnly: true}, func(ctx context.Context, q tenant.Querier) error {
			rows, err := q.Query(ctx, sql, args...)
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
			for _, i := range ids {
				vis[int(i)] = true
			}
			return err
		})
		var pe *pgconn.PgError
		if errors.As(err, &pe) || errors.Is(err, tenant.ErrRoleNotAllowed) {
			// The subscriber's claims cannot read the table (no grant, a
			// policy that raises, an unknown role): it sees nothing.
			f.s.log.Debug("realtime: visibility query refused", "project", f.ref, "table", g.meta.qualified, "err", err)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("realtime: visibility query on %s: %w", g.meta.qualified, err)
		}
	}
	return out, nil
}

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
