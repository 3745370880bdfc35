package realtime

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
)

// topicKey names a channel topic within a project. Public and private
// channels with the same name are different topics (compat §A13.8).
type topicKey struct {
	ref     string
	private bool
	sub     string
}

// topicState is who is joined to one topic and what they track.
type topicState struct {
	subs     map[*channel]struct{}
	presence map[*channel]*presenceMeta
	remote   map[string]*presenceMeta // other nodes' presences by phx_ref
}

func newTopicState() *topicState {
	return &topicState{subs: map[*channel]struct{}{}, presence: map[*channel]*presenceMeta{}, remote: map[string]*presenceMeta{}}
}

type presenceMeta struct {
	key    string
	phxRef string
	meta   json.RawMessage // the tracked object, without phx_ref
	node   string          // the node that tracked it, for other nodes' presences
}

// hub routes broadcasts and presence between the channels of this node.
type hub struct {
	mu     sync.RWMutex
	topics map[topicKey]*topicState
	seq    atomic.Uint64
	nonce  string
	// pub sends an event to the other nodes; nil on a single node. It is
	// called under mu, so events leave in the order they happened.
	pub func(*envelope)
}

func newHub(nonce string) *hub { return &hub{topics: map[topicKey]*topicState{}, nonce: nonce} }

// join adds ch to its topic and, under the same lock, calls then with the
// current presence state, so that nothing fanned out to ch can overtake
// what then enqueues (the join reply and presence_state).
func (h *hub) join(ch *channel, then func(state json.RawMessage)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topics[ch.key]
	if t == nil {
		t = newTopicState()
		h.topics[ch.key] = t
	}
	if len(t.subs) == 0 && h.pub != nil {
		// Presences tracked on other nodes before this node knew the
		// topic (or before it started) are re-sent on request.
		h.pub(&envelope{Kind: kindSync, Ref: ch.key.ref, Private: ch.key.private, Sub: ch.key.sub})
	}
	t.subs[ch] = struct{}{}
	then(presenceState(t))
}

// leave removes ch from its topic; its tracked presence leaves with it.
func (h *hub) leave(ch *channel) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topics[ch.key]
	if t == nil {
		return
	}
	delete(t.subs, ch)
	if old := t.presence[ch]; old != nil {
		delete(t.presence, ch)
		h.diffLocked(t, nil, old)
		h.publishUntrack(ch.key, old)
	}
	if len(t.subs) == 0 && len(t.remote) == 0 {
		delete(h.topics, ch.key)
	}
}

// subscribers returns how many channels are joined to key.
func (h *hub) subscribers(key topicKey) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if t := h.topics[key]; t != nil {
		return len(t.subs)
	}
	return 0
}

// broadcast delivers a message to every channel joined to key except from
// (unless it asked for self), on this node and the others. It never
// blocks: slow connections are dropped by their own queue. It returns how
// many channels of this node got it.
func (h *hub) broadcast(key topicKey, from *channel, msg *outBroadcast) int {
	n := h.deliver(key, from, msg)
	if h.pub != nil {
		h.pub(&envelope{Kind: kindBroadcast, Ref: key.ref, Private: key.private, Sub: key.sub,
			Event: msg.event, Payload: msg.payload, Binary: msg.binary, Meta: msg.meta})
	}
	return n
}

// deliver is broadcast on this node only.
func (h *hub) deliver(key topicKey, from *channel, msg *outBroadcast) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	t := h.topics[key]
	if t == nil {
		return 0
	}
	n := 0
	for ch := range t.subs {
		if ch == from && !ch.self {
			continue
		}
		if !ch.canRead() {
			continue
		}
		if f, ok := msg.frame(ch.c.vsn); ok {
			ch.c.send(f)
			n++
		}
	}
	return n
}

// track sets ch's presence meta; an identical re-track is a no-op.
func (h *hub) track(ch *channel, meta json.RawMessage) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topics[ch.key]
	if t == nil {
		return
	}
	if !ch.presenceOn.Swap(true) {
		// Presence was off at join, so the client has no state yet and
		// would buffer diffs until it gets one.
		ch.c.send(encode(ch.c.vsn, ch.joinRef, "", ch.topic, "presence_state", presenceState(t)))
	}
	old := t.presence[ch]
	if old != nil && bytes.Equal(old.meta, meta) {
		return
	}
	nm := &presenceMeta{key: ch.presenceKey, phxRef: h.nonce + strconv.FormatUint(h.seq.Add(1), 36), meta: meta}
	t.presence[ch] = nm
	h.diffLocked(t, nm, old)
	if h.pub != nil {
		e := &envelope{Kind: kindTrack, Ref: ch.key.ref, Private: ch.key.private, Sub: ch.key.sub, Key: nm.key, PhxRef: nm.phxRef, Meta: nm.meta}
		if old != nil {
			e.Prev = old.phxRef
		}
		h.pub(e)
	}
}

func (h *hub) publishUntrack(key topicKey, old *presenceMeta) {
	if h.pub != nil {
		h.pub(&envelope{Kind: kindUntrack, Ref: key.ref, Private: key.private, Sub: key.sub, Key: old.key, PhxRef: old.phxRef})
	}
}

// remoteTrack applies another node's track; a presence already known
// (re-sent for a sync) is left alone.
func (h *hub) remoteTrack(e *envelope) {
	h.mu.Lock()
	defer h.mu.Unlock()
	key := e.topic()
	t := h.topics[key]
	if t == nil {
		t = newTopicState()
		h.topics[key] = t
	}
	if t.remote[e.PhxRef] != nil {
		return
	}
	old := t.remote[e.Prev]
	if old != nil {
		delete(t.remote, e.Prev)
	}
	nm := &presenceMeta{key: e.Key, phxRef: e.PhxRef, meta: e.Meta, node: e.Node}
	t.remote[e.PhxRef] = nm
	h.diffLocked(t, nm, old)
}

