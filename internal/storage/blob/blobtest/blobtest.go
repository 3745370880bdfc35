package blobtest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/storage/blob"
)

// LargeSize is the size of the streaming test object: above a 16 MiB
// multipart part size, three parts and an odd tail.
const LargeSize = 40<<20 + 12345

// Option adjusts Run to a backend's documented limits.
type Option func(*options)

type options struct{ noPrefixObjects bool }

// NoPrefixObjects declares that a key cannot be both an object and a prefix
// of another ("a" and "a/b"), as on file-system-backed S3 servers. Run then
// checks that such a Put fails cleanly instead of that it succeeds.
func NoPrefixObjects() Option { return func(o *options) { o.noPrefixObjects = true } }

// Run exercises a blob.Store. newStore returns an empty store; it is called
// once per subtest, which may run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store, opts ...Option) {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	testPrefixKeys := func(t *testing.T, s blob.Store) { prefixKeys(t, s, o.noPrefixObjects) }
	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"PutGetHead", testPutGetHead},
		{"Empty", testEmpty},
		{"UnknownSize", testUnknownSize},
		{"DefaultContentType", testDefaultContentType},
		{"Range", testRange},
		{"NotFound", testNotFound},
		{"Delete", testDelete},
		{"Copy", testCopy},
		{"Overwrite", testOverwrite},
		{"OverwriteAtomic", testOverwriteAtomic},
		{"FailedPutKeepsOld", testFailedPutKeepsOld},
		{"PrefixKeys", testPrefixKeys},
		{"OddKeys", testOddKeys},
		{"Large", testLarge},
		{"TraversalRejected", testTraversal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

func put(t *testing.T, s blob.Store, key string, b []byte, ct string) blob.Info {
	t.Helper()
	info, err := s.Put(t.Context(), key, bytes.NewReader(b), int64(len(b)), ct)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return info
}

func get(t *testing.T, s blob.Store, key string, rng *blob.Range) ([]byte, blob.Info) {
	t.Helper()
	rc, info, err := s.Get(t.Context(), key, rng)
	if err != nil {
		t.Fatalf("Get(%q, %+v): %v", key, rng, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q) read: %v", key, err)
	}
	return b, info
}

func checkInfo(t *testing.T, what string, got blob.Info, size int64, ct string) {
	t.Helper()
	if got.Size != size {
		t.Errorf("%s: Size = %d, want %d", what, got.Size, size)
	}
	if got.ContentType != ct {
		t.Errorf("%s: ContentType = %q, want %q", what, got.ContentType, ct)
	}
	if len(got.ETag) < 3 || !strings.HasPrefix(got.ETag, `"`) || !strings.HasSuffix(got.ETag, `"`) {
		t.Errorf("%s: ETag = %q, want a quoted value", what, got.ETag)
	}
	if d := time.Since(got.LastModified); d < -time.Minute || d > time.Hour {
		t.Errorf("%s: LastModified = %v, not recent", what, got.LastModified)
	}
}

func testPutGetHead(t *testing.T, s blob.Store) {
	body := []byte("hello, blob")
	pi := put(t, s, "b/hello.txt", body, "text/plain")
	checkInfo(t, "Put", pi, int64(len(body)), "text/plain")
	if want := `"` + md5hex(body) + `"`; pi.ETag != want {
		t.Errorf("single-part ETag = %s, want MD5 %s", pi.ETag, want)
	}
	hi, err := s.Head(t.Context(), "b/hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	checkInfo(t, "Head", hi, int64(len(body)), "text/plain")
	if hi.ETag != pi.ETag {
		t.Errorf("Head ETag %s != Put ETag %s", hi.ETag, pi.ETag)
	}
	got, gi := get(t, s, "b/hello.txt", nil)
	if !bytes.Equal(got, body) {
		t.Errorf("Get = %q, want %q", got, body)
	}
	if gi.Size != hi.Size || gi.ETag != hi.ETag || gi.ContentType != hi.ContentType {
		t.Errorf("Get info %+v != Head info %+v", gi, hi)
	}
	if !gi.LastModified.Equal(hi.LastModified) {
		t.Errorf("Get LastModified %v != Head %v", gi.LastModified, hi.LastModified)
	}
}

func testEmpty(t *testing.T, s blob.Store) {
	pi := put(t, s, "empty", nil, "text/plain")
	checkInfo(t, "Put", pi, 0, "text/plain")
	got, gi := get(t, s, "empty", nil)
	if len(got) != 0 || gi.Size != 0 {
		t.Errorf("Get = %d bytes, size %d; want empty", len(got), gi.Size)
	}
	if _, _, err := s.Get(t.Context(), "empty", &blob.Range{Start: 0, End: -1}); !errors.Is(err, blob.ErrInvalidRange) {
		t.Errorf("range over empty object: err = %v, want ErrInvalidRange", err)
	}
}

func testUnknownSize(t *testing.T, s blob.Store) {
	p := NewPattern(7, 100_000)
	pi, err := s.Put(t.Context(), "u/n", p, -1, "application/x-test")
	if err != nil {
		t.Fatal(err)
	}
	checkInfo(t, "Put", pi, 100_000, "application/x-test")
	got, _ := get(t, s, "u/n", nil)
	if !bytes.Equal(got, p.Bytes(0, 100_000)) {
		t.Error("content differs")
	}
}

func testDefaultContentType(t *testing.T, s blob.Store) {
	pi := put(t, s, "noct", []byte("x"), "")
	if pi.ContentType != blob.DefaultContentType {
		t.Errorf("Put ContentType = %q", pi.ContentType)
	}
	hi, err := s.Head(t.Context(), "noct")
	if err != nil || hi.ContentType != blob.DefaultContentType {
		t.Errorf("Head = %+v, %v", hi, err)
	}
}

func testRange(t *testing.T, s blob.Store) {
	const size = 1000
	p := NewPattern(3, size)
	all := p.Bytes(0, size)
	put(t, s, "r", all, "application/octet-stream")
	for _, rng := range []blob.Range{
		{Start: 0, End: 0}, {Start: 10, End: 19}, {Start: 999, End: 999}, {Start: 990, End: 5000},
		{Start: 500, End: -1}, {Start: -1}, {Start: -10}, {Start: -5000}, {Start: 0, End: -1},
	} {
		got, info := get(t, s, "r", &rng)
		off, n, err := rng.Resolve(size)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, all[off:off+n]) {
			t.Errorf("range %+v: got %d bytes, want [%d,+%d)", rng, len(got), off, n)
		}
		if info.Size != size {
			t.Errorf("range %+v: Info.Size = %d, want whole object %d", rng, info.Size, size)
		}
	}
	for _, rng := range []blob.Range{{Start: size, End: size + 10}, {Start: 5000, End: -1}} {
		_, _, err := s.Get(t.Context(), "r", &rng)
		if !errors.Is(err, blob.ErrInvalidRange) {
			t.Errorf("range %+v: err = %v, want ErrInvalidRange", rng, err)
		}
	}
}

func testNotFound(t *testing.T, s blob.Store) {
	ctx := t.Context()
	if _, err := s.Head(ctx, "missing"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Head: %v, want ErrNotFound", err)
	}
	if _, _, err := s.Get(ctx, "missing/deep/key", nil); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Get: %v, want ErrNotFound", err)
	}
	if _, _, err := s.Get(ctx, "missing", &blob.Range{Start: 0, End: 1}); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("ranged Get: %v, want ErrNotFound", err)
	}
	if err := s.Copy(ctx, "missing", "dst"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Copy: %v, want ErrNotFound", err)
	}
	if _, err := s.Head(ctx, "dst"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("failed Copy created dst: %v", err)
	}
	if err := s.Delete(ctx, "missing", "also/missing"); err != nil {
		t.Errorf("Delete of missing keys: %v", err)
	}
	if err := s.Delete(ctx); err != nil {
		t.Errorf("Delete of no keys: %v", err)
	}
}

