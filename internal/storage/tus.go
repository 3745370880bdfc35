package storage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/madbase/madbase/internal/tenant"
)

// TUS 1.0.0 resumable uploads (core, creation, creation-with-upload,
// termination) at /storage/v1/upload/resumable.
//
// Parts are appended to a staging file on local disk and fsynced at the end
// of every PATCH, so the offset a HEAD reports survives dropped connections
// and restarts. When the last byte arrives the staging file is streamed to
// the project's blob store and the row written, as for a plain upload.
const (
	tusVersion    = "1.0.0"
	tusExtensions = "creation,creation-with-upload,termination"
	tusExpiry     = 24 * time.Hour
	tusChunkBuf   = 1 << 20
)

func isTUS(r *http.Request) bool {
	return strings.HasPrefix(strings.TrimPrefix(r.URL.Path, Prefix), "/upload/resumable")
}

// tusInfo is an upload in progress, persisted beside its staging file.
type tusInfo struct {
	ID           string          `json:"id"`
	Bucket       string          `json:"bucket"`
	Name         string          `json:"name"`
	ContentType  string          `json:"content_type"`
	CacheControl string          `json:"cache_control"`
	UserMeta     json.RawMessage `json:"user_metadata,omitempty"`
	Size         int64           `json:"size"`
	Upsert       bool            `json:"upsert"`
	Owner        string          `json:"owner,omitempty"`
	Expires      time.Time       `json:"expires"`
}

// tusStore holds staging files under dir/<ref>/<id>.{json,part} and the
// per-upload locks that serialise requests on one upload.
type tusStore struct {
	dir   string
	now   func() time.Time
	mu    sync.Mutex
	locks map[string]chan struct{}
}

func newTUSStore(dataDir string, now func() time.Time) *tusStore {
	return &tusStore{dir: filepath.Join(dataDir, "storage-uploads"), now: now, locks: map[string]chan struct{}{}}
}

func (t *tusStore) paths(ref, id string) (info, part string) {
	d := filepath.Join(t.dir, ref)
	return filepath.Join(d, id+".json"), filepath.Join(d, id+".part")
}

// lock serialises requests on one upload; it gives up when ctx ends.
func (t *tusStore) lock(ctx context.Context, key string) (func(), error) {
	t.mu.Lock()
	ch, ok := t.locks[key]
	if !ok {
		ch = make(chan struct{}, 1)
		t.locks[key] = ch
	}
	t.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (t *tusStore) load(ref, id string) (*tusInfo, int64, error) {
	if !isUUID(id) {
		return nil, 0, errNoUpload()
	}
	ip, pp := t.paths(ref, id)
	raw, err := os.ReadFile(ip)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, errNoUpload()
	}
	if err != nil {
		return nil, 0, err
	}
	var info tusInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return nil, 0, fmt.Errorf("tus info %s: %w", id, err)
	}
	if t.now().After(info.Expires) {
		t.remove(ref, id)
		return nil, 0, serr(410, "Gone", "Gone", "Upload expired")
	}
	st, err := os.Stat(pp)
	if err != nil {
		return nil, 0, err
	}
	return &info, st.Size(), nil
}

func (t *tusStore) create(ref string, info *tusInfo) error {
	d := filepath.Join(t.dir, ref)
	if err := os.MkdirAll(d, 0o700); err != nil {
		return err
	}
	ip, pp := t.paths(ref, info.ID)
	f, err := os.OpenFile(pp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	raw, _ := json.Marshal(info)
	tmp := ip + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, ip); err != nil {
		return err
	}
	return syncFile(d)
}

func syncFile(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func (t *tusStore) remove(ref, id string) {
	ip, pp := t.paths(ref, id)
	_ = os.Remove(ip)
	_ = os.Remove(pp)
}

// sweep deletes expired uploads.
func (t *tusStore) sweep() {
	refs, _ := os.ReadDir(t.dir)
	for _, r := range refs {
		files, _ := os.ReadDir(filepath.Join(t.dir, r.Name()))
		for _, f := range files {
			id, ok := strings.CutSuffix(f.Name(), ".json")
			if !ok {
				continue
			}
			_, _, _ = t.load(r.Name(), id) // removes expired ones
		}
	}
}

// Run sweeps expired TUS uploads until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		s.tus.sweep()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func tusHeaders(w http.ResponseWriter) {
	w.Header().Set("Tus-Resumable", tusVersion)
	w.Header().Set("Cache-Control", "no-store")
}

