package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// DefaultContentType is what a Store records when Put is given none, as S3 does.
const DefaultContentType = "application/octet-stream"

var (
	// ErrNotFound reports that no object exists under the key.
	ErrNotFound = errors.New("blob: not found")
	// ErrInvalidKey reports a key that ValidKey refuses.
	ErrInvalidKey = errors.New("blob: invalid key")
	// ErrInvalidRange reports a range that selects no byte of the object
	// (HTTP 416).
	ErrInvalidRange = errors.New("blob: range not satisfiable")
	// ErrSizeMismatch reports a Put whose reader yielded more or fewer bytes
	// than the size it announced; nothing is stored.
	ErrSizeMismatch = errors.New("blob: size mismatch")
)

// Info describes a stored object.
type Info struct {
	Size         int64 // whole object, even when a Range was read
	ETag         string
	ContentType  string
	LastModified time.Time
}

// Range selects bytes of an object the way an HTTP Range header does:
//
//	Range{Start: 10, End: 19}  bytes=10-19 (End is inclusive and clamped to the object)
//	Range{Start: 10, End: -1}  bytes=10-   (to the end)
//	Range{Start: -5}           bytes=-5    (the last five bytes; End is ignored)
type Range struct{ Start, End int64 }

// Resolve turns r into an offset and length within an object of size bytes.
// It fails with ErrInvalidRange when no byte is selected, which includes
// every range over an empty object.
func (r Range) Resolve(size int64) (off, n int64, err error) {
	switch {
	case r.Start < 0:
		n = min(-r.Start, size)
		off = size - n
	case r.End >= 0 && r.End < r.Start:
		return 0, 0, fmt.Errorf("%w: end %d before start %d", ErrInvalidRange, r.End, r.Start)
	case r.Start >= size:
		return 0, 0, fmt.Errorf("%w: start %d beyond size %d", ErrInvalidRange, r.Start, size)
	default:
		off = r.Start
		end := size - 1
		if r.End >= 0 {
			end = min(r.End, end)
		}
		n = end - off + 1
	}
	if n <= 0 {
		return 0, 0, fmt.Errorf("%w: nothing selected from %d bytes", ErrInvalidRange, size)
	}
	return off, n, nil
}

// Header renders r as the value of an HTTP Range header.
func (r Range) Header() string {
	switch {
	case r.Start < 0:
		return fmt.Sprintf("bytes=%d", r.Start)
	case r.End < 0:
		return fmt.Sprintf("bytes=%d-", r.Start)
	default:
		return fmt.Sprintf("bytes=%d-%d", r.Start, r.End)
	}
}

// Store keeps objects under keys. Implementations are safe for concurrent use.
type Store interface {
	// Put stores the bytes of r under key, replacing any object there. size
	// is the exact length, or -1 when unknown. Readers see either the old
	// object or the whole new one, never a partial write; on error nothing
	// changes. An empty contentType is stored as DefaultContentType.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (Info, error)
	// Get streams the object, or the bytes rng selects when rng is not nil.
	// Info always describes the whole object; rng.Resolve(info.Size) gives
	// the bytes served. The caller must close the reader.
	Get(ctx context.Context, key string, rng *Range) (io.ReadCloser, Info, error)
	// Head describes the object without reading it.
	Head(ctx context.Context, key string) (Info, error)
	// Delete removes the objects; keys with no object are not an error.
	Delete(ctx context.Context, keys ...string) error
	// Copy duplicates src under dst (replacing dst) without passing the
	// bytes through the caller where the backend can avoid it.
	Copy(ctx context.Context, src, dst string) error
}
