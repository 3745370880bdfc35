package realtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/secret"
	"github.com/madbase/madbase/internal/tenant"
	"github.com/madbase/madbase/internal/testutil/pgtest"
	"github.com/madbase/madbase/internal/token"
)

var pg *pgtest.Cluster

func TestMain(m *testing.M) {
	if pgtest.Fuzzing() { // the fuzz targets need no database
		os.Exit(m.Run())
	}
	os.Exit(pgtest.Main(m, &pg, func(ctx context.Context, c *pgtest.Cluster) error {
		if err := c.CreateTemplate(ctx, "tenant_tpl", func(ctx context.Context, url string) error {
			_, err := tenant.Bootstrap(ctx, url)
			return err
		}); err != nil {
			return err
		}
		return c.CreateTemplate(ctx, "control_tpl", func(ctx context.Context, url string) error {
			s, err := control.Open(ctx, url, testBox())
			if err != nil {
				return err
			}
			defer s.Close()
			_, err = s.Migrate(ctx)
			return err
		})
	}))
}

func testBox() *secret.Box {
	b, _ := secret.New(bytes.Repeat([]byte{7}, 32))
	return b
}

var refSeq atomic.Int64

// env is one MadBase realtime surface over a fresh control DB and one
// provisioned project.
type env struct {
	t       *testing.T
	m       *tenant.Manager
	svc     *Service
	srv     *httptest.Server
	p       *control.Project
	tenant  string // tenant DB URL
	control string
	opt     Options
	stopFn  func()
}

func newEnv(t *testing.T, opt Options) *env {
	t.Helper()
	if pg == nil {
		t.Skip("no cluster while fuzzing")
	}
	ctrl := pg.NewDB(t, "control_tpl")
	tdb := pg.NewDB(t, "tenant_tpl")
	e := &env{t: t, tenant: tdb, control: ctrl, opt: opt}
	e.start(t)
	ref := fmt.Sprintf("rt%d-%d", os.Getpid()%10000, refSeq.Add(1))
	p, err := e.m.Provision(t.Context(), tenant.Spec{Ref: ref, Name: ref, DBURL: tdb})
	if err != nil {
		t.Fatal(err)
	}
	e.p = p
	t.Cleanup(func() {
		// A database with a replication slot cannot be dropped.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, tdb)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		for range 50 {
			_, err = conn.Exec(ctx, `select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = current_database()`)
			if err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("cleanup: drop slot: %v", err)
	})
	return e
}

// start builds (or rebuilds, after stop) the manager, service and server.
func (e *env) start(t *testing.T) {
	t.Helper()
	s, err := control.Open(t.Context(), e.control, testBox())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	e.m = tenant.NewManager(s, log, tenant.Options{})
	opt := e.opt
	opt.Log, opt.Tenants = log, e.m
	if opt.WarmFor == 0 {
		opt.WarmFor = time.Second
	}
	if opt.ResumeDelay == 0 {
		opt.ResumeDelay = 200 * time.Millisecond
	}
	if opt.RetryAfter == 0 {
		opt.RetryAfter = 200 * time.Millisecond
	}
	e.svc = New(opt)
	e.srv = httptest.NewServer(httpx.Chain(log, nil, e.svc.Handler()))
	stopped := false
	e.stopFn = func() {
		if stopped {
			return
		}
		stopped = true
		e.srv.CloseClientConnections()
		e.svc.Close()
		e.srv.Close()
		e.m.Close()
		s.Close()
	}
	t.Cleanup(e.stop)
	if e.p != nil {
		p, err := e.m.Project(t.Context(), e.p.Ref)
		if err != nil {
			t.Fatal(err)
		}
		e.p = p
	}
}

func (e *env) stop() { e.stopFn() }