func testDelete(t *testing.T, s blob.Store) {
	ctx := t.Context()
	keys := []string{"d/1", "d/2", "d/sub/3", "keep"}
	for _, k := range keys {
		put(t, s, k, []byte(k), "text/plain")
	}
	if err := s.Delete(ctx, "d/1", "d/sub/3", "d/missing", "d/2"); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys[:3] {
		if _, err := s.Head(ctx, k); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Head(%q) after Delete: %v", k, err)
		}
	}
	if got, _ := get(t, s, "keep", nil); string(got) != "keep" {
		t.Errorf("unrelated key damaged: %q", got)
	}
	// A deleted key can be written again (a backend that prunes emptied
	// directories must not break this).
	put(t, s, "d/sub/3", []byte("again"), "text/plain")
	if got, _ := get(t, s, "d/sub/3", nil); string(got) != "again" {
		t.Errorf("rewrite after delete = %q", got)
	}
}

func testCopy(t *testing.T, s blob.Store) {
	ctx := t.Context()
	body := NewPattern(11, 70_000).Bytes(0, 70_000)
	put(t, s, "src/a.bin", body, "image/png")
	put(t, s, "dst/b.bin", []byte("old"), "text/plain")
	for _, dst := range []string{"dst/b.bin", "other/deep/c.bin"} {
		if err := s.Copy(ctx, "src/a.bin", dst); err != nil {
			t.Fatalf("Copy to %q: %v", dst, err)
		}
		got, info := get(t, s, dst, nil)
		if !bytes.Equal(got, body) {
			t.Errorf("Copy to %q: content differs", dst)
		}
		checkInfo(t, "copy "+dst, info, int64(len(body)), "image/png")
	}
	// The source is untouched and independent of the copy.
	put(t, s, "dst/b.bin", []byte("changed"), "text/plain")
	if got, _ := get(t, s, "src/a.bin", nil); !bytes.Equal(got, body) {
		t.Error("source changed after overwriting its copy")
	}
}

