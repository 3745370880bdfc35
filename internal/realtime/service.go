package realtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/madbase/madbase/internal/bus"
	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/tenant"
)

// Options configure a Service. Zero values take the defaults noted.
type Options struct {
	Log     *slog.Logger
	Tenants *tenant.Manager
	// Metrics is where the surface registers its collectors; nil skips them.
	Metrics prometheus.Registerer

	// IdleTimeout closes connections that send nothing (not even a
	// heartbeat) for this long; default 60s (clients beat every 25s).
	IdleTimeout time.Duration
	// QueueSize bounds each connection's outbound queue; a connection
	// whose queue is full is dropped. Default 1024 frames.
	QueueSize int
	// MaxPayload caps a broadcast or track payload; default 3,000 KB
	// (a project's realtime.max_payload_kb lowers it).
	MaxPayload int
	// MaxFrame caps an incoming WebSocket message; default 5,000,000 bytes.
	MaxFrame int64
	// MaxChannels per connection; default 100.
	MaxChannels int
	// RateLimit is the per-connection messages per second (burst: one
	// second's worth); default 100. Heartbeats are not counted.
	RateLimit float64
	// WarmFor keeps a project's replication stream running after its last
	// channel left; default 30s.
	WarmFor time.Duration
	// RetryAfter is the pause before restarting a failed stream; default 2s.
	RetryAfter time.Duration
	// ResumeDelay holds back a stream that resumes after a restart with
	// subscribers, so reconnecting clients can rejoin before the changes
	// committed meanwhile are replayed; default 2s.
	ResumeDelay time.Duration
	// LagWarnBytes logs a warning when a slot falls this far behind;
	// default 1 GiB.
	LagWarnBytes int64
	// IdleAdvance is how often the slots of idle projects (stream stopped,
	// nobody subscribed) are moved up to the current WAL position, so that
	// they do not hold WAL the next stream would skip anyway; default 5m.
	IdleAdvance time.Duration
	// Bus, when set, connects this node to the others: broadcasts and
	// presence reach their clients, and one node per project streams
	// postgres_changes for all (see cluster.go). Nil: single node.
	Bus bus.Bus
	// LeaderPoll is how often a node with postgres_changes subscribers
	// that does not lead its project tries the leader lock; default 1s.
	LeaderPoll time.Duration
	// NodeTimeout is how long a node may stay silent on the bus before the
	// others drop its presences; default 5s.
	NodeTimeout time.Duration
}

// Service is the Realtime surface of one MadBase node.
type Service struct {
	log     *slog.Logger
	tenants *tenant.Manager
	opt     Options
	hub     *hub
	m       *collectors
	handler http.Handler

	root     context.Context
	stop     context.CancelFunc
	wg       sync.WaitGroup
	draining atomic.Bool

	bus     bus.Bus
	outbox  chan []byte
	flushed chan struct{}
	left    sync.Once
	peersMu sync.Mutex
	peers   map[string]time.Time // other nodes, last heard

	mu    sync.Mutex
	conns map[*conn]struct{}
	feeds map[string]*feed
}

// New builds the service; call Run for its background work and Shutdown
// when the server drains.
func New(opt Options) *Service {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opt.IdleTimeout, 60*time.Second)
	def(&opt.WarmFor, 30*time.Second)
	def(&opt.IdleAdvance, 5*time.Minute)
	def(&opt.RetryAfter, 2*time.Second)
	def(&opt.ResumeDelay, 2*time.Second)
	def(&opt.LeaderPoll, time.Second)
	def(&opt.NodeTimeout, 5*time.Second)
	if opt.QueueSize <= 0 {
		opt.QueueSize = 1024
	}
	if opt.MaxPayload <= 0 {
		opt.MaxPayload = 3000 * 1024
	}
	if opt.MaxFrame <= 0 {
		opt.MaxFrame = 5_000_000
	}
	if opt.MaxChannels <= 0 {
		opt.MaxChannels = 100
	}
	if opt.RateLimit <= 0 {
		opt.RateLimit = 100
	}
	if opt.LagWarnBytes <= 0 {
		opt.LagWarnBytes = 1 << 30
	}
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	s := &Service{
		log:     opt.Log.With("surface", "realtime"),
		tenants: opt.Tenants,
		opt:     opt,
		hub:     newHub("F" + hex.EncodeToString(nonce[:])),
		m:       newCollectors(opt.Metrics),
		conns:   map[*conn]struct{}{},
		feeds:   map[string]*feed{},
	}
	s.root, s.stop = context.WithCancel(context.Background())
	if opt.Bus != nil {
		s.bus = opt.Bus
		s.outbox = make(chan []byte, 4096)
		s.flushed = make(chan struct{})
		s.peers = map[string]time.Time{}
		s.hub.pub = s.publish
		// Subscribe before serving anyone, so that this node hears what the
		// others publish about the channels its clients join.
		msgs, err := s.subscribeBus(s.root)
		if err != nil {
			s.log.Warn("realtime: subscribing to the bus; retrying in the background", "err", err)
		}
		s.wg.Add(3)
		go s.sender()
		go s.receiver(msgs)
		go s.reaper()
	}
	mux := http.NewServeMux()
	mux.Handle("GET /realtime/v1/websocket", s.route("/websocket", s.serveWS))
	mux.Handle("POST /realtime/v1/api/broadcast", s.route("/api/broadcast", s.restBroadcast))
	mux.Handle("POST /realtime/v1/api/broadcast/{topic}/events/{event}", s.route("/api/broadcast/{topic}/events/{event}", s.restEvent))
	mux.Handle("/realtime/v1/", httpx.Adapt(s.log, render, func(w http.ResponseWriter, r *http.Request) error {
		return httpx.E(http.StatusNotFound, "not_found", "Not Found")
	}))
	s.handler = httpx.CORS(httpx.DefaultCORS, mux)
	if opt.Tenants != nil {
		opt.Tenants.OnChange(s.projectChanged)
	}
	return s
}

