package realtime

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/bus"
	"github.com/madbase/madbase/internal/testutil/redistest"
)

// testBuses returns n Redis buses (one per node) on a redis-server of the
// test's own.
func testBuses(t *testing.T, n int) []bus.Bus {
	t.Helper()
	url := redistest.Start(t).URL
	var out []bus.Bus
	for range n {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		b, err := bus.NewRedis(ctx, url, "test:", nil)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		out = append(out, b)
	}
	return out
}

// node starts another MadBase node on e's control and tenant databases.
func (e *env) node(t *testing.T, opt Options) *env {
	t.Helper()
	n := &env{t: t, tenant: e.tenant, control: e.control, opt: opt, p: e.p}
	n.start(t)
	return n
}

// cluster is two nodes of one deployment connected by Redis.
func cluster(t *testing.T) (a, b *env) {
	t.Helper()
	buses := testBuses(t, 2)
	a = newEnv(t, Options{Bus: buses[0], LeaderPoll: 200 * time.Millisecond})
	b = a.node(t, Options{Bus: buses[1], LeaderPoll: 200 * time.Millisecond})
	return a, b
}

func presenceConfig(key string) map[string]any {
	cfg := defaultConfig()
	cfg["presence"] = map[string]any{"key": key, "enabled": true}
	return cfg
}

func TestClusterBroadcastAndPresence(t *testing.T) {
	a, b := cluster(t)
	const topic = "realtime:room"
	ca := a.dial("2.0.0", a.p.AnonKey)
	cb := b.dial("1.0.0", b.p.AnonKey)
	ja, r := ca.join(topic, presenceConfig("ann"), "")
	if r.Status != "ok" {
		t.Fatalf("join a: %+v", r)
	}
	ca.expect("presence_state")
	jb, r := cb.join(topic, presenceConfig("bob"), "")
	if r.Status != "ok" {
		t.Fatalf("join b: %+v", r)
	}
	cb.expect("presence_state")

	// A broadcast from a client of node A reaches node B's client, and back.
	ca.pushBroadcast(ja, topic, "hello", map[string]any{"from": "a"})
	m := cb.expect("broadcast")
	if !strings.Contains(string(m.Payload), `"event":"hello"`) || !strings.Contains(string(m.Payload), `"from":"a"`) {
		t.Fatalf("b got %s", m.Payload)
	}
	cb.pushBroadcast(jb, topic, "hi", map[string]any{"from": "b"})
	m = ca.expect("broadcast")
	if !strings.Contains(string(m.Payload), `"from":"b"`) {
		t.Fatalf("a got %s", m.Payload)
	}

	// Presence: a track on A is a join on B; B's state for a later
	// joiner includes it; an untrack on A is a leave on B.
	ref := ca.push(ja, topic, "presence", map[string]any{"type": "presence", "event": "track", "payload": map[string]any{"name": "ann"}})
	if r := ca.replyTo(ref); r.Status != "ok" {
		t.Fatalf("track %+v", r)
	}
	cb.expectFn("presence_diff", func(m msg) bool { return strings.Contains(string(m.Payload), `"joins":{"ann"`) })
	cb2 := b.dial("2.0.0", b.p.AnonKey)
	if _, r := cb2.join(topic, presenceConfig("cy"), ""); r.Status != "ok" {
		t.Fatalf("join b2: %+v", r)
	}
	st := cb2.expect("presence_state")
	var state map[string]struct {
		Metas []map[string]any `json:"metas"`
	}
	if err := json.Unmarshal(st.Payload, &state); err != nil || len(state["ann"].Metas) != 1 || state["ann"].Metas[0]["name"] != "ann" {
		t.Fatalf("presence_state on node B: %s", st.Payload)
	}
	ref = cb2.push("", topic, "presence", map[string]any{"type": "presence", "event": "track", "payload": map[string]any{"name": "cy"}})
	ca.expectFn("presence_diff", func(m msg) bool { return strings.Contains(string(m.Payload), `"joins":{"cy"`) })
	ref = ca.push(ja, topic, "presence", map[string]any{"type": "presence", "event": "untrack"})
	cb.expectFn("presence_diff", func(m msg) bool { return strings.Contains(string(m.Payload), `"leaves":{"ann"`) })
	cb2.expectFn("presence_diff", func(m msg) bool { return strings.Contains(string(m.Payload), `"leaves":{"ann"`) })
	// A client of node B that disconnects leaves on node A too.
	cb2.ws.CloseNow()
	ca.expectFn("presence_diff", func(m msg) bool { return strings.Contains(string(m.Payload), `"leaves":{"cy"`) })

	// Exactly once: a second client on node A gets B's broadcast once,
	// and A's own broadcast does not come back to A's clients through
	// the bus.
	ca2 := a.dial("2.0.0", a.p.AnonKey)
	if _, r := ca2.join(topic, defaultConfig(), ""); r.Status != "ok" {
		t.Fatalf("join a2: %+v", r)
	}
	time.Sleep(200 * time.Millisecond)
	drain(ca)
	drain(cb)
	cb.pushBroadcast(jb, topic, "once", map[string]any{"n": 1})
	ca2.expectFn("broadcast", func(m msg) bool { return strings.Contains(string(m.Payload), `"once"`) })
	ca.expectFn("broadcast", func(m msg) bool { return strings.Contains(string(m.Payload), `"once"`) })
	ca.pushBroadcast(ja, topic, "own", map[string]any{"n": 2})
	ca2.expectFn("broadcast", func(m msg) bool { return strings.Contains(string(m.Payload), `"own"`) })
	cb.expectFn("broadcast", func(m msg) bool { return strings.Contains(string(m.Payload), `"own"`) })
	time.Sleep(300 * time.Millisecond)
	for name, c := range map[string]*client{"a": ca, "a2": ca2, "b": cb} {
		for _, m := range drain(c) {
			if m.Event == "broadcast" {
				t.Errorf("client %s: duplicate or echoed broadcast %s", name, m.Payload)
			}
		}
	}

	// REST broadcasts on node B reach node A.
	res := restBroadcast(t, b, "room", "rest-ev")
	if res != 202 {
		t.Fatalf("REST broadcast status %d", res)
	}
	ca.expectFn("broadcast", func(m msg) bool { return strings.Contains(string(m.Payload), `"rest-ev"`) })
}

