//go:build bench

package realtimebench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/realtime"
	"github.com/madbase/madbase/internal/secret"
	"github.com/madbase/madbase/internal/tenant"
	"github.com/madbase/madbase/internal/testutil/pgtest"
	"github.com/madbase/madbase/internal/token"
)

var pg *pgtest.Cluster

const (
	tenantTpl  = "rtbench_tenant"
	controlTpl = "rtbench_control"
)

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, &pg, func(ctx context.Context, c *pgtest.Cluster) error {
		if err := c.CreateTemplate(ctx, tenantTpl, func(ctx context.Context, url string) error {
			_, err := tenant.Bootstrap(ctx, url)
			return err
		}); err != nil {
			return err
		}
		return c.CreateTemplate(ctx, controlTpl, func(ctx context.Context, url string) error {
			s, err := control.Open(ctx, url, box())
			if err != nil {
				return err
			}
			defer s.Close()
			_, err = s.Migrate(ctx)
			return err
		})
	}))
}

func box() *secret.Box {
	b, _ := secret.New(bytes.Repeat([]byte{9}, 32))
	return b
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func only(t *testing.T) {
	if o := os.Getenv("BENCH_ONLY"); o != "" && !strings.Contains(t.Name(), o) {
		t.Skip("BENCH_ONLY")
	}
}

// raiseNoFile lifts the open-files limit: the process holds both ends of
// every connection.
func raiseNoFile(t *testing.T, n uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	want := syscall.Rlimit{Cur: n, Max: max(n, lim.Max)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// Without privilege only the soft limit can move.
		want.Max = lim.Max
		want.Cur = min(n, lim.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			t.Fatalf("setrlimit: %v", err)
		}
		t.Logf("open files limited to %d", want.Cur)
	}
}

// rss reads VmRSS in bytes after returning freed memory to the OS, so
// that before/after differences are live memory, not garbage.
func rss(t *testing.T) int64 {
	runtime.GC()
	debug.FreeOSMemory()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// env is a Realtime surface over a fresh control DB and one project.
type env struct {
	t   *testing.T
	m   *tenant.Manager
	svc *realtime.Service
	srv *httptest.Server
	p   *control.Project
	reg *prometheus.Registry
	tdb string
}

var refSeq atomic.Int64

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, reg: prometheus.NewRegistry(), tdb: pg.NewDB(t, tenantTpl)}
	s, err := control.Open(t.Context(), pg.NewDB(t, controlTpl), box())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("BENCH_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	e.m = tenant.NewManager(s, log, tenant.Options{})
	e.svc = realtime.New(realtime.Options{
		Log: log, Tenants: e.m, Metrics: e.reg,
		// Idle means idle: nobody heartbeats during the run.
		IdleTimeout: 30 * time.Minute,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); e.svc.Run(ctx) }()
	e.srv = httptest.NewServer(httpx.Chain(log, nil, e.svc.Handler()))
	ref := fmt.Sprintf("rtb%d-%d", os.Getpid()%10000, refSeq.Add(1))
	e.p, err = e.m.Provision(t.Context(), tenant.Spec{Ref: ref, Name: ref, DBURL: e.tdb})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.srv.CloseClientConnections()
		e.svc.Close()
		cancel()
		<-done
		e.srv.Close()
		e.m.Close()
		s.Close()
		// A database with a replication slot cannot be dropped.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, e.tdb)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		for range 50 {
			if _, err = conn.Exec(ctx, `select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = current_database()`); err == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("cleanup: drop slot: %v", err)
	})
	return e
}

func (e *env) metric(name string) float64 {
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.Counter != nil {
				total += m.Counter.GetValue()
			} else if m.Gauge != nil {
				total += m.Gauge.GetValue()
			}
		}
	}
	return total
}