func testOverwrite(t *testing.T, s blob.Store) {
	a := put(t, s, "o", []byte("first version"), "text/plain")
	b := put(t, s, "o", []byte("second"), "text/markdown")
	if a.ETag == b.ETag {
		t.Errorf("ETag unchanged by a different content: %s", a.ETag)
	}
	got, info := get(t, s, "o", nil)
	if string(got) != "second" {
		t.Errorf("Get = %q", got)
	}
	checkInfo(t, "after overwrite", info, 6, "text/markdown")
	if info.ETag != b.ETag {
		t.Errorf("ETag = %s, want %s", info.ETag, b.ETag)
	}
}

// testOverwriteAtomic overwrites one key with two versions while readers
// read it: every read must yield one whole version, never a mix or a prefix.
func testOverwriteAtomic(t *testing.T, s blob.Store) {
	const key = "atomic/obj"
	versions := [][]byte{
		bytes.Repeat([]byte("A"), 300_000),
		bytes.Repeat([]byte("b"), 200_001),
	}
	sums := map[string]bool{md5hex(versions[0]): true, md5hex(versions[1]): true}
	put(t, s, key, versions[0], "text/plain")

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	var wg sync.WaitGroup
	var reads, writes int
	var mu sync.Mutex
	errc := make(chan error, 8)
	for range 3 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				rc, _, err := s.Get(ctx, key, nil)
				if err != nil {
					errc <- fmt.Errorf("Get during overwrite: %w", err)
					return
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					errc <- fmt.Errorf("read during overwrite: %w", err)
					return
				}
				if !sums[md5hex(b)] {
					errc <- fmt.Errorf("read a torn object of %d bytes", len(b))
					return
				}
				mu.Lock()
				reads++
				mu.Unlock()
			}
		})
	}
	for i := range 30 {
		v := versions[i%2]
		// A slow writer gives readers the chance to see a partial object.
		r := &slowReader{r: bytes.NewReader(v), chunk: 32 << 10}
		if _, err := s.Put(ctx, key, r, int64(len(v)), "text/plain"); err != nil {
			t.Errorf("Put %d: %v", i, err)
			break
		}
		writes++
	}
	close(done)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if reads == 0 {
		t.Error("no read completed during the overwrites")
	}
	t.Logf("%d writes, %d whole reads", writes, reads)
}

type slowReader struct {
	r     io.Reader
	chunk int
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(p) > s.chunk {
		p = p[:s.chunk]
	}
	time.Sleep(200 * time.Microsecond)
	return s.r.Read(p)
}

type failingReader struct {
	r     io.Reader
	after int64
	err   error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, f.err
	}
	if int64(len(p)) > f.after {
		p = p[:f.after]
	}
	n, err := f.r.Read(p)
	f.after -= int64(n)
	return n, err
}

