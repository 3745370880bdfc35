package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/storage/blob"
	"github.com/madbase/madbase/internal/tenant"
)

const (
	placeholderSuffix = ".emptyFolderPlaceholder"
	maxMetadata       = 1 << 20
	maxFormFields     = 10
)

// objectRow is what an upload writes to storage.objects.
type objectRow struct {
	bucket, name, version string
	owner, ownerID        *string
	metadata              map[string]any
	userMeta              json.RawMessage
}

// writeRow inserts the row, or with upsert replaces the one at the same
// name, as the caller's role; it returns the object id and, on
// replacement, the version the row pointed at before.
func writeRow(ctx context.Context, q tenant.Querier, o *objectRow, upsert bool) (id, old string, err error) {
	meta, _ := json.Marshal(o.metadata)
	um := o.userMeta
	if len(um) == 0 {
		um = json.RawMessage(`{}`)
	}
	if !upsert {
		id = newUUID()
		_, err = q.Exec(ctx, `insert into storage.objects (id, bucket_id, name, owner, owner_id, version, metadata, user_metadata)
			values ($1, $2, $3, $4::uuid, $5, $6, $7, $8)`, id, o.bucket, o.name, o.owner, o.ownerID, o.version, meta, um)
		return id, "", err
	}
	// Upserts of one name are serialised, so the version read here is the
	// one this statement replaces (two first uploads racing would both
	// read "none" and one's blob would be orphaned). The read is its own
	// statement, after the lock, so it sees the last committed row.
	if _, err = q.Exec(ctx, `select pg_advisory_xact_lock(hashtextextended($1, 0))`, o.bucket+"/"+o.name); err != nil {
		return "", "", err
	}
	err = q.QueryRow(ctx, `select coalesce(version, '') from storage.objects where bucket_id = $1 and name = $2 for update`,
		o.bucket, o.name).Scan(&old)
	if err != nil && !tenant.IsNoRows(err) {
		return "", "", err
	}
	err = q.QueryRow(ctx, `insert into storage.objects as o (bucket_id, name, owner, owner_id, version, metadata, user_metadata)
		values ($1, $2, $3::uuid, $4, $5, $6, $7)
		on conflict (bucket_id, name) do update set owner = excluded.owner, owner_id = excluded.owner_id,
			version = excluded.version, metadata = excluded.metadata, user_metadata = excluded.user_metadata,
			last_accessed_at = now()
		returning o.id::text`,
		o.bucket, o.name, o.owner, o.ownerID, o.version, meta, um).Scan(&id)
	return id, old, err
}

// incoming is an upload's body and its attributes.
type incoming struct {
	body         io.Reader
	size         int64 // -1 when unknown
	contentType  string
	cacheControl string
	userMeta     json.RawMessage
}

// readUpload parses the request: a multipart form (the first file part is
// the object, string fields before it its attributes) or a raw body.
func readUpload(r *http.Request) (*incoming, error) {
	ct := r.Header.Get("Content-Type")
	mt, params, _ := mime.ParseMediaType(ct)
	if mt == "multipart/form-data" {
		return readMultipart(r, params["boundary"])
	}
	in := &incoming{body: r.Body, size: r.ContentLength, contentType: ct, cacheControl: r.Header.Get("Cache-Control")}
	if r.Body == nil || r.Body == http.NoBody {
		in.body, in.size = strings.NewReader(""), 0
	}
	if in.contentType == "" {
		in.contentType = blob.DefaultContentType
	}
	if in.cacheControl == "" {
		in.cacheControl = "no-cache"
	}
	if xm := r.Header.Get("x-metadata"); xm != "" {
		um, err := decodeXMetadata(xm)
		if err != nil {
			return nil, err
		}
		in.userMeta = um
	}
	return in, nil
}

func decodeXMetadata(v string) (json.RawMessage, error) {
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(v, "=")); err != nil {
			return nil, errInvalid("Invalid metadata: x-metadata must be base64-encoded JSON").With(err)
		}
	}
	return userMetadata(raw)
}

func userMetadata(raw []byte) (json.RawMessage, error) {
	if len(raw) > maxMetadata {
		return nil, errInvalid("Invalid metadata: larger than 1 MiB")
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, errInvalid("Invalid metadata: must be a JSON object").With(err)
	}
	return json.RawMessage(raw), nil
}

func readMultipart(r *http.Request, boundary string) (*incoming, error) {
	if boundary == "" {
		return nil, errInvalid("multipart boundary missing")
	}
	mr := multipart.NewReader(r.Body, boundary)
	fields := map[string]string{}
	for n := 0; ; n++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil, errInvalid("No content provided")
		}
		if err != nil {
			return nil, errInvalid("malformed multipart body").With(err)
		}
		if part.FileName() != "" || part.FormName() == "" {
			in := &incoming{body: part, size: -1}
			in.contentType = fields["contentType"]
			if in.contentType == "" {
				in.contentType = part.Header.Get("Content-Type")
			}
			if in.contentType == "" {
				in.contentType = blob.DefaultContentType
			}
			in.cacheControl = "no-cache"
			if cc := fields["cacheControl"]; cc != "" {
				in.cacheControl = "max-age=" + cc
			}
			meta := fields["metadata"]
			if meta == "" {
				meta = fields["userMetadata"]
			}
			if meta != "" {
				um, err := userMetadata([]byte(meta))
				if err != nil {
					return nil, err
				}
				in.userMeta = um
			}
			return in, nil
		}
		if n >= maxFormFields {
			return nil, errInvalid("too many form fields")
		}
		v, err := io.ReadAll(io.LimitReader(part, maxMetadata+1))
		if err != nil {
			return nil, errInvalid("malformed multipart body").With(err)
		}
		if len(v) > maxMetadata {
			return nil, errInvalid("form field too large")
		}
		fields[part.FormName()] = string(v)
	}
}

