package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/tenant"
	"github.com/madbase/madbase/internal/token"
)

// settings is a project's "realtime" settings section.
type settings struct {
	MaxPayloadKB int  `json:"max_payload_kb"`
	PrivateOnly  bool `json:"private_only"`
}

func projectSettings(p *control.Project) settings {
	var st settings
	_ = p.Section("realtime", &st)
	return st
}

// conn is one client WebSocket.
type conn struct {
	s       *Service
	ws      *websocket.Conn
	vsn     int
	project *control.Project
	key     *tenant.Auth // the apikey's identity: fallback for channel tokens
	keyTok  string
	log     *slog.Logger
	maxPay  int

	// The outbound queue. It holds nothing while idle, and a writer
	// goroutine exists only while there is something to write: an idle
	// connection costs its reader goroutine and little else.
	outMu   sync.Mutex
	out     []frame
	spare   []frame
	writing bool
	ctx     context.Context
	cancel  context.CancelFunc
	dropped atomic.Bool
	once    sync.Once

	// rate limiting (reader goroutine only)
	tokens float64
	last   time.Time

	mu       sync.Mutex
	channels map[string]*channel // by topic
}

func parseVSN(v string) (int, bool) {
	switch {
	case v == "" || v == "1.0.0" || strings.HasPrefix(v, "1."):
		return vsn1, true
	case v == "2.0.0" || strings.HasPrefix(v, "2."):
		return vsn2, true
	}
	return 0, false
}

// serveWS upgrades an authenticated request and runs the connection until
// it closes.
func (s *Service) serveWS(w http.ResponseWriter, r *http.Request) error {
	a := tenant.FromContext(r.Context())
	vsn, ok := parseVSN(r.URL.Query().Get("vsn"))
	if !ok {
		return httpx.E(http.StatusBadRequest, "bad_vsn", "Unsupported serializer version")
	}
	if s.draining.Load() {
		return httpx.E(http.StatusServiceUnavailable, "draining", "Error connecting to Realtime")
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return nil // Accept has answered
	}
	st := projectSettings(a.Project)
	c := &conn{
		s: s, ws: ws, vsn: vsn, project: a.Project,
		key:      &tenant.Auth{Project: a.Project, KeyRole: a.KeyRole, Claims: a.Claims},
		keyTok:   tenant.APIKey(r),
		log:      s.log.With("project", a.Project.Ref, "request_id", httpx.RequestID(r.Context())),
		maxPay:   s.opt.MaxPayload,
		channels: map[string]*channel{},
		tokens:   s.opt.RateLimit,
		last:     time.Now(),
	}
	if st.MaxPayloadKB > 0 && st.MaxPayloadKB*1024 < c.maxPay {
		c.maxPay = st.MaxPayloadKB * 1024
	}
	ws.SetReadLimit(s.opt.MaxFrame)
	c.ctx, c.cancel = context.WithCancel(s.root)
	if !s.addConn(c) {
		ws.Close(websocket.StatusGoingAway, "server shutting down")
		return nil
	}
	c.run()
	return nil
}

func (c *conn) run() {
	defer c.cleanup()
	idle := time.AfterFunc(c.s.opt.IdleTimeout, func() {
		c.log.Debug("realtime: closing silent connection")
		c.close(websocket.StatusNormalClosure, "heartbeat timeout")
	})
	defer idle.Stop()
	for {
		typ, data, err := c.ws.Read(c.ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusMessageTooBig {
				c.log.Info("realtime: frame over the size limit")
			}
			return
		}
		idle.Reset(c.s.opt.IdleTimeout)
		var m *inbound
		if typ == websocket.MessageBinary {
			if c.vsn != vsn2 {
				continue
			}
			m, err = decodeBinary(data)
		} else {
			m, err = decodeText(c.vsn, data)
		}
		if err != nil {
			c.log.Debug("realtime: bad frame", "err", err)
			continue
		}
		c.handle(m)
	}
}

