package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	pgerr "github.com/madbase/madbase/internal/pg"
	"github.com/madbase/madbase/internal/realtime/pgoutput"
)

// Multi-node operation. With Options.Bus every node publishes, on one bus
// topic, what its own clients broadcast and track, and applies what the
// other nodes publish to its own channels; messages carry the sending
// node's id, so a node ignores its own. postgres_changes are streamed by
// one node per project, the leader, which holds a session advisory lock on
// the tenant database on a dedicated connection: it publishes every
// decoded transaction and each node (the leader included) applies its own
// subscribers' bindings, filters and RLS checks. The other nodes with
// subscribers (followers) try the lock every LeaderPoll, so when the
// leader dies (its connection, and with it the lock, goes away) one of
// them takes over and resumes the slot from the persisted position. A
// follower also tells the leader, every LeaderPoll, that it still has
// subscribers, which keeps the leader's stream running after its own
// clients left.
//
// Presence is replicated: every node holds the presences tracked on all
// nodes. A node publishes a heartbeat every NodeTimeout/4 and "gone" when
// it closes; the others drop the presences of a node that said gone or was
// silent for NodeTimeout, and ask a node they had dropped (or never heard)
// to publish its presences again, so a partition heals by itself.

// busTopic is the one bus topic of the realtime surface.
const busTopic = "realtime"

// wantTTL is how long a follower's "still subscribed" keeps the leader's
// stream running.
const wantTTL = 3 * time.Second

// Envelope kinds.
const (
	kindBroadcast = "b"
	kindTrack     = "t"
	kindUntrack   = "u"
	kindSync      = "q" // a node asks the others for a topic's presences
	kindWant      = "w" // a follower has postgres_changes subscribers
	kindChanges   = "c" // a transaction decoded by the leader
	kindAlive     = "a" // heartbeat
	kindGone      = "g" // the node is closing
	kindResend    = "r" // To: publish all your presences again
)

// envelope is one message between nodes.
type envelope struct {
	Node    string          `json:"n"`
	Kind    string          `json:"k"`
	Ref     string          `json:"r"`
	Private bool            `json:"p,omitempty"`
	Sub     string          `json:"s,omitempty"`
	Event   string          `json:"e,omitempty"`
	Payload []byte          `json:"d,omitempty"`
	Binary  bool            `json:"b,omitempty"`
	Meta    json.RawMessage `json:"m,omitempty"`
	Key     string          `json:"y,omitempty"` // presence key
	PhxRef  string          `json:"x,omitempty"`
	Prev    string          `json:"o,omitempty"` // replaced presence's phx_ref
	Tx      *wireTx         `json:"tx,omitempty"`
	To      string          `json:"to,omitempty"` // addressed node, for kindResend
}

func (e *envelope) topic() topicKey { return topicKey{ref: e.Ref, private: e.Private, sub: e.Sub} }

// wireTx is a committed transaction's row changes as the leader sends them.
type wireTx struct {
	XID        uint32               `json:"x"`
	CommitTime time.Time            `json:"t"`
	EndLSN     uint64               `json:"l"`
	Rels       []*pgoutput.Relation `json:"r"`
	Changes    []wireChange         `json:"c"`
}

type wireChange struct {
	Kind    pgoutput.ChangeKind `json:"k"`
	Rel     int                 `json:"r"`
	New     []pgoutput.Field    `json:"n,omitempty"`
	OldKind byte                `json:"ok,omitempty"`
	Old     []pgoutput.Field    `json:"o,omitempty"`
}

func toWire(tx *pgoutput.Tx) *wireTx {
	w := &wireTx{XID: tx.XID, CommitTime: tx.CommitTime, EndLSN: uint64(tx.EndLSN)}
	idx := map[*pgoutput.Relation]int{}
	for i := range tx.Changes {
		c := &tx.Changes[i]
		switch c.Kind {
		case pgoutput.ChangeInsert, pgoutput.ChangeUpdate, pgoutput.ChangeDelete:
		default:
			continue
		}
		r, ok := idx[c.Relation]
		if !ok {
			r = len(w.Rels)
			idx[c.Relation] = r
			w.Rels = append(w.Rels, c.Relation)
		}
		w.Changes = append(w.Changes, wireChange{Kind: c.Kind, Rel: r, New: c.New, OldKind: c.OldKind, Old: c.Old})
	}
	return w
}

