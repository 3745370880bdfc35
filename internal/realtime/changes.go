package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Publications the project's stream reads: the one users manage, and
// MadBase's own for broadcasts from the database.
const (
	publication         = "supabase_realtime"
	messagesPublication = "madbase_realtime_messages"
)

// slotName is the project's persistent replication slot.
func slotName(ref string) string { return "madbase_" + strings.ReplaceAll(ref, "-", "_") }

// sysMsg is a postgres_changes system message for the joining channel.
type sysMsg struct{ status, message string }

// binding is one postgres_changes subscription of a channel.
type binding struct {
	ch            *channel
	id            int64
	event         string // INSERT, UPDATE, DELETE or *
	schema, table string // "*" matches any
	filters       []cond
}

func (b *binding) matches(kind, schema, table string) bool {
	return (b.event == "*" || b.event == kind) &&
		(b.schema == "*" || b.schema == schema) &&
		(b.table == "*" || b.table == table)
}

// chanSubs are a channel's registered bindings.
type chanSubs struct{ bindings []*binding }

// bindingID is a stable id for a binding's parameters (identical bindings
// share one, as on Supabase), kept under 2^27 like Supabase's.
func bindingID(event, schema, table, filter string) int64 {
	h := fnv.New32a()
	for _, s := range []string{event, schema, table, filter} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return int64(h.Sum32() & (1<<27 - 1))
}

func normEvent(e string) string {
	switch u := strings.ToUpper(e); u {
	case "INSERT", "UPDATE", "DELETE":
		return u
	}
	return "*"
}

// subscribeChanges validates and registers a joining channel's bindings.
// It returns the reply's postgres_changes echo (each binding as sent, plus
// its id, in order) and the system messages to send after the reply.
func (s *Service) subscribeChanges(ctx context.Context, ch *channel, raw []json.RawMessage) ([]json.RawMessage, []sysMsg) {
	echo := make([]json.RawMessage, 0, len(raw))
	if len(raw) == 0 {
		return echo, nil
	}
	pool, perr := s.tenants.Pool(ctx, ch.c.project)
	var subs []*binding
	var sys []sysMsg
	for _, r := range raw {
		var obj map[string]json.RawMessage
		if json.Unmarshal(r, &obj) != nil || obj == nil {
			obj = map[string]json.RawMessage{}
		}
		str := func(k string) (string, bool) {
			var v string
			if raw, ok := obj[k]; ok && json.Unmarshal(raw, &v) == nil {
				return v, true
			}
			return "", false
		}
		event, _ := str("event")
		schema, hasSchema := str("schema")
		table, hasTable := str("table")
		filter, _ := str("filter")
		id := bindingID(event, schema, table, filter)
		obj["id"] = mustJSON(id)
		echo = append(echo, mustJSON(obj))

		unable := fmt.Sprintf("Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given connect parameters: [event: %s, schema: %s, table: %s, filters: [%s], select: nil]", event, schema, table, filter)
		if perr != nil {
			sys = append(sys, sysMsg{"error", unable})
			continue
		}
		if (!hasSchema || schema == "") && (!hasTable || table == "") {
			sys = append(sys, sysMsg{"error", unable})
			continue
		}
		b := &binding{ch: ch, id: id, event: normEvent(event), schema: schema, table: table}
		if b.schema == "" {
			b.schema = "public"
		}
		if b.table == "" {
			b.table = "*"
		}
		conds, err := parseFilter(filter)
		if err != nil {
			sys = append(sys, sysMsg{"error", "Error parsing `filter` params: " + err.Error()})
			continue
		}
		b.filters = conds
		if err := s.checkBinding(ctx, pool, b); err != nil {
			var fe filterErr
			if errors.As(err, &fe) {
				sys = append(sys, sysMsg{"error", "Error parsing `filter` params: " + fe.Error()})
			} else {
				if !errors.Is(err, errNotPublished) {
					s.log.Warn("realtime: checking a postgres_changes binding", "project", ch.c.project.Ref, "err", err)
				}
				sys = append(sys, sysMsg{"error", unable})
			}
			continue
		}
		subs = append(subs, b)
	}
	if len(subs) > 0 {
		ch.pg = &chanSubs{bindings: subs}
		f := s.feed(ch.c.project)
		f.add(ch, subs)
		if !f.waitReady(ctx) {
			s.log.Warn("realtime: replication not ready before the join reply", "project", ch.c.project.Ref)
		}
		if len(sys) == 0 {
			sys = append(sys, sysMsg{"ok", "Subscribed to PostgreSQL"})
		}
	}
	return echo, sys
}

var errNotPublished = errors.New("table not in publication")

type filterErr struct{ error }

// checkBinding verifies the binding names published tables and that its
// filters fit the columns' types.
func (s *Service) checkBinding(ctx context.Context, pool *pgxpool.Pool, b *binding) error {
	var n int
	if err := pool.QueryRow(ctx, `select count(*) from pg_publication_tables where pubname = $1
		and ($2 = '*' or schemaname = $2) and ($3 = '*' or tablename = $3)`, publication, b.schema, b.table).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return errNotPublished
	}
	if len(b.filters) == 0 || b.schema == "*" || b.table == "*" {
		return nil
	}
	rows, err := pool.Query(ctx, `select a.attname, t.typname, t.typcategory::text
		from pg_attribute a join pg_type t on t.oid = a.atttypid
		where a.attrelid = (quote_ident($1) || '.' || quote_ident($2))::regclass and a.attnum > 0 and not a.attisdropped`, b.schema, b.table)
	if err != nil {
		return err
	}
	types := map[string]*colType{}
	for rows.Next() {
		var name, typ, cat string
		if err := rows.Scan(&name, &typ, &cat); err != nil {
			return err
		}
		types[name] = &colType{name: typ, category: cat[0]}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range b.filters {
		t := types[c.column]
		if t == nil {
			return filterErr{fmt.Errorf("column %q does not exist in %s.%s", c.column, b.schema, b.table)}
		}
		if err := c.check(t); err != nil {
			return filterErr{err}
		}
	}
	return nil
}

func (s *Service) unsubscribeChanges(ch *channel) {
	if ch.pg == nil {
		return
	}
	s.mu.Lock()
	f := s.feeds[ch.c.project.Ref]
	s.mu.Unlock()
	if f != nil {
		f.remove(ch)
	}
}
