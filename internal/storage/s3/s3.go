package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/madbase/madbase/internal/storage/blob"
)

// DefaultPartSize is the multipart part size: the most an upload buffers,
// and 1/10000 of the largest object of unknown size that can be uploaded.
const DefaultPartSize = 16 << 20

// Config locates a bucket on an S3-compatible service.
type Config struct {
	// Endpoint is "host[:port]", or a URL whose scheme then decides TLS.
	Endpoint  string
	Region    string // e.g. "us-east-1"; empty lets the client discover it
	Bucket    string
	AccessKey string
	SecretKey string
	// PathStyle addresses the bucket as endpoint/bucket/key instead of
	// bucket.endpoint/key (needed by most self-hosted services).
	PathStyle bool
	TLS       bool
	// PartSize overrides DefaultPartSize (minimum 5 MiB, as S3).
	PartSize uint64
	// Transport overrides the HTTP transport (tests, custom CAs).
	Transport http.RoundTripper
}

// Store is a blob.Store over one bucket. It is safe for concurrent use.
type Store struct {
	c        *minio.Client
	bucket   string
	partSize uint64
	now      func() time.Time
}

var _ blob.Store = (*Store)(nil)

// New builds a Store. It does no I/O; call Check to verify the settings.
func New(cfg Config) (*Store, error) {
	host, secure := cfg.Endpoint, cfg.TLS
	if strings.Contains(host, "://") {
		u, err := url.Parse(host)
		if err != nil {
			return nil, fmt.Errorf("s3 store: endpoint: %w", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("s3 store: endpoint %q: want host[:port] or http(s)://host[:port]", cfg.Endpoint)
		}
		host, secure = u.Host, u.Scheme == "https"
	}
	if host == "" || cfg.Bucket == "" {
		return nil, errors.New("s3 store: endpoint and bucket are required")
	}
	partSize := cfg.PartSize
	if partSize == 0 {
		partSize = DefaultPartSize
	}
	if partSize < 5<<20 {
		return nil, fmt.Errorf("s3 store: part size %d below the 5 MiB S3 minimum", partSize)
	}
	lookup := minio.BucketLookupDNS
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	c, err := minio.New(host, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       secure,
		Region:       cfg.Region,
		BucketLookup: lookup,
		Transport:    cfg.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 store: %w", err)
	}
	return &Store{c: c, bucket: cfg.Bucket, partSize: partSize, now: time.Now}, nil
}

// Check verifies that the credentials are accepted and the bucket exists.
func (s *Store) Check(ctx context.Context) error {
	ok, err := s.c.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("s3 store: bucket %q: %w", s.bucket, err)
	}
	if !ok {
		return fmt.Errorf("s3 store: bucket %q does not exist", s.bucket)
	}
	return nil
}

// mapErr turns S3 error responses into blob errors where one applies.
func mapErr(err error, what, key string) error {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		// Only the code, never a bare 404: some servers answer 404 for an
		// unknown access key or bucket, which must not pass for a missing
		// object. (A HEAD has no body, so there the client infers NoSuchKey
		// from any 404; S3 cannot say more.)
		switch {
		case er.Code == "NoSuchKey":
			return fmt.Errorf("%w: %s", blob.ErrNotFound, key)
		case er.Code == "InvalidRange", er.StatusCode == http.StatusRequestedRangeNotSatisfiable:
			return fmt.Errorf("%w: %s", blob.ErrInvalidRange, key)
		}
	}
	return fmt.Errorf("s3 store: %s %q: %w", what, key, err)
}

func quote(etag string) string {
	if strings.HasPrefix(etag, `"`) {
		return etag
	}
	return `"` + etag + `"`
}

func info(oi minio.ObjectInfo, size int64) blob.Info {
	ct := oi.ContentType
	if ct == "" {
		ct = blob.DefaultContentType
	}
	return blob.Info{Size: size, ETag: quote(oi.ETag), ContentType: ct, LastModified: oi.LastModified.UTC()}
}

func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (blob.Info, error) {
	if err := blob.ValidKey(key); err != nil {
		return blob.Info{}, err
	}
	if contentType == "" {
		contentType = blob.DefaultContentType
	}
	// The reader is wrapped so the client never sees a ReaderAt: that path
	// would read parts concurrently, holding several parts in memory.
	body := blob.WithContext(ctx, blob.Sized(r, size))
	ui, err := s.c.PutObject(ctx, s.bucket, key, body, size, minio.PutObjectOptions{
		ContentType: contentType,
		PartSize:    s.partSize,
		NumThreads:  1,
	})
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = fmt.Errorf("%w (%w)", cerr, err)
		}
		return blob.Info{}, mapErr(err, "put", key)
	}
	// A PUT answer carries no Last-Modified; the local clock is within a
	// request's time of the server's.
	mod := ui.LastModified
	if mod.IsZero() {
		mod = s.now()
	}
	return blob.Info{Size: ui.Size, ETag: quote(ui.ETag), ContentType: contentType, LastModified: mod.UTC()}, nil
}

