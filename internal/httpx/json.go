package httpx

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// WriteJSON writes v as the whole response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Our own values always marshal; this is a programming error.
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal server error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// ErrBodyTooLarge is returned by DecodeJSON when the body is over the limit.
var ErrBodyTooLarge = errors.New("request body too large")

// DecodeJSON reads at most limit bytes of JSON into v. Unknown fields are
// allowed: Supabase clients send keys servers ignore.
func DecodeJSON(r *http.Request, v any, limit int64) error {
	body := io.LimitReader(r.Body, limit+1)
	data, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return ErrBodyTooLarge
		}
		return err
	}
	if int64(len(data)) > limit {
		return ErrBodyTooLarge
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return io.EOF
	}
	return json.Unmarshal(data, v)
}
