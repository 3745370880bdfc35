package file

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/madbase/madbase/internal/storage/blob"
)

const (
	dirSuffix   = ".d"
	blobSuffix  = ".b"
	tmpSuffix   = ".tmp"
	magic       = "MBB1"
	trailerTail = 8 // uint32 JSON length + magic
	maxMetaLen  = 64 << 10
	// maxContentType bounds what a client can make us store per object.
	maxContentType = 1024
	copyBufSize    = 256 << 10
	// copyChunk bounds how long a server-side copy runs between context checks.
	copyChunk = 64 << 20
	filePerm  = 0o640
	dirPerm   = 0o750
)

// Store is a blob.Store over a directory. It is safe for concurrent use.
type Store struct {
	root *os.Root
	now  func() time.Time
}

var _ blob.Store = (*Store)(nil)

// New opens (creating it if needed) the directory dir as a Store.
func New(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("file store: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("file store: %w", err)
	}
	return &Store{root: root, now: time.Now}, nil
}

// Close releases the directory handle.
func (s *Store) Close() error { return s.root.Close() }

// meta is the trailer's JSON.
type meta struct {
	Size        int64     `json:"size"`
	ETag        string    `json:"etag"`
	ContentType string    `json:"content_type"`
	Modified    time.Time `json:"modified"`
}

func (m meta) info() blob.Info {
	return blob.Info{Size: m.Size, ETag: m.ETag, ContentType: m.ContentType, LastModified: m.Modified}
}

// objectPath maps a valid key to its file inside the root.
func objectPath(key string) (string, error) {
	if err := blob.ValidKey(key); err != nil {
		return "", err
	}
	segs := strings.Split(key, "/")
	last := len(segs) - 1
	for i := range last {
		segs[i] += dirSuffix
	}
	segs[last] += blobSuffix
	return strings.Join(segs, "/"), nil
}

func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (blob.Info, error) {
	p, err := objectPath(key)
	if err != nil {
		return blob.Info{}, err
	}
	if len(contentType) > maxContentType {
		return blob.Info{}, fmt.Errorf("file store: content type longer than %d bytes", maxContentType)
	}
	if contentType == "" {
		contentType = blob.DefaultContentType
	}
	if err := ctx.Err(); err != nil {
		return blob.Info{}, err
	}
	f, tmp, err := s.createTemp(path.Dir(p))
	if err != nil {
		return blob.Info{}, err
	}
	h := md5.New()
	n, err := io.CopyBuffer(io.MultiWriter(f, h), blob.WithContext(ctx, blob.Sized(r, size)), make([]byte, copyBufSize))
	if err != nil {
		s.discard(f, tmp)
		return blob.Info{}, fmt.Errorf("file store: put %q: %w", key, err)
	}
	m := meta{Size: n, ETag: `"` + hex.EncodeToString(h.Sum(nil)) + `"`, ContentType: contentType, Modified: s.now().UTC()}
	if err := s.commit(f, tmp, p, m); err != nil {
		return blob.Info{}, fmt.Errorf("file store: put %q: %w", key, err)
	}
	return m.info(), nil
}

// createTemp makes a fresh file in dir (creating dir). A concurrent Delete
// may prune dir between the two steps, hence the retry.
func (s *Store) createTemp(dir string) (*os.File, string, error) {
	var lastErr error
	for range 5 {
		created, err := s.mkdirAll(dir)
		if err != nil {
			return nil, "", fmt.Errorf("file store: %w", err)
		}
		var rnd [12]byte
		_, _ = rand.Read(rnd[:])
		tmp := path.Join(dir, "."+hex.EncodeToString(rnd[:])+tmpSuffix)
		f, err := s.root.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, filePerm)
		if err == nil {
			if created {
				// New directory entries must reach the disk before the
				// object that depends on them.
				if err := s.syncParents(dir); err != nil {
					s.discard(f, tmp)
					return nil, "", err
				}
			}
			return f, tmp, nil
		}
		lastErr = err
		if !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	return nil, "", fmt.Errorf("file store: %w", lastErr)
}

// mkdirAll creates dir, reporting whether it did not exist.
func (s *Store) mkdirAll(dir string) (bool, error) {
	if dir == "." {
		return false, nil
	}
	if _, err := s.root.Stat(dir); err == nil {
		return false, nil
	}
	return true, s.root.MkdirAll(dir, dirPerm)
}

// syncParents fsyncs every directory from dir's parent up to the root.
func (s *Store) syncParents(dir string) error {
	for d := path.Dir(dir); ; d = path.Dir(d) {
		if err := s.syncDir(d); err != nil {
			return err
		}
		if d == "." {
			return nil
		}
	}
}