func (e *env) userToken(sub string) string {
	tok, err := token.Sign([]byte(e.p.JWTSecret), token.Claims{
		"sub": sub, "role": "authenticated", "aud": "authenticated", "ref": e.p.Ref,
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func wsURL(httpURL string) string { return "ws" + strings.TrimPrefix(httpURL, "http") }

// dial opens one WebSocket; the read limit allows big postgres_changes.
func dial(ctx context.Context, url string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(10 << 20)
	return c, nil
}

// joinRealtime dials the surface with serializer 2.0.0 (realtime-js's
// default), joins topic with the config and waits for the ok reply.
func (e *env) joinRealtime(ctx context.Context, topic string, config map[string]any, accessToken string) (*websocket.Conn, error) {
	c, err := dial(ctx, wsURL(e.srv.URL)+"/realtime/v1/websocket?apikey="+e.p.AnonKey+"&vsn=2.0.0")
	if err != nil {
		return nil, err
	}
	p := map[string]any{"config": config}
	if accessToken != "" {
		p["access_token"] = accessToken
	}
	msg, _ := json.Marshal([]any{"1", "1", topic, "phx_join", p})
	if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
		c.CloseNow()
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		typ, data, err := c.Read(rctx)
		if err != nil {
			c.CloseNow()
			return nil, fmt.Errorf("join %s: %w", topic, err)
		}
		if typ != websocket.MessageText {
			continue
		}
		var a []json.RawMessage
		if json.Unmarshal(data, &a) != nil || len(a) != 5 || string(a[3]) != `"phx_reply"` || string(a[1]) != `"1"` {
			continue
		}
		if !bytes.Contains(a[4], []byte(`"status":"ok"`)) {
			c.CloseNow()
			return nil, fmt.Errorf("join %s: %s", topic, a[4])
		}
		return c, nil
	}
}

func channelConfig(bindings ...map[string]any) map[string]any {
	list := make([]any, len(bindings))
	for i, b := range bindings {
		list[i] = b
	}
	return map[string]any{
		"broadcast":        map[string]any{"ack": false, "self": false},
		"presence":         map[string]any{"key": "", "enabled": false},
		"postgres_changes": list,
		"private":          false,
	}
}

// openMany runs open for 0..n-1 with bounded parallelism.
func openMany(t *testing.T, n int, open func(i int) (*websocket.Conn, error)) []*websocket.Conn {
	t.Helper()
	conns := make([]*websocket.Conn, n)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				c, err := open(i)
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("connection %d: %w", i, err)
					}
					mu.Unlock()
					next.Store(int64(n))
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		closeAll(conns)
		t.Fatal(firstErr)
	}
	return conns
}

func closeAll(conns []*websocket.Conn) {
	for _, c := range conns {
		if c != nil {
			c.CloseNow()
		}
	}
}

// echoServer is the minimal WebSocket server of the baselines: it accepts,
// then echoes whatever it reads.
func echoServer() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, b, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, b); err != nil {
				return
			}
		}
	}))
}

func TestBenchIdle(t *testing.T) {
	only(t)
	n := envInt("BENCH_CONNS", 10000)
	raiseNoFile(t, uint64(2*n+4096))
	ctx := t.Context()

	// Baseline: raw connections to the echo server, each having sent and
	// got back one message (as a join is one round trip).
	es := echoServer()
	before := rss(t)
	g0 := runtime.NumGoroutine()
	start := time.Now()
	conns := openMany(t, n, func(int) (*websocket.Conn, error) {
		c, err := dial(ctx, wsURL(es.URL))
		if err != nil {
			return nil, err
		}
		if err := c.Write(ctx, websocket.MessageText, []byte(`["1","1","room","phx_join",{}]`)); err != nil {
			return nil, err
		}
		if _, _, err := c.Read(ctx); err != nil {
			return nil, err
		}
		return c, nil
	})
	baseOpen := time.Since(start)
	time.Sleep(time.Second)
	baseRSS := rss(t) - before
	baseG := runtime.NumGoroutine() - g0
	closeAll(conns)
	es.CloseClientConnections()
	es.Close()

	e := newEnv(t)
	// Warm the surface (project cache, pools) with one connection.
	c0, err := e.joinRealtime(ctx, "realtime:warm", channelConfig(), "")
	if err != nil {
		t.Fatal(err)
	}
	c0.CloseNow()
	time.Sleep(500 * time.Millisecond)
	before = rss(t)
	g0 = runtime.NumGoroutine()
	start = time.Now()
	conns = openMany(t, n, func(i int) (*websocket.Conn, error) {
		return e.joinRealtime(ctx, fmt.Sprintf("realtime:room-%d", i%100), channelConfig(), "")
	})
	rtOpen := time.Since(start)
	defer closeAll(conns)
	time.Sleep(time.Second)
	rtRSS := rss(t) - before
	rtG := runtime.NumGoroutine() - g0
	if got := e.metric("madbase_realtime_connections"); int(got) != n {
		t.Errorf("open connections gauge = %v, want %d", got, n)
	}
	if got := e.metric("madbase_realtime_channels"); int(got) != n {
		t.Errorf("joined channels gauge = %v, want %d", got, n)
	}

	per := func(b int64) float64 { return float64(b) / float64(n) / 1024 }
	t.Logf("idle connections: %d", n)
	t.Logf("  baseline (raw ws + echo server): %.1f KiB RSS/conn (%.0f MiB), %.1f goroutines/conn, opened in %v",
		per(baseRSS), float64(baseRSS)/(1<<20), float64(baseG)/float64(n), baseOpen.Round(time.Millisecond))
	t.Logf("  MadBase (ws + join, client side included): %.1f KiB RSS/conn (%.0f MiB), %.1f goroutines/conn, opened+joined in %v",
		per(rtRSS), float64(rtRSS)/(1<<20), float64(rtG)/float64(n), rtOpen.Round(time.Millisecond))
	t.Logf("  MadBase over baseline: +%.1f KiB/conn, ratio %.2fx", per(rtRSS-baseRSS), float64(rtRSS)/float64(baseRSS))
}

