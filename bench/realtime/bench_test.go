//go:build bench

package realtimebench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
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
	if url := os.Getenv("RTBENCH_CLIENT_URL"); url != "" {
		os.Exit(clientMain(url))
	}
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
	got, err := setNoFile(n)
	if err != nil {
		t.Fatal(err)
	}
	if got < n {
		t.Logf("open files limited to %d (wanted %d)", got, n)
	}
}

// setNoFile raises the soft limit to n, and the hard one when allowed.
func setNoFile(n uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur >= n {
		return lim.Cur, nil
	}
	want := syscall.Rlimit{Cur: n, Max: max(n, lim.Max)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// Without CAP_SYS_RESOURCE only the soft limit can move.
		want = syscall.Rlimit{Cur: min(n, lim.Max), Max: lim.Max}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return 0, fmt.Errorf("setrlimit: %w", err)
		}
	}
	return want.Cur, nil
}

// rss reads VmRSS in bytes after returning freed memory to the OS, so
// that before/after differences are live memory, not garbage.
func rss(t *testing.T) int64 {
	v, err := readRSS()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func readRSS() (int64, error) {
	runtime.GC()
	debug.FreeOSMemory()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/self/status")
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
	return join(ctx, e.socketURL(), topic, config, accessToken)
}

func (e *env) socketURL() string {
	return wsURL(e.srv.URL) + "/realtime/v1/websocket?apikey=" + e.p.AnonKey + "&vsn=2.0.0"
}

func join(ctx context.Context, url, topic string, config map[string]any, accessToken string) (*websocket.Conn, error) {
	c, err := dial(ctx, url)
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
	conns, err := openAll(n, open)
	if err != nil {
		t.Fatal(err)
	}
	return conns
}

func openAll(n int, open func(i int) (*websocket.Conn, error)) ([]*websocket.Conn, error) {
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
		return nil, firstErr
	}
	return conns, nil
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

// clientMain is the client process of TestBenchIdle: it opens
// RTBENCH_CLIENT_N connections to url (joining a channel each, or sending
// one message to the echo server), prints "ready <RSS growth bytes>" and
// holds them until its stdin closes. A separate process keeps the client
// side out of the server's RSS, and each process within its open-files
// limit.
func clientMain(url string) int {
	n, _ := strconv.Atoi(os.Getenv("RTBENCH_CLIENT_N"))
	echo := os.Getenv("RTBENCH_CLIENT_MODE") == "echo"
	if _, err := setNoFile(uint64(n + 1024)); err != nil {
		fmt.Println("error", err)
		return 1
	}
	ctx := context.Background()
	before, _ := readRSS()
	conns, err := openAll(n, func(i int) (*websocket.Conn, error) {
		if !echo {
			return join(ctx, url, fmt.Sprintf("realtime:room-%d", i%100), channelConfig(), "")
		}
		c, err := dial(ctx, url)
		if err != nil {
			return nil, err
		}
		if err := c.Write(ctx, websocket.MessageText, []byte(`["1","1","realtime:room","phx_join",{}]`)); err != nil {
			return nil, err
		}
		if _, _, err := c.Read(ctx); err != nil {
			return nil, err
		}
		return c, nil
	})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	after, _ := readRSS()
	fmt.Println("ready", after-before)
	io.Copy(io.Discard, os.Stdin)
	closeAll(conns)
	return 0
}

// holdClients starts a client process holding n connections to url and
// returns once they are open, with the client side's RSS growth and a
// function that closes them.
func holdClients(t *testing.T, url, mode string, n int) (clientRSS int64, opened time.Duration, stop func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RTBENCH_CLIENT_URL="+url, "RTBENCH_CLIENT_N="+strconv.Itoa(n), "RTBENCH_CLIENT_MODE="+mode)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop = func() {
		stdin.Close()
		cmd.Wait()
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) > 0 && (f[0] == "ready" || f[0] == "error") {
				line <- sc.Text()
				break
			}
		}
		close(line)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case l := <-line:
		f := strings.Fields(l)
		if len(f) != 2 || f[0] != "ready" {
			stop()
			t.Fatalf("client process: %q", l)
		}
		clientRSS, _ = strconv.ParseInt(f[1], 10, 64)
	case <-time.After(5 * time.Minute):
		cmd.Process.Kill()
		stop()
		t.Fatal("client process did not get ready")
	}
	return clientRSS, time.Since(start), stop
}