// fromWire rebuilds a transaction, reusing the feed's relation objects
// while their definition is unchanged (table metadata is cached per
// relation object).
func (f *feed) fromWire(w *wireTx) (*pgoutput.Tx, error) {
	if f.rels == nil {
		f.rels = map[uint32]*pgoutput.Relation{}
		f.relDefs = map[uint32]string{}
	}
	rels := make([]*pgoutput.Relation, len(w.Rels))
	for i, r := range w.Rels {
		if r == nil {
			return nil, fmt.Errorf("realtime: bus transaction without relation %d", i)
		}
		def := string(mustJSON(r))
		if old := f.rels[r.ID]; old != nil && f.relDefs[r.ID] == def {
			r = old
		} else {
			f.rels[r.ID], f.relDefs[r.ID] = r, def
		}
		rels[i] = r
	}
	tx := &pgoutput.Tx{XID: w.XID, CommitTime: w.CommitTime, EndLSN: pgoutput.LSN(w.EndLSN)}
	for _, c := range w.Changes {
		if c.Rel < 0 || c.Rel >= len(rels) {
			return nil, fmt.Errorf("realtime: bus change of unknown relation %d", c.Rel)
		}
		tx.Changes = append(tx.Changes, pgoutput.Change{Kind: c.Kind, Relation: rels[c.Rel], New: c.New, OldKind: c.OldKind, Old: c.Old})
	}
	return tx, nil
}

// publish queues e for the other nodes. The queue keeps the order in
// which the hub produced events; when it is full (the bus is down or too
// slow) the event is lost for the other nodes and logged.
func (s *Service) publish(e *envelope) {
	if s.bus == nil {
		return
	}
	e.Node = s.hub.nonce
	b := mustJSON(e)
	select {
	case s.outbox <- b:
	default:
		s.m.busDropped.Inc()
		s.log.Warn("realtime: bus outbox full; event not sent to other nodes", "project", e.Ref, "kind", e.Kind)
	}
}

// sender publishes the outbox in order, and a heartbeat. A nil entry is a
// flush marker: sender closes s.flushed when it reaches it.
func (s *Service) sender() {
	defer s.wg.Done()
	beat := time.NewTicker(s.opt.NodeTimeout / 4)
	defer beat.Stop()
	for {
		select {
		case <-s.root.Done():
			return
		case <-beat.C:
			s.publish(&envelope{Kind: kindAlive})
		case b := <-s.outbox:
			if b == nil {
				close(s.flushed)
				continue
			}
			ctx, cancel := context.WithTimeout(s.root, 5*time.Second)
			if err := s.bus.Publish(ctx, busTopic, b); err != nil && s.root.Err() == nil {
				s.log.Warn("realtime: publishing to the bus", "err", err)
			}
			cancel()
		}
	}
}

// leaveCluster tells the other nodes that this one is closing, and waits
// (briefly) until what its closing connections published has been sent.
func (s *Service) leaveCluster() {
	s.publish(&envelope{Kind: kindGone})
	select {
	case s.outbox <- nil:
	default:
		return
	}
	select {
	case <-s.flushed:
	case <-time.After(2 * time.Second):
	}
}

// heard notes a message from node and reports whether the node was
// unknown (new, or dropped as silent).
func (s *Service) heard(node string) bool {
	s.peersMu.Lock()
	defer s.peersMu.Unlock()
	_, known := s.peers[node]
	s.peers[node] = time.Now()
	return !known
}

// dropPeer forgets node and its presences.
func (s *Service) dropPeer(node string) {
	s.peersMu.Lock()
	delete(s.peers, node)
	s.peersMu.Unlock()
	s.hub.dropNode(node)
}

// reaper drops the nodes silent for NodeTimeout.
func (s *Service) reaper() {
	defer s.wg.Done()
	t := time.NewTicker(s.opt.NodeTimeout / 4)
	defer t.Stop()
	for {
		select {
		case <-s.root.Done():
			return
		case <-t.C:
		}
		var silent []string
		s.peersMu.Lock()
		for node, at := range s.peers {
			if time.Since(at) > s.opt.NodeTimeout {
				silent = append(silent, node)
			}
		}
		s.peersMu.Unlock()
		for _, node := range silent {
			s.log.Warn("realtime: node silent; dropping its presences", "node", node)
			s.dropPeer(node)
		}
	}
}

// subscribe opens the bus subscription (first from New, so that the node
// hears the others before it serves anyone) and keeps it open.
func (s *Service) subscribeBus(ctx context.Context) (<-chan []byte, error) {
	msgs, _, err := s.bus.Subscribe(ctx, busTopic)
	return msgs, err
}

func (s *Service) receiver(msgs <-chan []byte) {
	defer s.wg.Done()
	for {
		for msgs == nil {
			var err error
			msgs, err = s.subscribeBus(s.root)
			if err == nil {
				break
			}
			if s.root.Err() != nil {
				return
			}
			s.log.Warn("realtime: subscribing to the bus; retrying", "err", err)
			select {
			case <-s.root.Done():
				return
			case <-time.After(time.Second):
			}
		}
		for b := range msgs {
			var e envelope
			if err := json.Unmarshal(b, &e); err != nil {
				s.log.Warn("realtime: undecodable bus message", "err", err)
				continue
			}
			if e.Node == s.hub.nonce {
				continue
			}
			if e.Kind == kindGone {
				s.dropPeer(e.Node)
				continue
			}
			if s.heard(e.Node) {
				s.publish(&envelope{Kind: kindResend, To: e.Node})
			}
			s.apply(&e)
		}
		msgs = nil
		if s.root.Err() != nil {
			return
		}
	}
}