// route wraps h with tenant resolution and authentication and records the
// route pattern for metrics.
func (s *Service) route(pattern string, h httpx.Handler) http.Handler {
	inner := httpx.Adapt(s.log, render, h)
	guarded := s.tenants.Guard("realtime", s.log, render, nil, inner)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.RequestInfo(r.Context()).Route = "/realtime/v1" + pattern
		guarded.ServeHTTP(w, r)
	})
}

// Handler serves everything under /realtime/v1/.
func (s *Service) Handler() http.Handler { return s.handler }

// Run keeps the service's background work (replication streams) alive
// until ctx ends, then stops the streams, persisting their positions.
func (s *Service) Run(ctx context.Context) error {
	tick := time.NewTicker(s.opt.IdleAdvance)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			s.Close()
			return nil
		case <-tick.C:
			s.advanceIdleSlots(ctx)
		}
	}
}

// Close stops every stream and closes every connection; it returns when
// the streams have stopped.
func (s *Service) Close() {
	s.Shutdown()
	if s.bus != nil {
		s.left.Do(s.leaveCluster)
	}
	s.stop()
	s.wg.Wait()
}

// Shutdown closes every WebSocket with 1001 (going away); clients
// reconnect to another node or after the restart. New upgrades are
// refused from now on.
func (s *Service) Shutdown() {
	s.draining.Store(true)
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.close(websocket.StatusGoingAway, "server shutting down")
		}()
	}
	wg.Wait()
}

// render is the surface's one error renderer. The WebSocket handshake
// answers as Supabase Realtime does ({"error": msg}; clients never read it),
// the REST API as {"message": msg}.
func render(w http.ResponseWriter, r *http.Request, e *httpx.Error) {
	status, msg := e.Status, e.Message
	switch e.Code {
	case tenant.CodeNoAPIKey:
		msg = "API key is missing"
	case tenant.CodeInvalidAPIKey, tenant.CodeBadJWT, tenant.CodeRoleNotAllowed:
		status, msg = http.StatusUnauthorized, "Unauthorized"
		if strings.HasSuffix(r.URL.Path, "/websocket") {
			msg = jwtErrorMessage(e)
		}
	case tenant.CodeProjectNotFound:
		msg = "Tenant not found"
	case tenant.CodeProjectDisabled:
		status, msg = http.StatusForbidden, "Realtime was disabled for this tenant"
	}
	if e.Internal() {
		msg = "Error connecting to Realtime"
	}
	key := "message"
	if strings.HasSuffix(r.URL.Path, "/websocket") {
		key = "error"
	}
	httpx.WriteJSON(w, status, map[string]string{key: msg})
}

func (s *Service) addConn(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	s.m.connections.WithLabelValues(c.project.Ref).Inc()
	return true
}

func (s *Service) removeConn(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c]; ok {
		delete(s.conns, c)
		s.m.connections.WithLabelValues(c.project.Ref).Dec()
	}
}

// projectConns returns the open connections of project ref ("" = all).
func (s *Service) projectConns(ref string) []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*conn
	for c := range s.conns {
		if ref == "" || c.project.Ref == ref {
			out = append(out, c)
		}
	}
	return out
}
