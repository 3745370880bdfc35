package storage

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/storage/blob"
	"github.com/madbase/madbase/internal/tenant"
)

// object is a storage.objects row.
type object struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	BucketID       string          `json:"bucket_id"`
	Owner          *string         `json:"owner"`
	OwnerID        *string         `json:"owner_id"`
	Version        string          `json:"version"`
	Metadata       map[string]any  `json:"metadata"`
	UserMetadata   json.RawMessage `json:"user_metadata"`
	CreatedAt      *jsTime         `json:"created_at"`
	UpdatedAt      *jsTime         `json:"updated_at"`
	LastAccessedAt *jsTime         `json:"last_accessed_at"`
}

const objectCols = `id::text, name, bucket_id, owner::text, owner_id, coalesce(version, ''), metadata, user_metadata,
	created_at, updated_at, last_accessed_at`

func scanObject(row pgx.Row) (*object, error) {
	var o object
	var created, updated, accessed *time.Time
	var um []byte
	if err := row.Scan(&o.ID, &o.Name, &o.BucketID, &o.Owner, &o.OwnerID, &o.Version, &o.Metadata, &um,
		&created, &updated, &accessed); err != nil {
		return nil, err
	}
	if len(um) == 0 {
		um = []byte("{}")
	}
	o.UserMetadata = um
	o.CreatedAt, o.UpdatedAt, o.LastAccessedAt = jsts(created), jsts(updated), jsts(accessed)
	return &o, nil
}

func (o *object) size() int64 {
	switch v := o.Metadata["size"].(type) {
	case float64:
		return int64(v)
	case json.Number:
		n, _ := v.Int64()
		return n
	}
	return 0
}

func (o *object) meta(k string) string {
	s, _ := o.Metadata[k].(string)
	return s
}

func (o *object) lastModified() time.Time {
	if t, err := time.Parse(time.RFC3339Nano, o.meta("lastModified")); err == nil {
		return t
	}
	if o.UpdatedAt != nil {
		return time.Time(*o.UpdatedAt)
	}
	return time.Time{}
}

// findObject reads one row, as the caller (RLS decides) or as the system.
func (c *call) findObject(ctx context.Context, bucketID, name string, sys bool) (*object, error) {
	var o *object
	fn := func(ctx context.Context, q tenant.Querier) error {
		var err error
		o, err = scanObject(q.QueryRow(ctx, `select `+objectCols+` from storage.objects where bucket_id = $1 and name = $2`, bucketID, name))
		return err
	}
	var err error
	if sys {
		err = c.sysTx(ctx, tenant.TxOptions{ReadOnly: true}, fn)
	} else {
		err = c.tx(ctx, tenant.TxOptions{ReadOnly: true}, fn)
	}
	if tenant.IsNoRows(err) {
		return nil, errNoSuchKey()
	}
	if err != nil {
		return nil, dbErr(err, nil)
	}
	return o, nil
}

type readMode int

const (
	modeAuth readMode = iota
	modePublic
)

// readable finds an object for a read: public buckets are read as the
// system, private ones under RLS.
func (c *call) readable(ctx context.Context, bucketID, name string, mode readMode) (*object, error) {
	b, err := c.lookupBucket(ctx, bucketID)
	if err != nil {
		return nil, err
	}
	switch {
	case b.Public:
		return c.findObject(ctx, bucketID, name, true)
	case mode == modePublic:
		return nil, errNoSuchBucket()
	case c.r.Header.Get("Authorization") == "":
		// Supabase does not reveal private buckets to requests without a token.
		return nil, errNoSuchBucket()
	}
	return c.findObject(ctx, bucketID, name, false)
}

func (c *call) download(w http.ResponseWriter, bucketID, name string, mode readMode) error {
	o, err := c.readable(c.r.Context(), bucketID, name, mode)
	if err != nil {
		return err
	}
	return c.serve(w, o, nil)
}