// tus dispatches /upload/resumable[/sign][/<id>].
func (c *call) tus(w http.ResponseWriter, rest string) error {
	rest = strings.TrimPrefix(rest, "/")
	signed := false
	if r, ok := strings.CutPrefix(rest, "sign"); ok && (r == "" || r[0] == '/') {
		signed, rest = true, strings.TrimPrefix(r, "/")
	}
	m := c.r.Method
	if m == http.MethodOptions {
		w.Header().Set("Tus-Version", tusVersion)
		w.Header().Set("Tus-Extension", tusExtensions)
		w.Header().Set("Tus-Max-Size", strconv.FormatInt(c.b.limit, 10))
		tusHeaders(w)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if v := c.r.Header.Get("Tus-Resumable"); v != tusVersion {
		w.Header().Set("Tus-Version", tusVersion)
		return serr(412, "InvalidRequest", "Precondition Failed", "Unsupported TUS version")
	}
	switch {
	case rest == "" && m == http.MethodPost:
		return c.tusCreate(w, signed)
	case rest != "" && !strings.Contains(rest, "/"):
		switch m {
		case http.MethodHead:
			return c.tusHead(w, rest)
		case http.MethodPatch:
			return c.tusPatch(w, rest)
		case http.MethodDelete:
			return c.tusDelete(w, rest)
		}
	}
	return routeNotFound(c.r)
}

// parseTUSMetadata reads "key base64,key2 base64" pairs.
func parseTUSMetadata(v string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(v) == "" {
		return out, nil
	}
	for pair := range strings.SplitSeq(v, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(pair), " ")
		if k == "" {
			return nil, errInvalid("Upload-Metadata is malformed")
		}
		dec, err := base64.StdEncoding.DecodeString(val)
		if err != nil {
			return nil, errInvalid("Upload-Metadata is malformed").With(err)
		}
		out[k] = string(dec)
	}
	return out, nil
}