func TestBenchIdle(t *testing.T) {
	only(t)
	n := envInt("BENCH_CONNS", 10000)
	raiseNoFile(t, uint64(n+4096))
	per := func(b int64) float64 { return float64(b) / float64(n) / 1024 }

	// Baseline: a minimal echo server; each connection has sent and got
	// back one message (a join is one round trip).
	es := echoServer()
	before := rss(t)
	g0 := runtime.NumGoroutine()
	baseClient, baseOpen, stop := holdClients(t, wsURL(es.URL), "echo", n)
	time.Sleep(time.Second)
	baseRSS := rss(t) - before
	baseG := runtime.NumGoroutine() - g0
	stop()
	es.CloseClientConnections()
	es.Close()

	e := newEnv(t)
	// Warm the surface (project cache, pools) with one connection.
	c0, err := e.joinRealtime(t.Context(), "realtime:warm", channelConfig(), "")
	if err != nil {
		t.Fatal(err)
	}
	c0.CloseNow()
	time.Sleep(500 * time.Millisecond)
	before = rss(t)
	g0 = runtime.NumGoroutine()
	rtClient, rtOpen, stop := holdClients(t, e.socketURL(), "realtime", n)
	defer stop()
	time.Sleep(time.Second)
	rtRSS := rss(t) - before
	rtG := runtime.NumGoroutine() - g0
	if got := e.metric("madbase_realtime_connections"); int(got) != n {
		t.Errorf("open connections gauge = %v, want %d", got, n)
	}
	if got := e.metric("madbase_realtime_channels"); int(got) != n {
		t.Errorf("joined channels gauge = %v, want %d", got, n)
	}

	t.Logf("idle connections: %d (clients in a separate process)", n)
	t.Logf("  baseline echo server: %.1f KiB RSS/conn (%.0f MiB), %.1f goroutines/conn; client side %.1f KiB/conn; opened in %v",
		per(baseRSS), float64(baseRSS)/(1<<20), float64(baseG)/float64(n), per(baseClient), baseOpen.Round(time.Millisecond))
	t.Logf("  MadBase (joined to 1 of 100 channels): %.1f KiB RSS/conn (%.0f MiB), %.1f goroutines/conn; client side %.1f KiB/conn; opened+joined in %v",
		per(rtRSS), float64(rtRSS)/(1<<20), float64(rtG)/float64(n), per(rtClient), rtOpen.Round(time.Millisecond))
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
	rate                 float64 // offered inserts/s; 0 = as fast as 4 writers go
	delivered            int64
	elapsed              time.Duration
	lats                 []time.Duration
	rlsQueries, changes  float64
	dropped              float64
}

func (r changesRun) msgRate() float64 { return float64(r.delivered) / r.elapsed.Seconds() }

// changesEnv is a project with subs subscribers to inserts on the items
// table, each with a reader recording commit-to-client latency.
type changesEnv struct {
	t      *testing.T
	e      *env
	subs   int
	users  int
	conns  []*websocket.Conn
	pool   *pgxpool.Pool
	got    atomic.Int64
	warm   atomic.Int64
	lastAt atomic.Int64
	shards []latShard
}

type latShard struct {
	mu   sync.Mutex
	lats []time.Duration
}

// newChangesEnv joins subs subscribers, perUser connections per user (or
// all as the service role when service, which bypasses RLS).
func newChangesEnv(t *testing.T, subs, perUser int, service bool) *changesEnv {
	t.Helper()
	ctx := t.Context()
	e := newEnv(t)
	if err := pg.Exec(ctx, dbName(e.tdb), changesSQL); err != nil {
		t.Fatal(err)
	}
	ce := &changesEnv{t: t, e: e, subs: subs, users: (subs + perUser - 1) / perUser, shards: make([]latShard, subs)}
	uids := make([]string, ce.users)
	toks := make([]string, ce.users)
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
	ce.conns = openMany(t, subs, func(i int) (*websocket.Conn, error) {
		return e.joinRealtime(ctx, "realtime:items", cfg, toks[i%ce.users])
	})
	t.Cleanup(func() { closeAll(ce.conns) })
	key := []byte(`"commit_timestamp":"`)
	for i, c := range ce.conns {
		sh := &ce.shards[i]
		go func() {
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
					ce.warm.Add(1)
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
				sh.mu.Lock()
				sh.lats = append(sh.lats, now.Sub(ts))
				sh.mu.Unlock()
				ce.got.Add(1)
				ce.lastAt.Store(now.UnixNano())
			}
		}()
	}
	// pgtest runs PostgreSQL with synchronous_commit=off, where WAL
	// reaches the walsender only at the WAL writer's next round (up to
	// wal_writer_delay, 200ms) — a latency floor no server configured as
	// PostgreSQL ships would have. The writers commit synchronously.
	pcfg, err := pgxpool.ParseConfig(e.tdb)
	if err != nil {
		t.Fatal(err)
	}
	pcfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	ce.pool, err = pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ce.pool.Close)
	// Warm up (table metadata, pools, the stream's first transaction):
	// one insert every subscriber must get before any clock starts.
	if _, err := ce.pool.Exec(ctx, `insert into public.items (room, body) values (1, 'warm-up')`); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ce.warm.Load() < int64(subs); {
		if time.Now().After(deadline) {
			t.Fatalf("warm-up: %d of %d deliveries", ce.warm.Load(), subs)
		}
		time.Sleep(time.Millisecond)
	}
	return ce
}