func (h *hub) remoteUntrack(e *envelope) {
	h.mu.Lock()
	defer h.mu.Unlock()
	key := e.topic()
	t := h.topics[key]
	if t == nil {
		return
	}
	if old := t.remote[e.PhxRef]; old != nil {
		delete(t.remote, e.PhxRef)
		h.diffLocked(t, nil, old)
	}
	if len(t.subs) == 0 && len(t.remote) == 0 {
		delete(h.topics, key)
	}
}

// resend publishes this node's presences on key again, for a node that
// asked for them.
func (h *hub) resend(key topicKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.topics[key]; t != nil {
		h.resendLocked(key, t)
	}
}

// resendAll publishes all of this node's presences again, for a node that
// did not hear from this one for a while.
func (h *hub) resendAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for key, t := range h.topics {
		h.resendLocked(key, t)
	}
}

func (h *hub) resendLocked(key topicKey, t *topicState) {
	if h.pub == nil {
		return
	}
	for _, m := range t.presence {
		h.pub(&envelope{Kind: kindTrack, Ref: key.ref, Private: key.private, Sub: key.sub, Key: m.key, PhxRef: m.phxRef, Meta: m.meta})
	}
}

// dropNode removes the presences of a node that left or went silent,
// telling this node's subscribers as leaves.
func (h *hub) dropNode(node string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for key, t := range h.topics {
		for ref, m := range t.remote {
			if m.node == node {
				delete(t.remote, ref)
				h.diffLocked(t, nil, m)
			}
		}
		if len(t.subs) == 0 && len(t.remote) == 0 {
			delete(h.topics, key)
		}
	}
}

func (h *hub) untrack(ch *channel) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.topics[ch.key]
	if t == nil {
		return
	}
	if old := t.presence[ch]; old != nil {
		delete(t.presence, ch)
		h.diffLocked(t, nil, old)
		h.publishUntrack(ch.key, old)
	}
}

// diffLocked sends a presence_diff for a join (and/or leave) to every
// channel of t with presence enabled.
func (h *hub) diffLocked(t *topicState, join, leave *presenceMeta) {
	joins, leaves := map[string]any{}, map[string]any{}
	if join != nil {
		extra := map[string]any{}
		if leave != nil {
			extra["phx_ref_prev"] = leave.phxRef
		}
		joins[join.key] = map[string]any{"metas": []json.RawMessage{metaJSON(join, extra)}}
	}
	if leave != nil {
		leaves[leave.key] = map[string]any{"metas": []json.RawMessage{metaJSON(leave, nil)}}
	}
	payload := mustJSON(map[string]any{"joins": joins, "leaves": leaves})
	var frames [3]frame
	for ch := range t.subs {
		if !ch.presenceOn.Load() || !ch.readPresence.Load() || ch.closed.Load() {
			continue
		}
		v := ch.c.vsn
		if frames[v].data == nil {
			frames[v] = encode(v, "", "", ch.topic, "presence_diff", payload)
		}
		ch.c.send(frames[v])
	}
}

// presenceState is the presence_state payload: key → {metas: [...]}.
func presenceState(t *topicState) json.RawMessage {
	state := map[string]map[string][]json.RawMessage{}
	add := func(m *presenceMeta) {
		e := state[m.key]
		if e == nil {
			e = map[string][]json.RawMessage{}
			state[m.key] = e
		}
		e["metas"] = append(e["metas"], metaJSON(m, nil))
	}
	for _, m := range t.presence {
		add(m)
	}
	for _, m := range t.remote {
		add(m)
	}
	return mustJSON(state)
}

// metaJSON is the tracked object with phx_ref (and extra keys) merged in.
func metaJSON(m *presenceMeta, extra map[string]any) json.RawMessage {
	obj := map[string]json.RawMessage{}
	_ = json.Unmarshal(m.meta, &obj)
	obj["phx_ref"] = mustJSON(m.phxRef)
	for k, v := range extra {
		obj[k] = mustJSON(v)
	}
	return mustJSON(obj)
}

// outBroadcast is one broadcast on its way to many connections, encoded
// at most once per serializer.
type outBroadcast struct {
	topic   string // "realtime:<sub>"
	event   string
	payload []byte // JSON text, or raw bytes when binary
	binary  bool
	meta    json.RawMessage // optional, e.g. {"id": …} for database messages

	once [3]sync.Once
	enc  [3]frame
	ok   [3]bool
}

func (b *outBroadcast) frame(vsn int) (frame, bool) {
	b.once[vsn].Do(func() {
		if b.binary {
			// Raw bytes only travel in kind-4 frames; 1.0.0 cannot carry them.
			if vsn == vsn2 {
				b.enc[vsn], b.ok[vsn] = encodeUserBroadcast(b.topic, b.event, b.payload, true)
			}
			return
		}
		p := map[string]any{"type": "broadcast", "event": b.event, "payload": json.RawMessage(b.payload)}
		if len(b.meta) > 0 {
			p["meta"] = b.meta
		}
		b.enc[vsn], b.ok[vsn] = encode(vsn, "", "", b.topic, "broadcast", mustJSON(p)), true
	})
	return b.enc[vsn], b.ok[vsn]
}