// mimeAllowed applies a bucket's allow-list the way Supabase does: an exact
// match, or "type/*". Parameters are compared as sent.
func mimeAllowed(allowed []string, ct string) bool {
	if len(allowed) == 0 {
		return true
	}
	typ, _, _ := strings.Cut(ct, "/")
	for _, a := range allowed {
		at, sub, _ := strings.Cut(a, "/")
		switch {
		case a == "*" || a == "*/*":
			return true
		case sub == "*" && strings.EqualFold(at, typ):
			return true
		case strings.EqualFold(a, ct):
			return true
		}
	}
	return false
}

// limitReader fails once more than n bytes were read, without reading on.
type limitReader struct {
	r        io.Reader
	n        int64
	exceeded bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		l.exceeded = true
		return 0, errTooLarge()
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	if l.n < 0 {
		l.exceeded = true
		return k, errTooLarge()
	}
	return k, err
}

// objectLimit is the effective per-object limit of a bucket.
func (c *call) objectLimit(b *listedBucket, name string) int64 {
	if strings.HasSuffix(name, placeholderSuffix) {
		return 0
	}
	limit := c.b.limit
	if b.FileSizeLimit != nil && *b.FileSizeLimit < limit {
		limit = *b.FileSizeLimit
	}
	return limit
}

// storeBlob streams in to a new version, enforcing the limit.
func (c *call) storeBlob(ctx context.Context, version string, in *incoming, limit int64) (blob.Info, error) {
	if in.size > limit {
		return blob.Info{}, errTooLarge()
	}
	lr := &limitReader{r: in.body, n: limit}
	info, err := c.b.store.Put(ctx, c.b.blobKey(version), lr, in.size, in.contentType)
	if lr.exceeded {
		return blob.Info{}, errTooLarge().With(err)
	}
	if errors.Is(err, blob.ErrSizeMismatch) {
		return blob.Info{}, errInvalid("body size does not match Content-Length").With(err)
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("store object: %w", err)
	}
	return info, nil
}

func systemMetadata(info blob.Info, mimetype, cacheControl string) map[string]any {
	return map[string]any{
		"eTag": info.ETag, "size": info.Size, "mimetype": mimetype, "cacheControl": cacheControl,
		"lastModified": jsTime(info.LastModified), "contentLength": info.Size, "httpStatusCode": 200,
	}
}

// put is the whole upload: checks, RLS pre-check, bytes, then metadata.
// as is who the row is written as (the caller, or the system for signed
// uploads). It returns the object id.
func (c *call) put(as *tenant.Auth, b *listedBucket, name string, in *incoming, upsert bool) (string, error) {
	ctx := c.r.Context()
	limit := c.objectLimit(b, name)
	if !strings.HasSuffix(name, placeholderSuffix) && !mimeAllowed(b.AllowedMimeTypes, in.contentType) {
		return "", errMime(in.contentType)
	}
	if in.size > limit {
		return "", errTooLarge()
	}
	owner, ownerID := ownerOf(as.Claims.Sub())
	row := &objectRow{bucket: b.ID, name: name, owner: owner, ownerID: ownerID, version: newUUID(), userMeta: in.userMeta}
	opt := tenant.TxOptions{Request: c.r, Settings: map[string]string{"storage.operation": "object.upload"}}
	// The RLS pre-check, so a refused upload stores no bytes.
	pre := opt
	pre.Rollback = true
	row.metadata = map[string]any{}
	if err := c.s.tenants.Tx(ctx, as, pre, func(ctx context.Context, q tenant.Querier) error {
		_, _, err := writeRow(ctx, q, row, upsert)
		return err
	}); err != nil {
		return "", dbErr(err, errKeyExists)
	}
	info, err := c.storeBlob(ctx, row.version, in, limit)
	if err != nil {
		return "", err
	}
	row.metadata = systemMetadata(info, in.contentType, in.cacheControl)
	var id, old string
	err = c.s.tenants.Tx(ctx, as, opt, func(ctx context.Context, q tenant.Querier) error {
		var err error
		id, old, err = writeRow(ctx, q, row, upsert)
		return err
	})
	if err != nil {
		c.deleteBlobs(row.version)
		return "", dbErr(err, errKeyExists)
	}
	if old != "" && old != row.version {
		c.deleteBlobs(old)
	}
	return id, nil
}

func (c *call) upload(w http.ResponseWriter, bucketID, name string, isUpdate bool) error {
	if err := checkKey(name); err != nil {
		return err
	}
	b, err := c.lookupBucket(c.r.Context(), bucketID)
	if err != nil {
		return err
	}
	in, err := readUpload(c.r)
	if err != nil {
		return err
	}
	upsert := isUpdate || c.r.Header.Get("x-upsert") == "true"
	id, err := c.put(c.a, b, name, in, upsert)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"Id": id, "Key": b.ID + "/" + name})
	return nil
}