// testFailedPutKeepsOld checks that a Put that fails (reader error, short
// or long body, cancelled context) leaves the previous object, or no
// object, exactly as it was.
func testFailedPutKeepsOld(t *testing.T, s blob.Store) {
	ctx := t.Context()
	old := []byte("the old content")
	put(t, s, "f/existing", old, "text/plain")
	boom := errors.New("boom")
	const size = 1 << 20
	cases := []struct {
		name string
		do   func(key string) error
		want error
	}{
		{"reader error", func(key string) error {
			_, err := s.Put(ctx, key, &failingReader{r: NewPattern(1, size), after: size / 2, err: boom}, size, "text/plain")
			return err
		}, boom},
		{"reader error unknown size", func(key string) error {
			_, err := s.Put(ctx, key, &failingReader{r: NewPattern(1, size), after: size / 2, err: boom}, -1, "text/plain")
			return err
		}, boom},
		{"short body", func(key string) error {
			_, err := s.Put(ctx, key, NewPattern(1, size-1), size, "text/plain")
			return err
		}, blob.ErrSizeMismatch},
		{"long body", func(key string) error {
			_, err := s.Put(ctx, key, NewPattern(1, size+1), size, "text/plain")
			return err
		}, blob.ErrSizeMismatch},
		{"cancelled", func(key string) error {
			cctx, cancel := context.WithCancel(ctx)
			cr := &cancelReader{r: NewPattern(1, size), cancel: cancel, after: size / 2}
			_, err := s.Put(cctx, key, cr, size, "text/plain")
			return err
		}, context.Canceled},
	}
	for _, c := range cases {
		err := c.do("f/existing")
		if !errors.Is(err, c.want) {
			t.Errorf("%s over existing: err = %v, want %v", c.name, err, c.want)
		}
		if got, _ := get(t, s, "f/existing", nil); !bytes.Equal(got, old) {
			t.Errorf("%s: old object changed to %d bytes", c.name, len(got))
		}
		err = c.do("f/new")
		if !errors.Is(err, c.want) {
			t.Errorf("%s over new: err = %v, want %v", c.name, err, c.want)
		}
		if _, err := s.Head(ctx, "f/new"); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("%s: failed Put left an object: %v", c.name, err)
		}
	}
}

// cancelReader cancels the context after some bytes and then keeps
// yielding data, so only the store's own context checks can stop it.
type cancelReader struct {
	r      io.Reader
	cancel context.CancelFunc
	after  int64
}

func (c *cancelReader) Read(p []byte) (int, error) {
	if c.after <= 0 {
		c.cancel()
		for i := range p {
			p[i] = 'x'
		}
		time.Sleep(time.Millisecond)
		return len(p), nil
	}
	if int64(len(p)) > c.after {
		p = p[:c.after]
	}
	n, err := c.r.Read(p)
	c.after -= int64(n)
	return n, err
}

// testPrefixKeys checks S3 semantics: a key may be both an object and a
// prefix of other objects.
func prefixKeys(t *testing.T, s blob.Store, unsupported bool) {
	ctx := t.Context()
	if unsupported {
		put(t, s, "p/a", []byte("v:p/a"), "text/plain")
		put(t, s, "p/b/c", []byte("v:p/b/c"), "text/plain")
		if _, err := s.Put(ctx, "p/a/b", strings.NewReader("x"), 1, "text/plain"); err == nil {
			t.Error(`Put("p/a/b") over object "p/a" succeeded on a store declared NoPrefixObjects`)
		}
		if _, err := s.Put(ctx, "p/b", strings.NewReader("x"), 1, "text/plain"); err == nil {
			t.Error(`Put("p/b") over prefix "p/b/" succeeded on a store declared NoPrefixObjects`)
		}
		for _, k := range []string{"p/a", "p/b/c"} {
			if got, _ := get(t, s, k, nil); string(got) != "v:"+k {
				t.Errorf("Get(%q) = %q after a refused Put", k, got)
			}
		}
		return
	}
	keys := []string{"p/a", "p/a/b", "p/a/b/c", "p/a.d", "p/a.d/x", "p/a.b"}
	for _, k := range keys {
		put(t, s, k, []byte("v:"+k), "text/plain")
	}
	for _, k := range keys {
		if got, _ := get(t, s, k, nil); string(got) != "v:"+k {
			t.Errorf("Get(%q) = %q", k, got)
		}
	}
	if _, err := s.Head(ctx, "p"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Head of a pure prefix: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "p/a"); err != nil {
		t.Fatal(err)
	}
	if got, _ := get(t, s, "p/a/b/c", nil); string(got) != "v:p/a/b/c" {
		t.Errorf("deleting a prefix object damaged a child: %q", got)
	}
}