// percentile of sorted durations.
func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(p/100*float64(len(d))+0.5) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

// fanout is the receiving side of a broadcast run: every subscriber's
// reader records the delay since sentAt of each frame it gets.
type fanout struct {
	sentAt atomic.Int64
	got    atomic.Int64
	mu     sync.Mutex
	lats   []time.Duration
	first  atomic.Pointer[frame]
}

type frame struct {
	typ  websocket.MessageType
	data []byte
}

func (f *fanout) read(c *websocket.Conn) {
	for {
		typ, data, err := c.Read(context.Background())
		if err != nil {
			return
		}
		d := time.Duration(time.Now().UnixNano() - f.sentAt.Load())
		f.first.CompareAndSwap(nil, &frame{typ, data})
		f.mu.Lock()
		f.lats = append(f.lats, d)
		f.mu.Unlock()
		f.got.Add(1)
	}
}

// rounds sends rounds broadcasts with send, waiting after each until n
// subscribers got it.
func (f *fanout) rounds(t *testing.T, n, rounds int, send func() error) (lats []time.Duration, lastPerRound []time.Duration) {
	t.Helper()
	for r := range rounds {
		want := int64(n * (r + 1))
		f.sentAt.Store(time.Now().UnixNano())
		if err := send(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for f.got.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %d of %d deliveries", r, f.got.Load()-int64(n*r), n)
			}
			time.Sleep(200 * time.Microsecond)
		}
		lastPerRound = append(lastPerRound, time.Duration(time.Now().UnixNano()-f.sentAt.Load()))
		time.Sleep(100 * time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	lats = slices.Clone(f.lats)
	slices.Sort(lats)
	slices.Sort(lastPerRound)
	return lats, lastPerRound
}

func TestBenchBroadcast(t *testing.T) {
	only(t)
	n := envInt("BENCH_SUBS", 5000)
	rounds := envInt("BENCH_ROUNDS", 20)
	raiseNoFile(t, uint64(2*n+4096))
	ctx := t.Context()

	// MadBase: n subscribers and one sender on one public channel; the
	// sender pushes the binary broadcast realtime-js 2.x sends.
	e := newEnv(t)
	const topic = "realtime:fan"
	subs := openMany(t, n, func(int) (*websocket.Conn, error) {
		return e.joinRealtime(ctx, topic, channelConfig(), "")
	})
	defer closeAll(subs)
	sender, err := e.joinRealtime(ctx, topic, channelConfig(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer sender.CloseNow()
	var rt fanout
	for _, c := range subs {
		go rt.read(c)
	}
	ref := 1
	payload := []byte(`{"msg":"hello everyone","n":12345}`)
	rtLats, rtLast := rt.rounds(t, n, rounds, func() error {
		ref++
		r, ev := strconv.Itoa(ref), "msg"
		b := []byte{3, 1, byte(len(r)), byte(len(topic)), byte(len(ev)), 0, 1}
		b = append(b, '1')
		b = append(b, r...)
		b = append(b, topic...)
		b = append(b, ev...)
		b = append(b, payload...)
		return sender.Write(ctx, websocket.MessageBinary, b)
	})
	first := *rt.first.Load()
	if !bytes.Contains(first.data, payload) {
		t.Fatalf("unexpected broadcast frame %q", first.data)
	}
	if d := e.metric("madbase_realtime_dropped_consumers_total"); d != 0 {
		t.Errorf("%v slow consumers dropped", d)
	}
	closeAll(subs)
	sender.CloseNow()

	// Baseline: a plain server where each connection has a reader and a
	// writer goroutine with a queue; any message read is fanned out as the
	// frame MadBase sent to every other connection.
	var mu sync.Mutex
	queues := map[*websocket.Conn]chan []byte{}
	bs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		q := make(chan []byte, 1024)
		mu.Lock()
		queues[c] = q
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(queues, c)
			mu.Unlock()
		}()
		go func() {
			for b := range q {
				if c.Write(context.Background(), first.typ, b) != nil {
					return
				}
			}
		}()
		defer close(q)
		for {
			if _, _, err := c.Read(r.Context()); err != nil {
				return
			}
			mu.Lock()
			for oc, oq := range queues {
				if oc != c {
					select {
					case oq <- first.data:
					default:
					}
				}
			}
			mu.Unlock()
		}
	}))
	defer bs.Close()
	bsubs := openMany(t, n, func(int) (*websocket.Conn, error) { return dial(ctx, wsURL(bs.URL)) })
	defer closeAll(bsubs)
	bsender, err := dial(ctx, wsURL(bs.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer bsender.CloseNow()
	for {
		mu.Lock()
		k := len(queues)
		mu.Unlock()
		if k == n+1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var base fanout
	for _, c := range bsubs {
		go base.read(c)
	}
	bLats, bLast := base.rounds(t, n, rounds, func() error {
		return bsender.Write(ctx, websocket.MessageBinary, []byte("x"))
	})

	t.Logf("broadcast to %d subscribers, %d rounds, frame %d bytes (%v): %q", n, rounds, len(first.data), first.typ, first.data)
	t.Logf("  baseline fan-out: p50 %s  p99 %s  max %s  last-delivery per round p50 %s",
		ms(pct(bLats, 50)), ms(pct(bLats, 99)), ms(pct(bLats, 100)), ms(pct(bLast, 50)))
	t.Logf("  MadBase:          p50 %s  p99 %s  max %s  last-delivery per round p50 %s",
		ms(pct(rtLats, 50)), ms(pct(rtLats, 99)), ms(pct(rtLats, 100)), ms(pct(rtLast, 50)))
	t.Logf("  ratio MadBase/baseline: p50 %.2fx  p99 %.2fx",
		float64(pct(rtLats, 50))/float64(pct(bLats, 50)), float64(pct(rtLats, 99))/float64(pct(bLats, 99)))
}

const changesSQL = `
create table public.members (user_id uuid not null, room int not null, primary key (user_id, room));
create table public.items (id bigint generated by default as identity primary key, room int not null, body text not null);
alter table public.items enable row level security;
create policy members_read on public.items for select to authenticated
  using (exists (select 1 from public.members m where m.user_id = auth.uid() and m.room = items.room));
alter publication supabase_realtime add table public.items;
`

// changesRun is one postgres_changes measurement.
type changesRun struct {
	subs, users, inserts int
	delivered            int64
	elapsed              time.Duration
	lats                 []time.Duration
	rlsQueries, changes  float64
	dropped              float64
}

func (r changesRun) rate() float64 { return float64(r.delivered) / r.elapsed.Seconds() }

// runChanges joins subs subscribers (perUser connections per user, or the
// service role when service) to the items table, inserts rows with
// writers concurrent single-row transactions and waits for every delivery.
func runChanges(t *testing.T, subs, perUser, inserts int, service bool) changesRun {
	t.Helper()
	ctx := t.Context()
	e := newEnv(t)
	if err := pg.Exec(ctx, dbName(e.tdb), changesSQL); err != nil {
		t.Fatal(err)
	}
	users := (subs + perUser - 1) / perUser
	uids := make([]string, users)
	toks := make([]string, users)
	for u := range uids {
		uids[u] = fmt.Sprintf("00000000-0000-4000-8000-%012d", u+1)
		toks[u] = e.userToken(uids[u])
		if service {
			toks[u] = e.p.ServiceRoleKey
		}
	}
	if err := pg.Exec(ctx, dbName(e.tdb), `insert into public.members select unnest($1::uuid[]), 1`, uids); err != nil {
		t.Fatal(err)
	}
	cfg := channelConfig(map[string]any{"event": "INSERT", "schema": "public", "table": "items"})
	conns := openMany(t, subs, func(i int) (*websocket.Conn, error) {
		return e.joinRealtime(ctx, "realtime:items", cfg, toks[i%users])
	})
	defer closeAll(conns)

	var got, warm atomic.Int64
	var lastAt atomic.Int64
	var mu sync.Mutex
	var lats []time.Duration
	key := []byte(`"commit_timestamp":"`)
	for _, c := range conns {
		go func() {
			local := make([]time.Duration, 0, inserts)
			defer func() {
				mu.Lock()
				lats = append(lats, local...)
				mu.Unlock()
			}()
			for {
				_, data, err := c.Read(context.Background())
				if err != nil {
					return
				}
				now := time.Now()
				if !bytes.Contains(data[:min(len(data), 80)], []byte(`"postgres_changes"`)) {
					continue
				}
				if bytes.Contains(data, []byte("warm-up")) {
					warm.Add(1)
					continue
				}
				i := bytes.Index(data, key)
				if i < 0 || len(data) < i+len(key)+24 {
					continue
				}
				ts, err := time.Parse("2006-01-02T15:04:05.000Z", string(data[i+len(key):i+len(key)+24]))
				if err != nil {
					continue
				}
				local = append(local, now.Sub(ts))
				got.Add(1)
				lastAt.Store(now.UnixNano())
			}
		}()
	}

	pool, err := pgxpool.New(ctx, e.tdb)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// Warm up (table metadata, pools, the stream's first transaction):
	// one insert every subscriber must get before the clock starts.
	if _, err := pool.Exec(ctx, `insert into public.items (room, body) values (1, 'warm-up')`); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); warm.Load() < int64(subs); {
		if time.Now().After(deadline) {
			t.Fatalf("warm-up: %d of %d deliveries", warm.Load(), subs)
		}
		time.Sleep(time.Millisecond)
	}
	q0, c0 := e.metric("madbase_realtime_rls_queries_total"), e.metric("madbase_realtime_changes_total")
	const writers = 4
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for next.Add(1) <= int64(inserts) {
				if _, err := pool.Exec(ctx, `insert into public.items (room, body) values (1, 'hello from the bench')`); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	insertTime := time.Since(start)
	want := int64(subs * inserts)
	deadline := time.Now().Add(time.Duration(envInt("BENCH_WAIT_S", 90)) * time.Second)
	for got.Load() < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	run := changesRun{subs: subs, users: users, inserts: inserts, delivered: got.Load()}
	run.elapsed = max(time.Duration(lastAt.Load()-start.UnixNano()), time.Millisecond)
	run.rlsQueries = e.metric("madbase_realtime_rls_queries_total") - q0
	run.changes = e.metric("madbase_realtime_changes_total") - c0
	run.dropped = e.metric("madbase_realtime_dropped_consumers_total")
	if run.delivered < want {
		t.Errorf("%d subscribers: %d of %d deliveries arrived (dropped consumers %v)", subs, run.delivered, want, run.dropped)
	}
	closeAll(conns)
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	run.lats = slices.Clone(lats)
	mu.Unlock()
	slices.Sort(run.lats)
	t.Logf("  inserts committed in %v (%.0f/s)", insertTime.Round(time.Millisecond), float64(inserts)/insertTime.Seconds())
	return run
}

func dbName(url string) string {
	name := url[strings.LastIndex(url, "/")+1:]
	if j := strings.IndexByte(name, '?'); j >= 0 {
		name = name[:j]
	}
	return name
}

func TestBenchChanges(t *testing.T) {
	only(t)
	perUser := envInt("BENCH_SUBS_PER_USER", 10)
	deliveries := envInt("BENCH_DELIVERIES", 100000)
	sizes := []int{100, 1000}
	if v := os.Getenv("BENCH_RLS_SUBS"); v != "" {
		sizes = nil
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, n)
		}
	}
	raiseNoFile(t, uint64(2*slices.Max(sizes)+4096))
	report := func(label string, r changesRun) {
		t.Logf("  %-34s %8.0f msg/s  p50 %s  p99 %s  visibility queries/change %.2f  (%d/%d delivered, %d inserts, %.0f changes decoded, %v dropped consumers)",
			label, r.rate(), ms(pct(r.lats, 50)), ms(pct(r.lats, 99)), r.rlsQueries/max(r.changes, 1),
			r.delivered, int64(r.subs*r.inserts), r.inserts, r.changes, r.dropped)
	}
	for _, n := range sizes {
		inserts := max(deliveries/n, 10)
		t.Logf("postgres_changes, %d subscribers (%d users x %d connections), %d single-row insert transactions", n, (n+perUser-1)/perUser, perUser, inserts)
		svc := runChanges(t, n, perUser, inserts, true)
		report("baseline (service role, no RLS):", svc)
		rls := runChanges(t, n, perUser, inserts, false)
		report("MadBase RLS:", rls)
		t.Logf("  ratio RLS/no-RLS throughput %.2fx; target >= 10,000 msg/s: %v", rls.rate()/svc.rate(), rls.rate() >= 10000)
	}
}