func (s *Store) Head(ctx context.Context, key string) (blob.Info, error) {
	if err := blob.ValidKey(key); err != nil {
		return blob.Info{}, err
	}
	oi, err := s.c.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return blob.Info{}, mapErr(err, "head", key)
	}
	return info(oi, oi.Size), nil
}

func (s *Store) Get(ctx context.Context, key string, rng *blob.Range) (io.ReadCloser, blob.Info, error) {
	if err := blob.ValidKey(key); err != nil {
		return nil, blob.Info{}, err
	}
	var opts minio.GetObjectOptions
	if rng != nil {
		if rng.Start >= 0 && rng.End >= 0 && rng.End < rng.Start {
			return nil, blob.Info{}, fmt.Errorf("%w: end before start", blob.ErrInvalidRange)
		}
		opts.Set("Range", rng.Header())
	}
	// Core.GetObject makes the request now and hands back the headers,
	// which the ranged case needs for the whole object's size.
	rc, oi, hdr, err := minio.Core{Client: s.c}.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		return nil, blob.Info{}, mapErr(err, "get", key)
	}
	if rng == nil {
		return rc, info(oi, oi.Size), nil
	}
	cr := hdr.Get("Content-Range")
	if cr == "" {
		// The server ignored the range and sent the whole object: cut it here.
		off, n, err := rng.Resolve(oi.Size)
		if err != nil {
			rc.Close()
			return nil, blob.Info{}, err
		}
		if _, err := io.CopyN(io.Discard, rc, off); err != nil {
			rc.Close()
			return nil, blob.Info{}, mapErr(err, "get", key)
		}
		return readCloser{io.LimitReader(rc, n), rc}, info(oi, oi.Size), nil
	}
	start, end, total, err := parseContentRange(cr)
	if err != nil {
		rc.Close()
		return nil, blob.Info{}, fmt.Errorf("s3 store: get %q: %w", key, err)
	}
	if off, n, err := rng.Resolve(total); err != nil || off != start || off+n-1 != end {
		rc.Close()
		return nil, blob.Info{}, fmt.Errorf("s3 store: get %q: server sent %q for %s", key, cr, rng.Header())
	}
	return rc, info(oi, total), nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// parseContentRange reads "bytes start-end/total".
func parseContentRange(v string) (start, end, total int64, err error) {
	bad := fmt.Errorf("bad Content-Range %q", v)
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, 0, 0, bad
	}
	se, t, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, bad
	}
	s, e, ok := strings.Cut(se, "-")
	if !ok {
		return 0, 0, 0, bad
	}
	if start, err = strconv.ParseInt(s, 10, 64); err != nil {
		return 0, 0, 0, bad
	}
	if end, err = strconv.ParseInt(e, 10, 64); err != nil {
		return 0, 0, 0, bad
	}
	if total, err = strconv.ParseInt(t, 10, 64); err != nil {
		return 0, 0, 0, bad
	}
	if start < 0 || end < start || end >= total {
		return 0, 0, 0, bad
	}
	return start, end, total, nil
}

// Delete removes the objects in batches (the client splits at S3's 1000
// keys per request). It refuses the whole call if any key is invalid.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if err := blob.ValidKey(k); err != nil {
			return err
		}
	}
	if len(keys) == 0 {
		return nil
	}
	objs := make(chan minio.ObjectInfo, len(keys))
	for _, k := range keys {
		objs <- minio.ObjectInfo{Key: k}
	}
	close(objs)
	var first error
	for res := range s.c.RemoveObjects(ctx, s.bucket, objs, minio.RemoveObjectsOptions{}) {
		if res.Err == nil || first != nil {
			continue
		}
		var er minio.ErrorResponse
		if errors.As(res.Err, &er) && er.Code == "NoSuchKey" {
			continue
		}
		first = fmt.Errorf("s3 store: delete %q: %w", res.ObjectName, res.Err)
	}
	return first
}

// Copy duplicates src under dst server-side; objects over 5 GiB are copied
// as a multipart upload of server-side part copies.
func (s *Store) Copy(ctx context.Context, src, dst string) error {
	if err := blob.ValidKey(src); err != nil {
		return err
	}
	if err := blob.ValidKey(dst); err != nil {
		return err
	}
	oi, err := s.c.StatObject(ctx, s.bucket, src, minio.StatObjectOptions{})
	if err != nil {
		return mapErr(err, "copy", src)
	}
	// The content type is set explicitly: not every server keeps it under
	// the default COPY directive, and a multipart copy never does. The
	// ETag match makes the copy fail rather than mix two versions of src.
	ct := oi.ContentType
	if ct == "" {
		ct = blob.DefaultContentType
	}
	_, err = s.c.ComposeObject(ctx,
		minio.CopyDestOptions{Bucket: s.bucket, Object: dst, ReplaceMetadata: true, UserMetadata: map[string]string{"Content-Type": ct}},
		minio.CopySrcOptions{Bucket: s.bucket, Object: src, MatchETag: oi.ETag})
	if err != nil {
		return mapErr(err, "copy", src)
	}
	return nil
}