// drain returns what c has received so far.
func drain(c *client) []msg {
	var out []msg
	for {
		select {
		case m := <-c.in:
			out = append(out, m)
		default:
			return out
		}
	}
}

func TestClusterPostgresChangesAndFailover(t *testing.T) {
	a, b := cluster(t)
	a.exec(todosSQL)
	binding := map[string]any{"event": "INSERT", "schema": "public", "table": "todos"}
	ca := a.dial("2.0.0", a.p.AnonKey)
	cb := b.dial("2.0.0", b.p.AnonKey)
	for _, c := range []*client{ca, cb} {
		_, r := c.join("realtime:db", pgConfig(binding), "")
		if r.Status != "ok" {
			t.Fatalf("join: %+v", r)
		}
		c.expectFn("system", func(m msg) bool { return strings.Contains(string(m.Payload), "Subscribed to PostgreSQL") })
	}
	a.exec(`insert into public.todos (title) values ('one')`)
	for name, c := range map[string]*client{"a": ca, "b": cb} {
		if ch := c.change(); string(ch.Data.Record["title"]) != `"one"` {
			t.Fatalf("%s: %s", name, ch.Data.Record["title"])
		}
	}
	time.Sleep(500 * time.Millisecond)
	for name, c := range map[string]*client{"a": ca, "b": cb} {
		for _, m := range drain(c) {
			if m.Event == "postgres_changes" {
				t.Errorf("%s: change delivered twice: %s", name, m.Payload)
			}
		}
	}

	// Exactly one node leads.
	la, lb := a.leads(), b.leads()
	if la == lb {
		t.Fatalf("leaders: a=%v b=%v", la, lb)
	}
	leader, follower, fc := a, b, cb
	if lb {
		leader, follower, fc = b, a, ca
	}
	leader.stop()
	a.exec(`insert into public.todos (title) values ('two')`)
	start := time.Now()
	if ch := fc.change(); string(ch.Data.Record["title"]) != `"two"` {
		t.Fatalf("after failover: %s", ch.Data.Record["title"])
	}
	t.Logf("change after the leader stopped arrived in %v", time.Since(start))
	if !follower.leads() {
		t.Fatal("the surviving node does not lead")
	}
	follower.exec(`insert into public.todos (title) values ('three')`)
	if ch := fc.change(); string(ch.Data.Record["title"]) != `"three"` {
		t.Fatalf("after failover: %s", ch.Data.Record["title"])
	}
}