func (s *Store) syncDir(dir string) error {
	d, err := s.root.Open(dir)
	if err != nil {
		return fmt.Errorf("file store: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("file store: sync %s: %w", dir, err)
	}
	return nil
}

// commit appends the trailer to the temporary file f and renames it over p.
func (s *Store) commit(f *os.File, tmp, p string, m meta) error {
	j, err := json.Marshal(m)
	if err != nil {
		s.discard(f, tmp)
		return err
	}
	j = binary.BigEndian.AppendUint32(j, uint32(len(j)))
	j = append(j, magic...)
	if _, err := f.Write(j); err != nil {
		s.discard(f, tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		s.discard(f, tmp)
		return err
	}
	if err := f.Close(); err != nil {
		_ = s.root.Remove(tmp)
		return err
	}
	if err := s.root.Rename(tmp, p); err != nil {
		_ = s.root.Remove(tmp)
		return err
	}
	return s.syncDir(path.Dir(p))
}

func (s *Store) discard(f *os.File, tmp string) {
	_ = f.Close()
	_ = s.root.Remove(tmp)
}

// open opens the object at key and reads its trailer.
func (s *Store) open(key string) (*os.File, meta, error) {
	p, err := objectPath(key)
	if err != nil {
		return nil, meta{}, err
	}
	f, err := s.root.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, meta{}, fmt.Errorf("%w: %s", blob.ErrNotFound, key)
	}
	if err != nil {
		return nil, meta{}, fmt.Errorf("file store: %w", err)
	}
	m, err := readMeta(f)
	if err != nil {
		_ = f.Close()
		return nil, meta{}, fmt.Errorf("file store: %s: %w", key, err)
	}
	return f, m, nil
}

func readMeta(f *os.File) (meta, error) {
	st, err := f.Stat()
	if err != nil {
		return meta{}, err
	}
	total := st.Size()
	var tail [trailerTail]byte
	if total < trailerTail {
		return meta{}, errors.New("corrupt object: no trailer")
	}
	if _, err := f.ReadAt(tail[:], total-trailerTail); err != nil {
		return meta{}, err
	}
	if string(tail[4:]) != magic {
		return meta{}, errors.New("corrupt object: bad magic")
	}
	n := int64(binary.BigEndian.Uint32(tail[:4]))
	if n > maxMetaLen || n > total-trailerTail {
		return meta{}, errors.New("corrupt object: bad trailer length")
	}
	j := make([]byte, n)
	if _, err := f.ReadAt(j, total-trailerTail-n); err != nil {
		return meta{}, err
	}
	var m meta
	if err := json.Unmarshal(j, &m); err != nil {
		return meta{}, fmt.Errorf("corrupt object: %w", err)
	}
	if m.Size != total-trailerTail-n {
		return meta{}, errors.New("corrupt object: size disagrees with trailer")
	}
	return m, nil
}

func (s *Store) Head(ctx context.Context, key string) (blob.Info, error) {
	if err := ctx.Err(); err != nil {
		return blob.Info{}, err
	}
	f, m, err := s.open(key)
	if err != nil {
		return blob.Info{}, err
	}
	_ = f.Close()
	return m.info(), nil
}

// reader streams a section of an open object file and closes it.
type reader struct {
	*io.SectionReader
	f *os.File
}

func (r reader) Close() error { return r.f.Close() }

func (s *Store) Get(ctx context.Context, key string, rng *blob.Range) (io.ReadCloser, blob.Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, blob.Info{}, err
	}
	f, m, err := s.open(key)
	if err != nil {
		return nil, blob.Info{}, err
	}
	off, n := int64(0), m.Size
	if rng != nil {
		if off, n, err = rng.Resolve(m.Size); err != nil {
			_ = f.Close()
			return nil, blob.Info{}, err
		}
	}
	return reader{io.NewSectionReader(f, off, n), f}, m.info(), nil
}

// Delete removes the objects and prunes directories it leaves empty. It
// refuses the whole call, deleting nothing, if any key is invalid.
func (s *Store) Delete(ctx context.Context, keys ...string) error {
	paths := make([]string, len(keys))
	for i, k := range keys {
		p, err := objectPath(k)
		if err != nil {
			return err
		}
		paths[i] = p
	}
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("file store: delete: %w", err)
		}
		// Best effort: a directory that is not empty, or already gone,
		// simply stops the walk.
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if s.root.Remove(d) != nil {
				break
			}
		}
	}
	return nil
}

// Copy duplicates src under dst. The bytes are copied by the kernel
// (copy_file_range) where the file system allows it.
func (s *Store) Copy(ctx context.Context, src, dst string) error {
	dp, err := objectPath(dst)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	sf, m, err := s.open(src)
	if err != nil {
		return err
	}
	defer sf.Close()
	f, tmp, err := s.createTemp(path.Dir(dp))
	if err != nil {
		return err
	}
	for left := m.Size; left > 0; {
		if err := ctx.Err(); err != nil {
			s.discard(f, tmp)
			return err
		}
		n, err := f.ReadFrom(&io.LimitedReader{R: sf, N: min(left, copyChunk)})
		left -= n
		if err == nil && n == 0 {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			s.discard(f, tmp)
			return fmt.Errorf("file store: copy %q: %w", src, err)
		}
	}
	m.Modified = s.now().UTC()
	if err := s.commit(f, tmp, dp, m); err != nil {
		return fmt.Errorf("file store: copy to %q: %w", dst, err)
	}
	return nil
}
