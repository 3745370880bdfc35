package realtime

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestCrashAndRestartDeliverEveryChange kills the replication connection
// mid-stream, then stops and restarts the whole service while rows keep
// being committed: every committed row must reach the subscriber at least
// once (duplicates allowed).
func TestCrashAndRestartDeliverEveryChange(t *testing.T) {
	e := newEnv(t, Options{})
	e.exec(todosSQL)
	cfg := pgConfig(map[string]any{"event": "INSERT", "schema": "public", "table": "todos"})

	var mu sync.Mutex
	got := map[string]int{}
	collect := func(c *client, stop <-chan struct{}) {
		for {
			select {
			case m := <-c.in:
				if m.Event == "postgres_changes" {
					var ch change
					if err := jsonUnmarshal(m.Payload, &ch); err == nil {
						mu.Lock()
						got[string(ch.Data.Record["id"])]++
						mu.Unlock()
					}
				}
			case <-c.done:
				return
			case <-stop:
				return
			}
		}
	}
	join := func() *client {
		c := e.dial("2.0.0", e.p.AnonKey)
		if _, r := c.join("realtime:crash", cfg, ""); r.Status != "ok" {
			t.Fatal(r)
		}
		return c
	}

	db, err := pgx.Connect(t.Context(), e.tenant)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	next := 0
	insert := func(n int) {
		for range n {
			next++
			if _, err := db.Exec(t.Context(), `insert into todos (id, title) values ($1, 'r')`, next); err != nil {
				t.Fatal(err)
			}
		}
	}

	c := join()
	stop1 := make(chan struct{})
	done1 := make(chan struct{})
	go func() { defer close(done1); collect(c, stop1) }()
	insert(20)
	// Kill the walsender mid-stream.
	if _, err := db.Exec(t.Context(), `select pg_terminate_backend(active_pid) from pg_replication_slots where slot_name = $1 and active_pid is not null`, slotName(e.p.Ref)); err != nil {
		t.Fatal(err)
	}
	insert(20)
	time.Sleep(300 * time.Millisecond)
	// Stop MadBase while changes are in flight, commit more while it is down.
	insert(10)
	e.stop()
	<-done1
	insert(20)
	e.start(t)
	c = join()
	stop2 := make(chan struct{})
	defer close(stop2)
	go collect(c, stop2)
	insert(10)

	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		var missing []int
		for i := 1; i <= next; i++ {
			if got[fmt.Sprint(i)] == 0 {
				missing = append(missing, i)
			}
		}
		dups := 0
		for _, n := range got {
			dups += n - 1
		}
		mu.Unlock()
		if len(missing) == 0 {
			t.Logf("%d rows delivered, %d duplicates", next, dups)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rows never delivered: %v", missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The position is persisted in the control plane.
	var lsn int64
	if err := e.m.Store().Pool().QueryRow(t.Context(), `select confirmed_lsn from control.realtime_slots where project_ref = $1`, e.p.Ref).Scan(&lsn); err != nil || lsn == 0 {
		t.Fatalf("persisted lsn %d, %v", lsn, err)
	}
}

// subscribeThenIdle creates todos, subscribes a client to its inserts on
// topic, sees one delivered, leaves and waits until the stream has stopped
// for want of subscribers. It returns the client and the join config.
func (e *env) subscribeThenIdle(topic string) (*client, map[string]any) {
	e.t.Helper()
	e.exec(todosSQL)
	cfg := pgConfig(map[string]any{"event": "INSERT", "schema": "public", "table": "todos"})
	c := e.dial("2.0.0", e.p.AnonKey)
	jr, _ := c.join(topic, cfg, "")
	e.exec(`insert into todos (id) values (1)`)
	if ch := c.change(); string(ch.Data.Record["id"]) != "1" {
		e.t.Fatal(ch)
	}
	c.push(jr, topic, "phx_leave", map[string]any{})
	c.expect("phx_close")
	e.waitIdle()
	return c, cfg
}

// waitIdle waits until the project's stream has stopped for want of
// subscribers.
func (e *env) waitIdle() {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var idle bool
		if err := e.m.Store().Pool().QueryRow(e.t.Context(), `select idle from control.realtime_slots where project_ref = $1`, e.p.Ref).Scan(&idle); err != nil {
			e.t.Fatal(err)
		}
		if idle {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatal("stream not stopped after the warm period")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestIdleSlotAdvanced: the slot of a project nobody subscribes to does not
// hold WAL back. The sweep moves it up to the flushed position, and a later
// subscriber still gets what is committed after it joins.
func TestIdleSlotAdvanced(t *testing.T) {
	e := newEnv(t, Options{WarmFor: 300 * time.Millisecond})
	c, cfg := e.subscribeThenIdle("realtime:sweep")
	e.exec(`insert into todos (id) select generate_series(2, 2000)`)
	conn, err := pgx.Connect(t.Context(), e.tenant)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	// held is how much WAL up to pos (written or flushed) the slot keeps.
	held := func(pos string) int64 {
		var n int64
		if err := conn.QueryRow(t.Context(), `select pg_wal_lsn_diff(pg_current_wal_`+pos+`_lsn(), confirmed_flush_lsn)::int8
			from pg_replication_slots where slot_name = $1`, slotName(e.p.Ref)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := held("insert")
	if before < 10_000 {
		t.Fatalf("the idle slot holds only %d bytes", before)
	}
	// The walsender may take a moment to let go of the slot after the
	// stream stopped; a sweep meanwhile leaves it for the next one.
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.svc.advanceIdleSlots(t.Context())
		after := held("flush")
		if after == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the sweep the slot still holds %d of %d bytes", after, before)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.join("realtime:sweep", cfg, "")
	e.exec(`insert into todos (id) values (5000)`)
	if ch := c.change(); string(ch.Data.Record["id"]) != "5000" {
		t.Fatalf("got row %s, want 5000", ch.Data.Record["id"])
	}
}

// TestIdleSkipAndDeleteDropsSlot: changes committed while nobody was
// subscribed (stream stopped after the warm period) are not replayed to a
// later subscriber; deleting the project drops its slot.
func TestIdleSkipAndDeleteDropsSlot(t *testing.T) {
	e := newEnv(t, Options{WarmFor: 300 * time.Millisecond})
	c, cfg := e.subscribeThenIdle("realtime:idle")
	e.exec(`insert into todos (id) values (2)`)
	c.join("realtime:idle", cfg, "")
	e.exec(`insert into todos (id) values (3)`)
	if ch := c.change(); string(ch.Data.Record["id"]) != "3" {
		t.Fatalf("got row %s, want 3 (2 was committed while idle)", ch.Data.Record["id"])
	}

	// Deleting the project closes its sockets and drops the slot.
	if err := e.m.Store().Delete(t.Context(), e.p.Ref); err != nil {
		t.Fatal(err)
	}
	e.m.Invalidate(e.p.Ref)
	<-c.done
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := pg.Exec(t.Context(), dbName(t, e.tenant), `select 1`); err != nil {
			t.Fatal(err)
		}
		conn, err := pgx.Connect(t.Context(), e.tenant)
		if err != nil {
			t.Fatal(err)
		}
		err = conn.QueryRow(t.Context(), `select count(*) from pg_replication_slots where slot_name = $1`, slotName(e.p.Ref)).Scan(&n)
		conn.Close(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("slot not dropped after project deletion")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