// serve writes an object with Supabase's download headers, honouring
// conditional and Range requests. expires replaces Cache-Control for
// signed URLs.
func (c *call) serve(w http.ResponseWriter, o *object, expires *time.Time) error {
	r := c.r
	size := o.size()
	etag := o.meta("eTag")
	lm := o.lastModified()
	h := w.Header()
	if etag != "" {
		h.Set("ETag", etag)
	}
	if !lm.IsZero() {
		h.Set("Last-Modified", lm.UTC().Format(http.TimeFormat))
	}
	if expires != nil {
		h.Set("Expires", expires.UTC().Format(http.TimeFormat))
	} else if cc := o.meta("cacheControl"); cc != "" {
		h.Set("Cache-Control", cc)
	}
	h.Set("Accept-Ranges", "bytes")
	h.Set("X-Robots-Tag", "none")
	if q := r.URL.Query(); q.Has("download") {
		h.Set("Content-Disposition", disposition(q.Get("download")))
	}
	if notModified(r, etag, lm) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	ct := o.meta("mimetype")
	if ct == "" {
		ct = blob.DefaultContentType
	}
	rng, err := parseRange(r.Header.Get("Range"))
	if err != nil {
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		return errRange()
	}
	status, off, n := http.StatusOK, int64(0), size
	if rng != nil {
		if off, n, err = rng.Resolve(size); err != nil {
			h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			return errRange().With(err)
		}
		status = http.StatusPartialContent
		h.Set("Content-Range", "bytes "+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(off+n-1, 10)+"/"+strconv.FormatInt(size, 10))
	}
	var body io.ReadCloser
	if r.Method != http.MethodHead {
		var getRng *blob.Range
		if rng != nil {
			getRng = &blob.Range{Start: off, End: off + n - 1}
		}
		body, _, err = c.b.store.Get(r.Context(), c.b.blobKey(o.Version), getRng)
		if errors.Is(err, blob.ErrNotFound) {
			return serr(404, "NoSuchKey", "Not found", "The resource was not found").With(err)
		}
		if err != nil {
			return err
		}
		defer body.Close()
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	w.WriteHeader(status)
	if body == nil {
		return nil
	}
	buf := make([]byte, 256<<10)
	if _, err := io.CopyBuffer(onlyWriter{w}, body, buf); err != nil {
		// The status is sent; all that can be done is to stop.
		c.s.log.DebugContext(r.Context(), "storage: download interrupted", "request_id", httpx.RequestID(r.Context()), "err", err)
	}
	return nil
}

// onlyWriter hides ReadFrom so CopyBuffer uses our buffer size.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }

func disposition(name string) string {
	if name == "" {
		return "attachment;"
	}
	enc := strings.ReplaceAll(url.QueryEscape(name), "+", "%20")
	return "attachment; filename=" + enc + "; filename*=UTF-8''" + enc
}

func notModified(r *http.Request, etag string, lm time.Time) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if etag == "" {
			return false
		}
		for _, t := range strings.Split(inm, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == "*" || t == strings.TrimPrefix(etag, "W/") {
				return true
			}
		}
		return false
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" && !lm.IsZero() {
		t, err := http.ParseTime(ims)
		return err == nil && !lm.Truncate(time.Second).After(t)
	}
	return false
}

// parseRange reads a single-range "bytes=" header; other units and
// multiple ranges are ignored (the whole object is served), as servers may.
func parseRange(v string) (*blob.Range, error) {
	if v == "" {
		return nil, nil
	}
	spec, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return nil, nil
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return nil, blob.ErrInvalidRange
	}
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return nil, blob.ErrInvalidRange
		}
		return &blob.Range{Start: -n}, nil
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 {
		return nil, blob.ErrInvalidRange
	}
	end := int64(-1)
	if b != "" {
		if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start {
			return nil, blob.ErrInvalidRange
		}
	}
	return &blob.Range{Start: start, End: end}, nil
}

func (c *call) info(w http.ResponseWriter, bucketID, name string, public bool) error {
	ctx := c.r.Context()
	b, err := c.lookupBucket(ctx, bucketID)
	if err != nil {
		return err
	}
	if public && !b.Public {
		return errNoSuchBucket()
	}
	o, err := c.findObject(ctx, bucketID, name, b.Public)
	if err != nil {
		return err
	}
	lm := o.lastModified()
	h := w.Header()
	if et := o.meta("eTag"); et != "" {
		h.Set("ETag", et)
	}
	if cc := o.meta("cacheControl"); cc != "" {
		h.Set("Cache-Control", cc)
	}
	if !lm.IsZero() {
		h.Set("Last-Modified", lm.UTC().Format(http.TimeFormat))
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{
		"id": o.ID, "name": o.Name, "version": o.Version, "bucket_id": o.BucketID, "size": o.size(),
		"content_type": o.meta("mimetype"), "cache_control": o.meta("cacheControl"), "etag": o.meta("eTag"),
		"metadata": o.UserMetadata, "last_modified": jsTime(lm), "created_at": o.CreatedAt,
	})
	return nil
}