// phase commits inserts single-row transactions, from 4 writers as fast as
// they go (rate 0) or paced at rate per second, and waits for every
// delivery.
func (ce *changesEnv) phase(inserts int, rate float64) changesRun {
	t, e, ctx := ce.t, ce.e, ce.t.Context()
	t.Helper()
	ce.got.Store(0)
	for i := range ce.shards {
		ce.shards[i].mu.Lock()
		ce.shards[i].lats = ce.shards[i].lats[:0]
		ce.shards[i].mu.Unlock()
	}
	q0, c0 := e.metric("madbase_realtime_rls_queries_total"), e.metric("madbase_realtime_changes_total")
	const writers = 4
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for {
				n := next.Add(1)
				if n > int64(inserts) {
					return
				}
				if rate > 0 {
					time.Sleep(time.Until(start.Add(time.Duration(float64(n-1) / rate * float64(time.Second)))))
				}
				if _, err := ce.pool.Exec(ctx, `insert into public.items (room, body) values (1, 'hello from the bench')`); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	insertTime := time.Since(start)
	want := int64(ce.subs * inserts)
	deadline := time.Now().Add(time.Duration(envInt("BENCH_WAIT_S", 90)) * time.Second)
	for ce.got.Load() < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	run := changesRun{subs: ce.subs, users: ce.users, inserts: inserts, rate: rate, delivered: ce.got.Load()}
	run.elapsed = max(time.Duration(ce.lastAt.Load()-start.UnixNano()), time.Millisecond)
	run.rlsQueries = e.metric("madbase_realtime_rls_queries_total") - q0
	run.changes = e.metric("madbase_realtime_changes_total") - c0
	run.dropped = e.metric("madbase_realtime_dropped_consumers_total")
	if run.delivered < want {
		t.Errorf("%d subscribers: %d of %d deliveries arrived (dropped consumers %v)", ce.subs, run.delivered, want, run.dropped)
	}
	for i := range ce.shards {
		ce.shards[i].mu.Lock()
		run.lats = append(run.lats, ce.shards[i].lats...)
		ce.shards[i].mu.Unlock()
	}
	slices.Sort(run.lats)
	t.Logf("    (inserts committed in %v, %.0f/s)", insertTime.Round(time.Millisecond), float64(inserts)/insertTime.Seconds())
	return run
}

// close ends the subscribers and the project's surface.
func (ce *changesEnv) close() { closeAll(ce.conns) }

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
	pacedFor := envInt("BENCH_PACED_S", 5)
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
		t.Logf("  %-40s %8.0f msg/s  p50 %s  p99 %s  visibility queries/change %.2f  (%d/%d delivered, %d inserts, %.0f changes decoded, %v dropped consumers)",
			label, r.msgRate(), ms(pct(r.lats, 50)), ms(pct(r.lats, 99)), r.rlsQueries/max(r.changes, 1),
			r.delivered, int64(r.subs*r.inserts), r.inserts, r.changes, r.dropped)
	}
	for _, n := range sizes {
		inserts := max(deliveries/n, 10)
		t.Logf("postgres_changes, %d subscribers (%d users x %d connections)", n, (n+perUser-1)/perUser, perUser)
		var burst [2]changesRun
		for i, service := range []bool{true, false} {
			name := "MadBase RLS"
			if service {
				name = "baseline (service role, RLS bypassed)"
			}
			ce := newChangesEnv(t, n, perUser, service)
			burst[i] = ce.phase(inserts, 0)
			report(fmt.Sprintf("%s, burst of %d:", name, inserts), burst[i])
			// Paced at half the burst throughput: latency without a backlog.
			rate := burst[i].msgRate() / float64(n) / 2
			paced := ce.phase(max(int(rate*float64(pacedFor)), 10), rate)
			report(fmt.Sprintf("%s, paced %.0f inserts/s:", name, rate), paced)
			ce.close()
		}
		t.Logf("  ratio RLS/bypass throughput %.2fx; target >= 10,000 msg/s met: %v", burst[1].msgRate()/burst[0].msgRate(), burst[1].msgRate() >= 10000)
	}
}