func testOddKeys(t *testing.T, s blob.Store) {
	keys := []string{
		"odd/with space.txt", "odd/plus+sign", "odd/q?x=1", "odd/hash#frag", "odd/%2e%2e",
		"odd/%2F", "odd/ünïcødé 文件", "odd/.hidden", "odd/...", "odd/a:b", "odd/semi;colon", "odd/amp&eq=",
		"odd/" + strings.Repeat("x", blob.MaxSegmentLen),
	}
	for _, k := range keys {
		put(t, s, k, []byte(k), "text/plain")
	}
	for _, k := range keys {
		got, _ := get(t, s, k, nil)
		if string(got) != k {
			t.Errorf("Get(%q) = %q", k, got)
		}
	}
}

func testLarge(t *testing.T, s blob.Store) {
	if testing.Short() {
		t.Skip("large object skipped in -short mode")
	}
	ctx := t.Context()
	for _, size := range []int64{LargeSize, -1} {
		p := NewPattern(5, LargeSize)
		want := md5.New()
		_, _ = io.Copy(want, p)
		p.Reset()
		start := time.Now()
		info, err := s.Put(ctx, "large/obj", p, size, "application/octet-stream")
		if err != nil {
			t.Fatalf("Put size %d: %v", size, err)
		}
		if info.Size != LargeSize {
			t.Errorf("Put size %d: Info.Size = %d", size, info.Size)
		}
		put := time.Since(start)
		rc, _, err := s.Get(ctx, "large/obj", nil)
		if err != nil {
			t.Fatal(err)
		}
		h := md5.New()
		n, err := io.Copy(h, rc)
		rc.Close()
		if err != nil || n != LargeSize {
			t.Fatalf("Get: %d bytes, %v", n, err)
		}
		if !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
			t.Errorf("size %d: content differs", size)
		}
		rng := blob.Range{Start: LargeSize - 100_000, End: LargeSize - 1}
		got, _ := get(t, s, "large/obj", &rng)
		if !bytes.Equal(got, p.Bytes(rng.Start, 100_000)) {
			t.Errorf("size %d: tail range differs", size)
		}
		t.Logf("size %d: put %v, whole suite of reads %v", size, put, time.Since(start)-put)
	}
}

func testTraversal(t *testing.T, s blob.Store) {
	ctx := t.Context()
	put(t, s, "safe/x", []byte("x"), "text/plain")
	bad := []string{
		"", "../x", "../../etc/passwd", "/etc/passwd", "a/../../x", "safe/../../x", "./x", "a//b", "a/",
		`..\x`, `a\..\..\x`, `\\server\share\x`, "//server/share/x", "C:/x", `C:\x`, "c:x",
		"a\x00b", "a\nb", "a\x1bb", "\xff",
	}
	for _, k := range bad {
		if _, err := s.Put(ctx, k, strings.NewReader("evil"), 4, "text/plain"); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Put(%q): %v, want ErrInvalidKey", k, err)
		}
		if _, _, err := s.Get(ctx, k, nil); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Get(%q): %v, want ErrInvalidKey", k, err)
		}
		if _, err := s.Head(ctx, k); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Head(%q): %v, want ErrInvalidKey", k, err)
		}
		if err := s.Delete(ctx, "safe/x", k); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Delete(%q): %v, want ErrInvalidKey", k, err)
		}
		if err := s.Copy(ctx, "safe/x", k); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Copy(to %q): %v, want ErrInvalidKey", k, err)
		}
		if err := s.Copy(ctx, k, "safe/y"); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Copy(from %q): %v, want ErrInvalidKey", k, err)
		}
	}
	// A Delete naming one bad key deletes nothing.
	if got, _ := get(t, s, "safe/x", nil); string(got) != "x" {
		t.Errorf("safe/x = %q after refused operations", got)
	}
}
