package blob

import (
	"context"
	"fmt"
	"io"
)

// Sized returns a reader over r that yields exactly size bytes or fails with
// ErrSizeMismatch. The failure comes from the Read that would otherwise
// complete the object, before it returns, so a consumer that stops reading
// at size bytes (as S3 clients do) still sees it and aborts the upload.
// A negative size returns r unchanged.
func Sized(r io.Reader, size int64) io.Reader {
	if size < 0 {
		return r
	}
	return &sized{r: r, left: size}
}

type sized struct {
	r    io.Reader
	left int64
	err  error
}

func (s *sized) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.left == 0 {
		if s.err = s.probe(); s.err != nil {
			return 0, s.err
		}
		s.err = io.EOF
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n, err := s.r.Read(p)
	s.left -= int64(n)
	switch {
	case s.left == 0:
		if perr := s.probe(); perr != nil {
			s.err = perr
			return 0, perr
		}
		s.err = io.EOF
		return n, nil
	case err == io.EOF:
		s.err = fmt.Errorf("%w: %d bytes short", ErrSizeMismatch, s.left)
		return n, s.err
	}
	return n, err
}

// probe checks that the underlying reader has nothing past the announced end.
func (s *sized) probe() error {
	var b [1]byte
	for range 100 {
		n, err := s.r.Read(b[:])
		if n > 0 {
			return fmt.Errorf("%w: more bytes than announced", ErrSizeMismatch)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// WithContext returns a reader over r that fails with ctx's error once ctx
// is done, so a backend's copy stops even while the client is between
// writes.
func WithContext(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