// apply acts on another node's event.
func (s *Service) apply(e *envelope) {
	switch e.Kind {
	case kindBroadcast:
		s.hub.deliver(e.topic(), nil, &outBroadcast{topic: "realtime:" + e.Sub, event: e.Event, payload: e.Payload, binary: e.Binary, meta: e.Meta})
	case kindTrack:
		s.hub.remoteTrack(e)
	case kindUntrack:
		s.hub.remoteUntrack(e)
	case kindSync:
		s.hub.resend(e.topic())
	case kindResend:
		if e.To == s.hub.nonce {
			s.hub.resendAll()
		}
	case kindWant:
		if f := s.existingFeed(e.Ref); f != nil {
			f.remoteWant.Store(time.Now().UnixNano())
		}
	case kindChanges:
		f := s.existingFeed(e.Ref)
		if f == nil || f.leader.Load() || e.Tx == nil {
			return
		}
		f.hmu.Lock()
		defer f.hmu.Unlock()
		tx, err := f.fromWire(e.Tx)
		if err == nil {
			err = f.handleTxs(s.root, []*pgoutput.Tx{tx}, true)
		}
		if err != nil && s.root.Err() == nil {
			s.log.Warn("realtime: delivering changes from the leader", "project", e.Ref, "err", err)
		}
	}
}

func (s *Service) existingFeed(ref string) *feed {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.feeds[ref]
}

// cycle is one run of the feed: without a bus it streams; with one it
// streams only while it holds the project's leader lock, and otherwise
// follows the leader until the lock is free or the feed is idle.
func (f *feed) cycle(ctx context.Context) error {
	if f.s.bus == nil {
		return f.run(ctx)
	}
	lock, err := f.lead(ctx)
	if err != nil {
		return err
	}
	if lock == nil {
		if lock, err = f.follow(ctx); lock == nil {
			return err
		}
	}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		// Losing the lock's connection means another node may lead now:
		// stop streaming at once so changes are not sent twice.
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
				if err := lock.Ping(lctx); err != nil {
					if lctx.Err() == nil {
						f.s.log.Warn("realtime: lost the leader lock's connection", "project", f.ref, "err", err)
					}
					cancel()
					return
				}
			}
		}
	}()
	f.leader.Store(true)
	f.s.log.Debug("realtime: leading the project's stream", "project", f.ref)
	err = f.run(lctx)
	f.leader.Store(false)
	cancel()
	<-done
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	_ = lock.Close(cctx)
	ccancel()
	if err == nil && lctx.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("realtime: leader lock lost")
	}
	return err
}

// lead tries the project's leader lock; it returns the connection holding
// it, or nil when another node holds it.
func (f *feed) lead(ctx context.Context) (*pgx.Conn, error) {
	_, _, p := f.state()
	conn, err := pgx.Connect(ctx, p.DBURL)
	if err != nil {
		return nil, fmt.Errorf("realtime: leader lock connection: %w", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `select pg_try_advisory_lock(hashtext('madbase_realtime_' || $1))`, f.ref).Scan(&ok); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("realtime: leader lock: %w", err)
	}
	if !ok {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, nil
	}
	return conn, nil
}

// follow serves the feed's subscribers from the leader's transactions
// until the feed is idle (errIdle), ctx ends, or the lock becomes free
// (then it returns the connection holding it).
func (f *feed) follow(ctx context.Context) (*pgx.Conn, error) {
	_, _, p := f.state()
	pool, err := f.s.tenants.Pool(ctx, p)
	if err != nil {
		return nil, err
	}
	// The slot exists once a leader ever streamed; creating it here too
	// makes "ready" mean the same as on the leader: later changes will be
	// streamed by whoever leads.
	if _, err := pool.Exec(ctx, `select pg_create_logical_replication_slot($1, 'pgoutput')
		where not exists (select 1 from pg_replication_slots where slot_name = $1)`, slotName(p.Ref)); err != nil && !isDuplicate(err) {
		return nil, fmt.Errorf("realtime: creating slot: %w", err)
	}
	f.setReady(true)
	defer f.setReady(false)
	f.s.log.Debug("realtime: following the project's leader", "project", f.ref)
	tick := time.NewTicker(f.s.opt.LeaderPoll)
	defer tick.Stop()
	for {
		users, idleFor, _ := f.state()
		if users <= 0 && idleFor >= f.s.opt.WarmFor {
			return nil, errIdle
		}
		f.s.publish(&envelope{Kind: kindWant, Ref: f.ref})
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		case <-f.wake:
		}
		lock, err := f.lead(ctx)
		if err != nil || lock != nil {
			return lock, err
		}
	}
}

func isDuplicate(err error) bool { return pgerr.Code(err) == "42710" }