func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	if err := pg.Exec(e.t.Context(), dbName(e.t, e.tenant), sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

func dbName(t *testing.T, url string) string {
	t.Helper()
	i := strings.LastIndex(url, "/")
	name := url[i+1:]
	if j := strings.IndexByte(name, '?'); j >= 0 {
		name = name[:j]
	}
	return name
}

// userToken signs a user JWT for the project.
func (e *env) userToken(sub string, ttl time.Duration) string {
	e.t.Helper()
	tok, err := token.Sign([]byte(e.p.JWTSecret), token.Claims{
		"sub": sub, "role": "authenticated", "aud": "authenticated", "ref": e.p.Ref,
		"exp": time.Now().Add(ttl).Unix(), "iat": time.Now().Unix(),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// msg is a decoded server message.
type msg struct {
	JoinRef, Ref *string
	Topic        string
	Event        string
	Payload      json.RawMessage
	Binary       []byte // kind-4 frames: the raw frame
}

func (m msg) String() string {
	s := func(p *string) string {
		if p == nil {
			return "null"
		}
		return strconv.Quote(*p)
	}
	return fmt.Sprintf("[%s %s %s %s %s]", s(m.JoinRef), s(m.Ref), m.Topic, m.Event, m.Payload)
}

type client struct {
	t    *testing.T
	ws   *websocket.Conn
	vsn  int
	ref  int
	in   chan msg
	done chan struct{}
	err  error
}

func (e *env) dial(vsn string, apikey string) *client {
	e.t.Helper()
	c, err := e.tryDial(vsn, apikey)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) tryDial(vsn string, apikey string) (*client, error) {
	return e.dialOpt(vsn, apikey, true)
}

// dialOpt dials; without read, nobody reads the socket (a slow consumer).
func (e *env) dialOpt(vsn string, apikey string, read bool) (*client, error) {
	u := strings.Replace(e.srv.URL, "http", "ws", 1) + "/realtime/v1/websocket?apikey=" + apikey + "&vsn=" + vsn
	ctx, cancel := context.WithTimeout(e.t.Context(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(10 << 20)
	v, _ := parseVSN(vsn)
	c := &client{t: e.t, ws: ws, vsn: v, in: make(chan msg, 10000), done: make(chan struct{})}
	if read {
		go c.read()
	}
	e.t.Cleanup(func() { ws.CloseNow() })
	return c, nil
}

func (c *client) read() {
	defer close(c.done)
	for {
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			c.err = err
			return
		}
		var m msg
		if typ == websocket.MessageBinary {
			m = decodeKind4(c.t, data)
		} else if c.vsn == vsn1 {
			var o struct {
				Topic   string          `json:"topic"`
				Event   string          `json:"event"`
				Payload json.RawMessage `json:"payload"`
				Ref     *string         `json:"ref"`
			}
			if err := json.Unmarshal(data, &o); err != nil {
				c.t.Errorf("bad v1 frame %s: %v", data, err)
				return
			}
			if bytes.Contains(data, []byte(`"join_ref"`)) {
				c.t.Errorf("v1 frame carries join_ref: %s", data)
			}
			m = msg{Ref: o.Ref, Topic: o.Topic, Event: o.Event, Payload: o.Payload}
		} else {
			var a []json.RawMessage
			if err := json.Unmarshal(data, &a); err != nil || len(a) != 5 {
				c.t.Errorf("bad v2 frame %s", data)
				return
			}
			json.Unmarshal(a[0], &m.JoinRef)
			json.Unmarshal(a[1], &m.Ref)
			json.Unmarshal(a[2], &m.Topic)
			json.Unmarshal(a[3], &m.Event)
			m.Payload = a[4]
		}
		c.in <- m
	}
}

// decodeKind4 turns a kind-4 frame into the message realtime-js makes of it.
func decodeKind4(t *testing.T, b []byte) msg {
	if len(b) < 5 || b[0] != 4 {
		t.Errorf("unexpected binary frame kind %v", b)
		return msg{}
	}
	tl, el, ml, enc := int(b[1]), int(b[2]), int(b[3]), b[4]
	rest := b[5:]
	topic, event := string(rest[:tl]), string(rest[tl:tl+el])
	payload := rest[tl+el+ml:]
	p := map[string]any{"type": "broadcast", "event": event}
	if enc == 1 {
		p["payload"] = json.RawMessage(payload)
	} else {
		p["payload"] = "binary:" + string(payload)
	}
	return msg{Topic: topic, Event: "broadcast", Payload: mustJSON(p), Binary: b}
}

// push sends a message and returns its ref.
func (c *client) push(joinRef, topic, event string, payload any) string {
	c.t.Helper()
	c.ref++
	ref := strconv.Itoa(c.ref)
	if event == "phx_join" {
		joinRef = ref
	}
	var data []byte
	if c.vsn == vsn1 {
		o := map[string]any{"topic": topic, "event": event, "payload": payload, "ref": ref}
		if joinRef != "" {
			o["join_ref"] = joinRef
		}
		data = mustJSON(o)
	} else {
		var jr any
		if joinRef != "" {
			jr = joinRef
		}
		data = mustJSON([]any{jr, ref, topic, event, payload})
	}
	if err := c.ws.Write(c.t.Context(), websocket.MessageText, data); err != nil {
		c.t.Fatalf("write: %v", err)
	}
	return ref
}

// pushBroadcast sends channel.send as realtime-js does for the serializer.
func (c *client) pushBroadcast(joinRef, topic, event string, payload any) string {
	c.t.Helper()
	if c.vsn == vsn1 {
		return c.push(joinRef, topic, "broadcast", map[string]any{"type": "broadcast", "event": event, "payload": payload})
	}
	c.ref++
	ref := strconv.Itoa(c.ref)
	p := mustJSON(payload)
	b := []byte{3, byte(len(joinRef)), byte(len(ref)), byte(len(topic)), byte(len(event)), 0, 1}
	b = append(b, joinRef...)
	b = append(b, ref...)
	b = append(b, topic...)
	b = append(b, event...)
	b = append(b, p...)
	if err := c.ws.Write(c.t.Context(), websocket.MessageBinary, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
	return ref
}

// next returns the next message, failing after d.
func (c *client) next(d time.Duration) msg {
	c.t.Helper()
	select {
	case m := <-c.in:
		return m
	case <-time.After(d):
		c.t.Fatalf("no message within %v", d)
	case <-c.done:
		c.t.Fatalf("connection closed: %v", c.err)
	}
	return msg{}
}

// expect waits for the first message with event (skipping others).
func (c *client) expect(event string) msg {
	c.t.Helper()
	return c.expectFn(event, func(msg) bool { return true })
}

func (c *client) expectFn(event string, ok func(msg) bool) msg {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-c.in:
			if m.Event == event && ok(m) {
				return m
			}
		case <-deadline:
			c.t.Fatalf("no %q message", event)
		case <-c.done:
			c.t.Fatalf("connection closed waiting for %q: %v", event, c.err)
		}
	}
}

// quiet asserts nothing (but heartbeat replies) arrives for d.
func (c *client) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case m := <-c.in:
		c.t.Fatalf("unexpected message %v", m)
	case <-time.After(d):
	}
}

type reply struct {
	Status   string          `json:"status"`
	Response json.RawMessage `json:"response"`
}

func (c *client) replyTo(ref string) reply {
	c.t.Helper()
	m := c.expectFn("phx_reply", func(m msg) bool { return m.Ref != nil && *m.Ref == ref })
	var r reply
	if err := json.Unmarshal(m.Payload, &r); err != nil {
		c.t.Fatal(err)
	}
	return r
}

// join joins topic with config and returns the join ref and the ok reply.
func (c *client) join(topic string, config map[string]any, accessToken string) (string, reply) {
	c.t.Helper()
	p := map[string]any{"config": config}
	if accessToken != "" {
		p["access_token"] = accessToken
	}
	ref := c.push("", topic, "phx_join", p)
	return ref, c.replyTo(ref)
}

func defaultConfig() map[string]any {
	return map[string]any{
		"broadcast":        map[string]any{"ack": false, "self": false},
		"presence":         map[string]any{"key": "", "enabled": false},
		"postgres_changes": []any{},
		"private":          false,
	}
}

func mustSign(t *testing.T, secret, ref string) string {
	t.Helper()
	tok, err := token.Sign([]byte(secret), token.Claims{"role": "anon", "ref": ref, "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