func (c *call) tusCreate(w http.ResponseWriter, signed bool) error {
	ctx := c.r.Context()
	size, err := strconv.ParseInt(c.r.Header.Get("Upload-Length"), 10, 64)
	if err != nil || size < 0 {
		return errInvalid("Upload-Length must be a non-negative integer (Upload-Defer-Length is not supported)")
	}
	md, err := parseTUSMetadata(c.r.Header.Get("Upload-Metadata"))
	if err != nil {
		return err
	}
	bucketID, name := md["bucketName"], md["objectName"]
	if bucketID == "" || name == "" {
		return errInvalid("Upload-Metadata must carry bucketName and objectName")
	}
	if err := checkKey(name); err != nil {
		return err
	}
	b, err := c.lookupBucket(ctx, bucketID)
	if err != nil {
		return err
	}
	info := &tusInfo{ID: newUUID(), Bucket: b.ID, Name: name, Size: size, ContentType: md["contentType"],
		Upsert: c.r.Header.Get("x-upsert") == "true", Owner: c.a.Claims.Sub(), Expires: c.s.now().Add(tusExpiry)}
	if info.ContentType == "" {
		info.ContentType = "application/octet-stream"
	}
	info.CacheControl = "no-cache"
	if cc := md["cacheControl"]; cc != "" {
		info.CacheControl = "max-age=" + cc
	}
	if m := md["metadata"]; m != "" {
		if info.UserMeta, err = userMetadata([]byte(m)); err != nil {
			return err
		}
	}
	if signed {
		// The signed-upload token authorises, with its owner and upsert flag.
		c.r.URL.RawQuery = "token=" + c.r.Header.Get("x-signature")
		claims, err := c.verifySigned(b.ID, name, scopeUpload)
		if err != nil {
			return err
		}
		info.Owner, _ = claims["owner"].(string)
		info.Upsert, _ = claims["upsert"].(bool)
	} else {
		owner, ownerID := ownerOf(info.Owner)
		row := &objectRow{bucket: b.ID, name: name, owner: owner, ownerID: ownerID, version: info.ID, metadata: map[string]any{}}
		if err := c.tx(ctx, tenant.TxOptions{Rollback: true}, func(ctx context.Context, q tenant.Querier) error {
			_, _, err := writeRow(ctx, q, row, info.Upsert)
			return err
		}); err != nil {
			return dbErr(err, errKeyExists)
		}
	}
	if !strings.HasSuffix(name, placeholderSuffix) && !mimeAllowed(b.AllowedMimeTypes, info.ContentType) {
		return errMime(info.ContentType)
	}
	if size > c.objectLimit(b, name) {
		return errTooLarge()
	}
	if err := c.s.tus.create(c.a.Project.Ref, info); err != nil {
		return fmt.Errorf("tus create: %w", err)
	}
	loc := Prefix + "/upload/resumable/" + info.ID
	if signed {
		loc = Prefix + "/upload/resumable/sign/" + info.ID
	}
	w.Header().Set("Location", loc)
	tusHeaders(w)
	if c.r.ContentLength != 0 && c.r.Header.Get("Content-Type") == "application/offset+octet-stream" {
		unlock, err := c.s.tus.lock(ctx, c.a.Project.Ref+"/"+info.ID)
		if err != nil {
			return err
		}
		defer unlock()
		off, done, err := c.tusAppend(info, 0)
		if err != nil {
			return err
		}
		w.Header().Set("Upload-Offset", strconv.FormatInt(off, 10))
		if done {
			if err := c.tusFinish(info); err != nil {
				return err
			}
		}
	} else {
		w.Header().Set("Upload-Offset", "0")
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

// errNoUpload answers for an upload that does not exist or is not the
// caller's: the two are indistinguishable on purpose.
func errNoUpload() error { return serr(404, "NoSuchUpload", "Not Found", "Upload not found") }

// tusOwn refuses a request whose token names another user than the one who
// created the upload.
func (c *call) tusOwn(info *tusInfo) error {
	if sub := c.a.Claims.Sub(); sub != "" && info.Owner != "" && sub != info.Owner && !c.a.IsService() {
		return errNoUpload()
	}
	return nil
}

// tusFind loads the caller's upload id.
func (c *call) tusFind(id string) (*tusInfo, int64, error) {
	info, off, err := c.s.tus.load(c.a.Project.Ref, id)
	if err != nil {
		return nil, 0, err
	}
	if err := c.tusOwn(info); err != nil {
		return nil, 0, err
	}
	return info, off, nil
}

// tusOpen is tusFind holding the upload's lock; unlock releases it.
func (c *call) tusOpen(id string) (info *tusInfo, off int64, unlock func(), err error) {
	if !isUUID(id) {
		return nil, 0, nil, errNoUpload()
	}
	if unlock, err = c.s.tus.lock(c.r.Context(), c.a.Project.Ref+"/"+id); err != nil {
		return nil, 0, nil, err
	}
	if info, off, err = c.tusFind(id); err != nil {
		unlock()
		return nil, 0, nil, err
	}
	return info, off, unlock, nil
}

func (c *call) tusHead(w http.ResponseWriter, id string) error {
	info, off, err := c.tusFind(id)
	if err != nil {
		return err
	}
	tusHeaders(w)
	w.Header().Set("Upload-Offset", strconv.FormatInt(off, 10))
	w.Header().Set("Upload-Length", strconv.FormatInt(info.Size, 10))
	w.WriteHeader(http.StatusOK)
	return nil
}

func (c *call) tusPatch(w http.ResponseWriter, id string) error {
	if ct := c.r.Header.Get("Content-Type"); ct != "application/offset+octet-stream" {
		return serr(415, "InvalidRequest", "Unsupported Media Type", "Content-Type must be application/offset+octet-stream")
	}
	want, err := strconv.ParseInt(c.r.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || want < 0 {
		return errInvalid("Upload-Offset must be a non-negative integer")
	}
	info, off, unlock, err := c.tusOpen(id)
	if err != nil {
		return err
	}
	defer unlock()
	if want != off {
		return serr(409, "InvalidRequest", "Conflict", fmt.Sprintf("Upload-Offset %d does not match the current offset %d", want, off))
	}
	off, done, err := c.tusAppend(info, off)
	if err != nil {
		return err
	}
	if done {
		if err := c.tusFinish(info); err != nil {
			return err
		}
	}
	tusHeaders(w)
	w.Header().Set("Upload-Offset", strconv.FormatInt(off, 10))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// tusAppend appends the request body to the staging file. Whatever arrived
// before a dropped connection stays, fsynced, and becomes the new offset.
func (c *call) tusAppend(info *tusInfo, off int64) (int64, bool, error) {
	_, pp := c.s.tus.paths(c.a.Project.Ref, info.ID)
	f, err := os.OpenFile(pp, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return off, false, err
	}
	defer f.Close()
	remaining := info.Size - off
	buf := make([]byte, tusChunkBuf)
	n, cerr := io.CopyBuffer(onlyWriter{f}, io.LimitReader(c.r.Body, remaining), buf)
	if cerr == nil && n == remaining {
		var one [1]byte
		if k, _ := io.ReadFull(c.r.Body, one[:]); k > 0 {
			// More bytes than the upload's length: refuse the chunk whole.
			_ = f.Truncate(off)
			return off, false, serr(413, "EntityTooLarge", "Payload too large", "Upload exceeds its Upload-Length")
		}
	}
	if err := f.Sync(); err != nil {
		return off, false, err
	}
	off += n
	if cerr != nil {
		c.s.log.DebugContext(c.r.Context(), "storage: tus chunk interrupted", "upload", info.ID, "offset", off, "err", cerr)
		return off, false, serr(400, "InvalidRequest", "Bad Request", "upload interrupted").With(cerr)
	}
	return off, off == info.Size, nil
}

// tusFinish turns a complete upload into an object. Permanent refusals
// drop the upload; transient failures keep it so a retry can finish it.
func (c *call) tusFinish(info *tusInfo) error {
	_, pp := c.s.tus.paths(c.a.Project.Ref, info.ID)
	f, err := os.Open(pp)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := c.lookupBucket(c.r.Context(), info.Bucket)
	if err == nil {
		in := &incoming{body: f, size: info.Size, contentType: info.ContentType, cacheControl: info.CacheControl, userMeta: info.UserMeta}
		_, err = c.put(sysAuth(c.a.Project, info.Owner), b, info.Name, in, info.Upsert)
	}
	if err != nil {
		if e := asStorage(err); e != nil && e.Status < 500 {
			c.s.tus.remove(c.a.Project.Ref, info.ID)
		}
		return err
	}
	c.s.tus.remove(c.a.Project.Ref, info.ID)
	return nil
}

func (c *call) tusDelete(w http.ResponseWriter, id string) error {
	_, _, unlock, err := c.tusOpen(id)
	if err != nil {
		return err
	}
	defer unlock()
	c.s.tus.remove(c.a.Project.Ref, id)
	tusHeaders(w)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
