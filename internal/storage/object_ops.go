package storage

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/madbase/madbase/internal/httpx"
	"github.com/madbase/madbase/internal/tenant"
)

type moveBody struct {
	BucketID          string          `json:"bucketId"`
	SourceKey         string          `json:"sourceKey"`
	DestinationKey    string          `json:"destinationKey"`
	DestinationBucket string          `json:"destinationBucket"`
	CopyMetadata      *bool           `json:"copyMetadata"`
	Metadata          json.RawMessage `json:"metadata"`
}

func (c *call) readMoveBody() (*moveBody, error) {
	var body moveBody
	if err := decodeBody(c.r, &body); err != nil {
		return nil, err
	}
	if body.BucketID == "" || body.SourceKey == "" || body.DestinationKey == "" {
		return nil, errInvalid("body must have required properties bucketId, sourceKey, destinationKey")
	}
	if body.DestinationBucket == "" {
		body.DestinationBucket = body.BucketID
	}
	if err := checkKey(body.SourceKey); err != nil {
		return nil, err
	}
	if err := checkKey(body.DestinationKey); err != nil {
		return nil, err
	}
	return &body, nil
}

// move renames an object, optionally into another bucket. Blob keys hold
// no name or bucket, so no byte moves: the caller needs SELECT on the
// source and an UPDATE its policies allow at the new name.
func (c *call) move() error {
	body, err := c.readMoveBody()
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	if body.DestinationBucket != body.BucketID {
		if _, err := c.lookupBucket(ctx, body.DestinationBucket); err != nil {
			return err
		}
	}
	owner, ownerID := ownerOf(c.a.Claims.Sub())
	err = c.tx(ctx, tenant.TxOptions{Settings: map[string]string{"storage.operation": "object.move"}}, func(ctx context.Context, q tenant.Querier) error {
		var id string
		err := q.QueryRow(ctx, `select id::text from storage.objects where bucket_id = $1 and name = $2`, body.BucketID, body.SourceKey).Scan(&id)
		if tenant.IsNoRows(err) {
			return errNoSuchKey()
		}
		if err != nil {
			return err
		}
		tag, err := q.Exec(ctx, `update storage.objects set bucket_id = $2, name = $3, owner = $4::uuid, owner_id = $5,
			last_accessed_at = now() where id = $1`, id, body.DestinationBucket, body.DestinationKey, owner, ownerID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errNoSuchKey() // no UPDATE policy covers it
		}
		return nil
	})
	if err != nil {
		return dbErr(err, errResourceExists)
	}
	httpx.WriteJSON(c.w, http.StatusOK, map[string]string{"message": "Successfully moved"})
	return nil
}

