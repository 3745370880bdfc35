package realtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Serializer versions negotiated by the vsn query parameter.
const (
	vsn1 = 1 // JSON objects {topic, event, payload, ref, join_ref}
	vsn2 = 2 // JSON arrays [join_ref, ref, topic, event, payload] + binary broadcasts
)

// Binary frame kinds of the 2.0.0 serializer that realtime-js speaks.
const (
	kindUserBroadcastPush = 3 // client → server
	kindUserBroadcast     = 4 // server → client
)

var errFrame = errors.New("realtime: malformed frame")

// inbound is one decoded client message. Refs are "" when null.
type inbound struct {
	joinRef, ref, topic, event string
	payload                    json.RawMessage
	// push is set for broadcast pushes (binary kind 3, or a JSON push whose
	// event is "broadcast"); payload is then unused.
	push *broadcastPush
}

// broadcastPush is a client's channel.send({type:'broadcast', ...}).
type broadcastPush struct {
	event   string
	payload []byte // JSON text, or raw bytes when binary
	binary  bool
}

// decodeText decodes a text frame of serializer vsn.
func decodeText(vsn int, data []byte) (*inbound, error) {
	m := &inbound{}
	if vsn == vsn1 {
		var o struct {
			Topic   string          `json:"topic"`
			Event   string          `json:"event"`
			Payload json.RawMessage `json:"payload"`
			Ref     json.RawMessage `json:"ref"`
			JoinRef json.RawMessage `json:"join_ref"`
		}
		if err := json.Unmarshal(data, &o); err != nil {
			return nil, fmt.Errorf("%w: %v", errFrame, err)
		}
		var err error
		if m.ref, err = refString(o.Ref); err != nil {
			return nil, err
		}
		if m.joinRef, err = refString(o.JoinRef); err != nil {
			return nil, err
		}
		m.topic, m.event, m.payload = o.Topic, o.Event, o.Payload
	} else {
		var a []json.RawMessage
		if err := json.Unmarshal(data, &a); err != nil || len(a) != 5 {
			return nil, fmt.Errorf("%w: want a 5-element array", errFrame)
		}
		var err error
		if m.joinRef, err = refString(a[0]); err != nil {
			return nil, err
		}
		if m.ref, err = refString(a[1]); err != nil {
			return nil, err
		}
		if json.Unmarshal(a[2], &m.topic) != nil || json.Unmarshal(a[3], &m.event) != nil {
			return nil, fmt.Errorf("%w: topic and event must be strings", errFrame)
		}
		m.payload = a[4]
	}
	if len(m.payload) == 0 || bytes.Equal(m.payload, []byte("null")) {
		m.payload = json.RawMessage("{}")
	}
	if m.event == "broadcast" {
		var b struct {
			Event   *string         `json:"event"`
			Payload json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(m.payload, &b) == nil && b.Event != nil {
			p := []byte(b.Payload)
			if len(p) == 0 {
				p = []byte("{}")
			}
			m.push = &broadcastPush{event: *b.Event, payload: p}
		}
	}
	return m, nil
}

// refString accepts a JSON string, number or null as a ref.
func refString(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), nil
	}
	return "", fmt.Errorf("%w: ref must be a string or null", errFrame)
}

// decodeBinary decodes a 2.0.0 binary frame; only kind 3 is defined for
// clients.
func decodeBinary(data []byte) (*inbound, error) {
	if len(data) < 7 || data[0] != kindUserBroadcastPush {
		return nil, fmt.Errorf("%w: unknown binary frame", errFrame)
	}
	lens := data[1:6]
	enc := data[6]
	if enc > 1 {
		return nil, fmt.Errorf("%w: payload encoding %d", errFrame, enc)
	}
	rest := data[7:]
	var parts [5][]byte
	for i, n := range lens {
		if len(rest) < int(n) {
			return nil, fmt.Errorf("%w: truncated binary frame", errFrame)
		}
		parts[i], rest = rest[:n], rest[n:]
	}
	m := &inbound{
		joinRef: string(parts[0]),
		ref:     string(parts[1]),
		topic:   string(parts[2]),
		event:   "broadcast",
		payload: json.RawMessage("{}"),
		push:    &broadcastPush{event: string(parts[3]), payload: rest, binary: enc == 0},
	}
	if !m.push.binary && !json.Valid(rest) {
		return nil, fmt.Errorf("%w: broadcast payload is not JSON", errFrame)
	}
	if len(parts[4]) > 0 && !json.Valid(parts[4]) {
		return nil, fmt.Errorf("%w: broadcast metadata is not JSON", errFrame)
	}
	return m, nil
}

// frame is one encoded outbound WebSocket message.
type frame struct {
	binary bool
	data   []byte
}

// encode builds a text frame for serializer vsn. payload must be valid JSON.
// The 1.0.0 serializer never carries join_ref.
func encode(vsn int, joinRef, ref, topic, event string, payload json.RawMessage) frame {
	b := make([]byte, 0, len(payload)+len(topic)+len(event)+48)
	if vsn == vsn1 {
		b = append(b, `{"topic":`...)
		b = appendJSONString(b, topic)
		b = append(b, `,"event":`...)
		b = appendJSONString(b, event)
		b = append(b, `,"payload":`...)
		b = append(b, payload...)
		b = append(b, `,"ref":`...)
		b = appendRef(b, ref)
		b = append(b, '}')
		return frame{data: b}
	}
	b = append(b, '[')
	b = appendRef(b, joinRef)
	b = append(b, ',')
	b = appendRef(b, ref)
	b = append(b, ',')
	b = appendJSONString(b, topic)
	b = append(b, ',')
	b = appendJSONString(b, event)
	b = append(b, ',')
	b = append(b, payload...)
	b = append(b, ']')
	return frame{data: b}
}

func appendRef(b []byte, ref string) []byte {
	if ref == "" {
		return append(b, "null"...)
	}
	return appendJSONString(b, ref)
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// encodeUserBroadcast builds a kind-4 binary frame; it reports false when a
// length does not fit the one-byte header fields.
func encodeUserBroadcast(topic, event string, payload []byte, binary bool) (frame, bool) {
	if len(topic) > 255 || len(event) > 255 {
		return frame{}, false
	}
	b := make([]byte, 0, 5+len(topic)+len(event)+len(payload))
	enc := byte(1)
	if binary {
		enc = 0
	}
	b = append(b, kindUserBroadcast, byte(len(topic)), byte(len(event)), 0, enc)
	b = append(b, topic...)
	b = append(b, event...)
	b = append(b, payload...)
	return frame{binary: true, data: b}, true
}

// mustJSON marshals values the server builds itself.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("realtime: marshal %T: %v", v, err))
	}
	return b
}