func (e *env) leads() bool {
	f := e.svc.existingFeed(e.p.Ref)
	return f != nil && f.leader.Load()
}

func restBroadcast(t *testing.T, e *env, topic, event string) int {
	t.Helper()
	body := `{"messages":[{"topic":"` + topic + `","event":"` + event + `","payload":{"a":1},"private":false}]}`
	req, _ := http.NewRequest("POST", e.srv.URL+"/realtime/v1/api/broadcast", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Project-Ref", e.p.Ref)
	req.Header.Set("apikey", e.p.ServiceRoleKey)
	req.Header.Set("Authorization", "Bearer "+e.p.ServiceRoleKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// mutedBus is a bus whose node can be cut off: while muted its messages
// are lost, as in a partition.
type mutedBus struct {
	bus.Bus
	muted atomic.Bool
}

func (m *mutedBus) Publish(ctx context.Context, topic string, msg []byte) error {
	if m.muted.Load() {
		return nil
	}
	return m.Bus.Publish(ctx, topic, msg)
}

func TestClusterNodeLoss(t *testing.T) {
	buses := testBuses(t, 2)
	mb := &mutedBus{Bus: buses[1]}
	const timeout = 2 * time.Second
	a := newEnv(t, Options{Bus: buses[0], NodeTimeout: timeout})
	b := a.node(t, Options{Bus: mb, NodeTimeout: timeout})
	const topic = "realtime:lobby"
	ca := a.dial("2.0.0", a.p.AnonKey)
	if _, r := ca.join(topic, presenceConfig("ann"), ""); r.Status != "ok" {
		t.Fatalf("join a: %+v", r)
	}
	cb := b.dial("2.0.0", b.p.AnonKey)
	jb, r := cb.join(topic, presenceConfig("bob"), "")
	if r.Status != "ok" {
		t.Fatalf("join b: %+v", r)
	}
	cb.push(jb, topic, "presence", map[string]any{"type": "presence", "event": "track", "payload": map[string]any{"name": "bob"}})
	joined := func(m msg) bool { return strings.Contains(string(m.Payload), `"joins":{"bob"`) }
	left := func(m msg) bool { return strings.Contains(string(m.Payload), `"leaves":{"bob"`) }
	ca.expectFn("presence_diff", joined)

	// Node B goes silent: A drops its presences after the timeout.
	mb.muted.Store(true)
	start := time.Now()
	ca.expectFn("presence_diff", left)
	if d := time.Since(start); d < timeout/2 {
		t.Fatalf("presence dropped after %v, before the node timeout %v", d, timeout)
	}
	// B is heard again: A asks it for its presences, and bob is back.
	mb.muted.Store(false)
	ca.expectFn("presence_diff", joined)
	a2 := a.dial("1.0.0", a.p.AnonKey)
	if _, r := a2.join(topic, presenceConfig("cy"), ""); r.Status != "ok" {
		t.Fatalf("join a2: %+v", r)
	}
	if st := a2.expect("presence_state"); !strings.Contains(string(st.Payload), `"bob"`) {
		t.Fatalf("presence_state after the partition healed: %s", st.Payload)
	}

	// B closes: its presences leave at once, not after the timeout.
	start = time.Now()
	b.stop()
	ca.expectFn("presence_diff", left)
	if d := time.Since(start); d >= timeout/2 {
		t.Errorf("presence of a closed node dropped after %v, not at once", d)
	}

	// A node that says it is gone loses its presences even when their
	// untracks never came.
	send := func(e envelope) {
		e.Node, e.Ref = "ghost", a.p.Ref
		e.Sub = strings.TrimPrefix(topic, "realtime:")
		b, _ := json.Marshal(e)
		if err := buses[1].Publish(t.Context(), busTopic, b); err != nil {
			t.Fatal(err)
		}
	}
	send(envelope{Kind: kindTrack, Key: "zed", PhxRef: "ghost1", Meta: json.RawMessage(`{"name":"zed"}`)})
	ca.expectFn("presence_diff", func(m msg) bool { return strings.Contains(string(m.Payload), `"joins":{"zed"`) })
	start = time.Now()
	send(envelope{Kind: kindGone})
	ca.expectFn("presence_diff", func(m msg) bool { return strings.Contains(string(m.Payload), `"leaves":{"zed"`) })
	if d := time.Since(start); d >= timeout/2 {
		t.Errorf("presence of a gone node dropped after %v, not at once", d)
	}
}