// send queues f without ever blocking; a full queue drops the connection.
func (c *conn) send(f frame) {
	if c.dropped.Load() || c.ctx.Err() != nil {
		return
	}
	c.outMu.Lock()
	if len(c.out) >= c.s.opt.QueueSize {
		c.outMu.Unlock()
		if c.dropped.CompareAndSwap(false, true) {
			c.s.m.dropped.WithLabelValues(c.project.Ref).Inc()
			c.log.Warn("realtime: dropping slow consumer", "queue", c.s.opt.QueueSize)
			go c.close(websocket.StatusTryAgainLater, "slow consumer")
		}
		return
	}
	c.out = append(c.out, f)
	start := !c.writing
	c.writing = true
	c.outMu.Unlock()
	c.s.m.messagesOut.WithLabelValues(c.project.Ref).Inc()
	if start {
		go c.drain()
	}
}

// drain writes the queue in order until it is empty.
func (c *conn) drain() {
	for {
		c.outMu.Lock()
		batch := c.out
		if len(batch) == 0 || c.ctx.Err() != nil {
			c.writing = false
			if cap(c.out) > 64 {
				// Give a burst's memory back.
				c.out, c.spare = nil, nil
			}
			c.outMu.Unlock()
			return
		}
		c.out, c.spare = c.spare[:0], nil
		c.outMu.Unlock()
		for i, f := range batch {
			typ := websocket.MessageText
			if f.binary {
				typ = websocket.MessageBinary
			}
			wctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
			err := c.ws.Write(wctx, typ, f.data)
			cancel()
			batch[i] = frame{}
			if err != nil {
				c.cancel()
			}
		}
		c.outMu.Lock()
		c.spare = batch[:0]
		c.outMu.Unlock()
	}
}

// close ends the connection with a close frame (bounded by the library's
// own timeouts) and stops its goroutines.
func (c *conn) close(code websocket.StatusCode, reason string) {
	c.once.Do(func() {
		_ = c.ws.Close(code, reason)
		c.cancel()
	})
}

func (c *conn) cleanup() {
	c.cancel()
	_ = c.ws.CloseNow()
	c.mu.Lock()
	chans := make([]*channel, 0, len(c.channels))
	for _, ch := range c.channels {
		chans = append(chans, ch)
	}
	c.mu.Unlock()
	for _, ch := range chans {
		c.closeChannel(ch)
	}
	c.s.removeConn(c)
}

