package realtime

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/tenant"
)

type restMessage struct {
	Topic   string          `json:"topic"`
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
	Private flexBool        `json:"private"`
	ID      *string         `json:"id"`
}

func (s *Service) maxPayload(a *tenant.Auth) int {
	n := s.opt.MaxPayload
	if st := projectSettings(a.Project); st.MaxPayloadKB > 0 && st.MaxPayloadKB*1024 < n {
		n = st.MaxPayloadKB * 1024
	}
	return n
}

// restBroadcast is POST /realtime/v1/api/broadcast: a batch of messages,
// answered 202. Private messages the caller may not write are dropped
// silently, as Supabase does.
func (s *Service) restBroadcast(w http.ResponseWriter, r *http.Request) error {
	a := tenant.FromContext(r.Context())
	if a.Claims.Role() == "" {
		return httpx.E(http.StatusUnauthorized, "unauthorized", "Unauthorized")
	}
	var body struct {
		Messages []restMessage `json:"messages"`
	}
	limit := int64(s.maxPayload(a))*4 + 64<<10
	if err := httpx.DecodeJSON(r, &body, limit); err != nil {
		return unprocessable(err)
	}
	if len(body.Messages) == 0 {
		return httpx.E(http.StatusUnprocessableEntity, "invalid", "messages is required")
	}
	for _, m := range body.Messages {
		if m.Topic == "" || m.Event == "" {
			return httpx.E(http.StatusUnprocessableEntity, "invalid", "topic and event are required")
		}
		if len(m.Payload) == 0 || m.Payload[0] != '{' {
			return httpx.E(http.StatusUnprocessableEntity, "invalid", "payload must be an object")
		}
		if len(m.Payload) > s.maxPayload(a) {
			return httpx.E(http.StatusUnprocessableEntity, "too_large", "Payload too large")
		}
	}
	for _, m := range body.Messages {
		var meta json.RawMessage
		if m.ID != nil {
			meta = mustJSON(map[string]string{"id": *m.ID})
		}
		s.sendREST(r, a, strings.TrimPrefix(m.Topic, "realtime:"), m.Event, m.Payload, bool(m.Private), false, meta)
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// restEvent is POST /realtime/v1/api/broadcast/{topic}/events/{event}
// (channel.httpSend): the body is the raw payload, JSON or bytes.
func (s *Service) restEvent(w http.ResponseWriter, r *http.Request) error {
	a := tenant.FromContext(r.Context())
	max := s.maxPayload(a)
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(max)+1))
	if err != nil {
		return unprocessable(err)
	}
	if len(body) > max {
		return httpx.E(http.StatusRequestEntityTooLarge, "too_large", "Payload too large")
	}
	binary := !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
	if !binary && !json.Valid(body) {
		return httpx.E(http.StatusUnprocessableEntity, "invalid", "payload must be JSON")
	}
	if len(body) == 0 && !binary {
		body = []byte("{}")
	}
	private := r.URL.Query().Get("private") == "true"
	s.sendREST(r, a, r.PathValue("topic"), r.PathValue("event"), body, private, binary, nil)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Service) sendREST(r *http.Request, a *tenant.Auth, sub, event string, payload []byte, private, binary bool, meta json.RawMessage) {
	if private {
		ok, err := s.authorizeWrite(r.Context(), a, sub, "broadcast")
		if err != nil {
			s.log.ErrorContext(r.Context(), "realtime: REST write check failed", "err", err, "request_id", httpx.RequestID(r.Context()))
			return
		}
		if !ok {
			return
		}
	}
	s.m.messagesIn.WithLabelValues(a.Project.Ref).Inc()
	s.hub.broadcast(topicKey{ref: a.Project.Ref, private: private, sub: sub}, nil,
		&outBroadcast{topic: "realtime:" + sub, event: event, payload: payload, binary: binary, meta: meta})
}

func unprocessable(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || errors.Is(err, httpx.ErrBodyTooLarge) {
		return httpx.Wrap(err, http.StatusRequestEntityTooLarge, "too_large", "Payload too large")
	}
	return httpx.Wrap(err, http.StatusUnprocessableEntity, "invalid", "invalid body")
}