// copyObject duplicates an object: SELECT on the source, INSERT (or upsert
// rights with x-upsert) at the destination. The bytes are copied by the
// backend to a new version before the row is written.
func (c *call) copyObject() error {
	body, err := c.readMoveBody()
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	dst, err := c.lookupBucket(ctx, body.DestinationBucket)
	if err != nil {
		return err
	}
	src, err := c.findObject(ctx, body.BucketID, body.SourceKey, false)
	if err != nil {
		return err
	}
	upsert := c.r.Header.Get("x-upsert") == "true"
	meta := map[string]any{}
	for k, v := range src.Metadata {
		meta[k] = v
	}
	if len(body.Metadata) > 0 && string(body.Metadata) != "null" {
		var over struct {
			CacheControl string `json:"cacheControl"`
			Mimetype     string `json:"mimetype"`
		}
		if err := json.Unmarshal(body.Metadata, &over); err != nil {
			return errInvalid("body/metadata must be object").With(err)
		}
		if over.CacheControl != "" {
			meta["cacheControl"] = over.CacheControl
		}
		if over.Mimetype != "" {
			meta["mimetype"] = over.Mimetype
		}
	}
	mt, _ := meta["mimetype"].(string)
	if !mimeAllowed(dst.AllowedMimeTypes, mt) {
		return errMime(mt)
	}
	if src.size() > c.objectLimit(dst, body.DestinationKey) {
		return errTooLarge()
	}
	userMeta := json.RawMessage(`{}`)
	if body.CopyMetadata == nil || *body.CopyMetadata {
		userMeta = src.UserMetadata
	}
	if xm := c.r.Header.Get("x-metadata"); xm != "" {
		if userMeta, err = decodeXMetadata(xm); err != nil {
			return err
		}
	}
	owner, ownerID := ownerOf(c.a.Claims.Sub())
	row := &objectRow{bucket: dst.ID, name: body.DestinationKey, owner: owner, ownerID: ownerID,
		version: newUUID(), metadata: meta, userMeta: userMeta}
	// Refuse before copying bytes when the destination is not writable.
	pre := tenant.TxOptions{Rollback: true}
	if err := c.tx(ctx, pre, func(ctx context.Context, q tenant.Querier) error {
		_, _, err := writeRow(ctx, q, row, upsert)
		return err
	}); err != nil {
		return dbErr(err, errKeyExists)
	}
	if err := c.b.store.Copy(ctx, c.b.blobKey(src.Version), c.b.blobKey(row.version)); err != nil {
		return err
	}
	var id, old string
	err = c.tx(ctx, tenant.TxOptions{Settings: map[string]string{"storage.operation": "object.copy"}}, func(ctx context.Context, q tenant.Querier) error {
		var err error
		id, old, err = writeRow(ctx, q, row, upsert)
		return err
	})
	if err != nil {
		c.deleteBlobs(row.version)
		return dbErr(err, errKeyExists)
	}
	if old != "" {
		c.deleteBlobs(old)
	}
	now := jsTime(c.s.now())
	out := object{ID: id, Name: row.name, BucketID: row.bucket, Owner: owner, OwnerID: ownerID, Version: row.version,
		Metadata: meta, UserMetadata: userMeta, CreatedAt: &now, UpdatedAt: &now, LastAccessedAt: &now}
	resp := map[string]any{"Id": id, "Key": dst.ID + "/" + row.name}
	b, _ := json.Marshal(out)
	_ = json.Unmarshal(b, &resp)
	resp["Id"], resp["Key"] = id, dst.ID+"/"+row.name
	httpx.WriteJSON(c.w, http.StatusOK, resp)
	return nil
}

// removeRows deletes the named objects the caller may delete (and see),
// then their blobs.
func (c *call) removeRows(bucketID string, names []string) ([]*object, error) {
	var gone []*object
	err := c.tx(c.r.Context(), tenant.TxOptions{Settings: allowDelete}, func(ctx context.Context, q tenant.Querier) error {
		rows, err := q.Query(ctx, `delete from storage.objects where bucket_id = $1 and name = any($2) returning `+objectCols, bucketID, names)
		if err != nil {
			return err
		}
		gone, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (*object, error) { return scanObject(r) })
		return err
	})
	if err != nil {
		return nil, dbErr(err, nil)
	}
	versions := make([]string, 0, len(gone))
	for _, o := range gone {
		versions = append(versions, o.Version)
	}
	c.deleteBlobs(versions...)
	return gone, nil
}

func (c *call) removeMany(bucketID string) error {
	var body struct {
		Prefixes []json.RawMessage `json:"prefixes"`
	}
	if err := decodeBody(c.r, &body); err != nil {
		return err
	}
	if len(body.Prefixes) < 1 || len(body.Prefixes) > 1000 {
		return errInvalid("body/prefixes must have between 1 and 1000 items")
	}
	names := make([]string, 0, len(body.Prefixes))
	for _, raw := range body.Prefixes {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			var p struct {
				Path string `json:"path"`
			}
			if err := json.Unmarshal(raw, &p); err != nil {
				return errInvalid("body/prefixes must be strings").With(err)
			}
			s = p.Path
		}
		names = append(names, s)
	}
	gone, err := c.removeRows(bucketID, names)
	if err != nil {
		return err
	}
	if gone == nil {
		gone = []*object{}
	}
	httpx.WriteJSON(c.w, http.StatusOK, gone)
	return nil
}

func (c *call) deleteOne(bucketID, name string) error {
	if _, err := c.lookupBucket(c.r.Context(), bucketID); err != nil {
		return err
	}
	gone, err := c.removeRows(bucketID, []string{name})
	if err != nil {
		return err
	}
	if len(gone) == 0 {
		return errNoSuchKey()
	}
	httpx.WriteJSON(c.w, http.StatusOK, map[string]string{"message": "Successfully deleted"})
	return nil
}