// allow is the per-connection token bucket.
func (c *conn) allow() bool {
	now := time.Now()
	rate := c.s.opt.RateLimit
	c.tokens = min(rate, c.tokens+now.Sub(c.last).Seconds()*rate)
	c.last = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

func (c *conn) reply(m *inbound, status string, response any) {
	if response == nil {
		response = map[string]any{}
	}
	c.send(encode(c.vsn, m.joinRef, m.ref, m.topic, "phx_reply", mustJSON(map[string]any{"status": status, "response": response})))
}

func (c *conn) replyReason(m *inbound, reason string) {
	c.reply(m, "error", map[string]string{"reason": reason})
}

func (c *conn) channel(topic string) *channel {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.channels[topic]
}

func (c *conn) handle(m *inbound) {
	if m.topic == "phoenix" {
		if m.event == "heartbeat" {
			c.reply(m, "ok", nil)
		}
		return
	}
	c.s.m.messagesIn.WithLabelValues(c.project.Ref).Inc()
	if !c.allow() {
		if ch := c.channel(m.topic); ch != nil {
			c.shutdownChannel(ch, "Too many messages per second")
		}
		return
	}
	if m.event == "phx_join" {
		c.join(m)
		return
	}
	ch := c.channel(m.topic)
	if ch == nil {
		if m.event != "phx_leave" && m.event != "access_token" {
			c.replyReason(m, "unmatched topic")
		} else if m.event == "phx_leave" {
			c.reply(m, "ok", nil)
		}
		return
	}
	switch m.event {
	case "phx_leave":
		c.reply(m, "ok", nil)
		c.closeChannel(ch)
		c.send(encode(c.vsn, ch.joinRef, ch.joinRef, ch.topic, "phx_close", json.RawMessage("{}")))
	case "broadcast":
		c.broadcast(ch, m)
	case "presence":
		c.presence(ch, m)
	case "access_token":
		c.refresh(ch, m)
	}
}

// channel is one joined topic on one connection.
type channel struct {
	c           *conn
	key         topicKey
	topic       string
	joinRef     string
	self, ack   bool
	presenceKey string

	presenceOn    atomic.Bool
	readBroadcast atomic.Bool
	readPresence  atomic.Bool
	write         atomic.Int32 // 0 unknown, 1 allowed, 2 denied (private channels)
	auth          atomic.Pointer[tenant.Auth]
	closed        atomic.Bool

	// guarded by c.mu
	tok    string
	expiry *time.Timer

	pg *chanSubs // postgres_changes bindings, nil when none
}

func (ch *channel) canRead() bool { return !ch.closed.Load() && ch.readBroadcast.Load() }

func (ch *channel) system(status, extension, message string) {
	ch.c.send(encode(ch.c.vsn, ch.joinRef, "", ch.topic, "system", mustJSON(map[string]string{
		"extension": extension, "status": status, "message": message, "channel": ch.key.sub,
	})))
}

// flexBool accepts booleans and "true"/"false" strings, as Realtime does.
type flexBool bool

func (b *flexBool) UnmarshalJSON(data []byte) error {
	switch strings.Trim(string(data), `"`) {
	case "true":
		*b = true
	case "false", "null", "":
		*b = false
	default:
		return errors.New("not a boolean")
	}
	return nil
}

type joinPayload struct {
	Config struct {
		Broadcast struct {
			Ack  flexBool `json:"ack"`
			Self flexBool `json:"self"`
		} `json:"broadcast"`
		Presence struct {
			Key     json.RawMessage `json:"key"`
			Enabled flexBool        `json:"enabled"`
		} `json:"presence"`
		PostgresChanges []json.RawMessage `json:"postgres_changes"`
		Private         flexBool          `json:"private"`
	} `json:"config"`
	AccessToken *string `json:"access_token"`
	UserToken   *string `json:"user_token"`
}

func (c *conn) join(m *inbound) {
	sub, ok := strings.CutPrefix(m.topic, "realtime:")
	if !ok {
		c.replyReason(m, "unmatched topic")
		return
	}
	if sub == "" {
		c.replyReason(m, "TopicNameRequired: You must provide a topic name")
		return
	}
	var jp joinPayload
	if err := json.Unmarshal(m.payload, &jp); err != nil {
		c.replyReason(m, "UnknownErrorOnChannel: invalid join payload")
		return
	}
	// A second join of the same topic replaces the first (Phoenix closes
	// the old channel).
	if old := c.channel(m.topic); old != nil {
		c.closeChannel(old)
		c.send(encode(c.vsn, old.joinRef, old.joinRef, old.topic, "phx_close", json.RawMessage("{}")))
	}
	c.mu.Lock()
	n := len(c.channels)
	c.mu.Unlock()
	if n >= c.s.opt.MaxChannels {
		c.replyReason(m, "ChannelRateLimitReached: Too many channels")
		return
	}
	private := bool(jp.Config.Private)
	if !private && projectSettings(c.project).PrivateOnly {
		c.replyReason(m, "PrivateOnly: This project only allows private channels")
		return
	}
	tok := c.keyTok
	if jp.AccessToken != nil && *jp.AccessToken != "" {
		tok = *jp.AccessToken
	} else if jp.UserToken != nil && *jp.UserToken != "" {
		tok = *jp.UserToken
	}
	if token.IsOpaque(tok) {
		tok = c.keyTok
	}
	claims, terr := verifyToken(c.project, tok, time.Now())
	if terr != nil {
		c.replyReason(m, terr.reason())
		return
	}
	presenceKey := ""
	if k := jp.Config.Presence.Key; len(k) > 0 {
		var s string
		if json.Unmarshal(k, &s) == nil {
			presenceKey = s
		} else if string(k) != "null" {
			presenceKey = strings.Trim(string(k), `"`)
		}
	}
	if presenceKey == "" {
		presenceKey = newUUID()
	}
	ch := &channel{
		c: c, key: topicKey{ref: c.project.Ref, private: private, sub: sub}, topic: m.topic, joinRef: m.joinRef,
		self: bool(jp.Config.Broadcast.Self), ack: bool(jp.Config.Broadcast.Ack), presenceKey: presenceKey, tok: tok,
	}
	if ch.joinRef == "" {
		ch.joinRef = m.ref
	}
	ch.presenceOn.Store(bool(jp.Config.Presence.Enabled))
	ch.auth.Store(&tenant.Auth{Project: c.project, KeyRole: c.key.KeyRole, Claims: claims})

	ctx, cancel := context.WithTimeout(c.ctx, 15*time.Second)
	defer cancel()
	if private {
		rb, rp, err := c.s.authorizeRead(ctx, ch.auth.Load(), sub, ch.presenceOn.Load())
		if err != nil {
			c.log.Error("realtime: private channel check failed", "err", err)
			c.replyReason(m, "UnableToConnectToProject: Realtime was unable to connect to the project database")
			return
		}
		if !rb && !rp {
			c.replyReason(m, "Unauthorized: You do not have permissions to read from this Channel topic: "+sub)
			return
		}
		ch.readBroadcast.Store(rb)
		ch.readPresence.Store(rp)
	} else {
		ch.readBroadcast.Store(true)
		ch.readPresence.Store(true)
	}

	// Subscriptions exist before the ok reply, so no change committed after
	// the client sees SUBSCRIBED is missed.
	c.s.useFeed(c.project)
	echo, sys := c.s.subscribeChanges(ctx, ch, jp.Config.PostgresChanges)
	c.mu.Lock()
	c.channels[m.topic] = ch
	c.scheduleExpiryLocked(ch, claims)
	c.mu.Unlock()
	c.s.m.channels.WithLabelValues(c.project.Ref).Inc()
	response := map[string]any{}
	if echo != nil {
		response["postgres_changes"] = echo
	}
	c.s.hub.join(ch, func(state json.RawMessage) {
		c.reply(m, "ok", response)
		if ch.presenceOn.Load() && ch.readPresence.Load() {
			c.send(encode(c.vsn, ch.joinRef, "", ch.topic, "presence_state", state))
		}
	})
	for _, msg := range sys {
		ch.system(msg.status, "postgres_changes", msg.message)
	}
}

// closeChannel forgets ch everywhere; the caller sends any phx_close.
func (c *conn) closeChannel(ch *channel) {
	if ch.closed.Swap(true) {
		return
	}
	c.mu.Lock()
	if c.channels[ch.topic] == ch {
		delete(c.channels, ch.topic)
	}
	if ch.expiry != nil {
		ch.expiry.Stop()
	}
	c.mu.Unlock()
	c.s.hub.leave(ch)
	c.s.unsubscribeChanges(ch)
	c.s.m.channels.WithLabelValues(c.project.Ref).Dec()
	c.s.releaseFeed(c.project.Ref)
}

// shutdownChannel ends ch from the server side as Supabase does: a system
// error, then phx_close (the client does not rejoin by itself).
func (c *conn) shutdownChannel(ch *channel, message string) {
	if ch.closed.Load() {
		return
	}
	ch.system("error", "system", message)
	c.closeChannel(ch)
	c.send(encode(c.vsn, ch.joinRef, ch.joinRef, ch.topic, "phx_close", json.RawMessage("{}")))
}

// scheduleExpiryLocked arms the token expiry check of ch.
func (c *conn) scheduleExpiryLocked(ch *channel, claims token.Claims) {
	if ch.expiry != nil {
		ch.expiry.Stop()
		ch.expiry = nil
	}
	exp := claims.Exp()
	if exp.IsZero() {
		return
	}
	ch.expiry = time.AfterFunc(time.Until(exp), func() {
		ago := int64(time.Since(exp) / time.Second)
		c.shutdownChannel(ch, "Token has expired "+itoa(ago)+" seconds ago")
	})
}

func (c *conn) refresh(ch *channel, m *inbound) {
	var p struct {
		AccessToken *string `json:"access_token"`
	}
	_ = json.Unmarshal(m.payload, &p)
	if p.AccessToken == nil || *p.AccessToken == "" || token.IsOpaque(*p.AccessToken) {
		return
	}
	tok := *p.AccessToken
	c.mu.Lock()
	same := tok == ch.tok
	c.mu.Unlock()
	if same {
		return
	}
	claims, terr := verifyToken(c.project, tok, time.Now())
	if terr != nil {
		c.shutdownChannel(ch, terr.msg)
		return
	}
	a := &tenant.Auth{Project: c.project, KeyRole: c.key.KeyRole, Claims: claims}
	if ch.key.private {
		ctx, cancel := context.WithTimeout(c.ctx, 15*time.Second)
		rb, rp, err := c.s.authorizeRead(ctx, a, ch.key.sub, ch.presenceOn.Load())
		cancel()
		if err != nil || (!rb && !rp) {
			c.shutdownChannel(ch, "You no longer have permission to read from this Channel topic: "+ch.key.sub)
			return
		}
		ch.readBroadcast.Store(rb)
		ch.readPresence.Store(rp)
		ch.write.Store(0)
	}
	ch.auth.Store(a)
	c.mu.Lock()
	ch.tok = tok
	if !ch.closed.Load() {
		c.scheduleExpiryLocked(ch, claims)
	}
	c.mu.Unlock()
}

func (c *conn) canWrite(ch *channel, extension string) bool {
	if !ch.key.private {
		return true
	}
	switch ch.write.Load() {
	case 1:
		return true
	case 2:
		return false
	}
	ctx, cancel := context.WithTimeout(c.ctx, 15*time.Second)
	defer cancel()
	ok, err := c.s.authorizeWrite(ctx, ch.auth.Load(), ch.key.sub, extension)
	if err != nil {
		c.log.Error("realtime: private write check failed", "err", err)
		return false
	}
	if ok {
		ch.write.Store(1)
	} else {
		ch.write.Store(2)
	}
	return ok
}

func (c *conn) broadcast(ch *channel, m *inbound) {
	p := m.push
	if p == nil {
		return
	}
	if len(p.payload) > c.maxPay {
		if ch.ack {
			c.replyReason(m, "Payload too large")
		}
		return
	}
	if !c.canWrite(ch, "broadcast") {
		return // Supabase drops unauthorised sends silently, without an ack
	}
	if ch.ack {
		c.reply(m, "ok", nil)
	}
	c.s.hub.broadcast(ch.key, ch, &outBroadcast{topic: ch.topic, event: p.event, payload: p.payload, binary: p.binary})
}

func (c *conn) presence(ch *channel, m *inbound) {
	var p struct {
		Event   string          `json:"event"`
		Payload json.RawMessage `json:"payload"`
	}
	if json.Unmarshal(m.payload, &p) != nil {
		c.replyReason(m, "Presence message must be a map")
		return
	}
	switch strings.ToLower(p.Event) {
	case "track":
		if len(p.Payload) == 0 || p.Payload[0] != '{' {
			c.replyReason(m, "Presence track payload must be a map")
			return
		}
		if len(p.Payload) > c.maxPay {
			c.shutdownChannel(ch, "Track message size exceeded")
			return
		}
		if !c.canWrite(ch, "presence") {
			c.replyReason(m, "Unauthorized: You do not have permissions to track presence on this Channel topic: "+ch.key.sub)
			return
		}
		c.reply(m, "ok", nil)
		c.s.hub.track(ch, p.Payload)
	case "untrack":
		c.reply(m, "ok", nil)
		c.s.hub.untrack(ch)
	default:
		c.replyReason(m, "Unknown presence event")
	}
}
