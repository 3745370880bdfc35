package s3

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/madbase/madbase/internal/storage/blob"
	"github.com/madbase/madbase/internal/storage/blob/blobtest"
	"github.com/madbase/madbase/internal/testutil/s3test"
)

var gw s3test.Gateway // stopped by TestMain

func TestMain(m *testing.M) {
	code := m.Run()
	gw.Stop()
	os.Exit(code)
}

// newBucket creates an empty bucket and a Store on it.
func newBucket(t *testing.T) *Store {
	t.Helper()
	bucket := gw.NewBucket(t, "t-")
	s, err := New(Config{
		Endpoint: "http://" + gw.Addr(t), Region: s3test.Region, Bucket: bucket,
		AccessKey: s3test.Access, SecretKey: s3test.Secret, PathStyle: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	gw.Addr(t)
	// versitygw's POSIX backend maps keys to paths, so "a" and "a/b"
	// cannot both exist there (AWS S3 allows it).
	blobtest.Run(t, func(t *testing.T) blob.Store { return newBucket(t) }, blobtest.NoPrefixObjects())
}

// TestWrongCredentials proves the gateway enforces SigV4, so tests built on
// it can be trusted for authorisation.
func TestWrongCredentials(t *testing.T) {
	good := newBucket(t)
	ctx := t.Context()
	if _, err := good.Put(ctx, "k", strings.NewReader("v"), 1, ""); err != nil {
		t.Fatal(err)
	}
	if err := good.Check(ctx); err != nil {
		t.Fatalf("Check with good credentials: %v", err)
	}
	for _, creds := range [][2]string{{s3test.Access, s3test.Secret + "x"}, {"nobody", s3test.Secret}} {
		bad, err := New(Config{
			Endpoint: gw.Addr(t), Region: s3test.Region, Bucket: good.bucket,
			AccessKey: creds[0], SecretKey: creds[1], PathStyle: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := bad.Check(ctx); err == nil {
			t.Errorf("Check with %q/%q succeeded", creds[0], creds[1])
		}
		if _, err := bad.Put(ctx, "k2", strings.NewReader("v"), 1, ""); err == nil {
			t.Errorf("Put with %q/%q succeeded", creds[0], creds[1])
		}
		if _, _, err := bad.Get(ctx, "k", nil); err == nil || errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Get with %q/%q: %v, want an auth error", creds[0], creds[1], err)
		}
		// A HEAD answer has no body; versitygw answers an unknown key id
		// with 404, so only "not a success" can be asked of Head.
		if _, err := bad.Head(ctx, "k"); err == nil {
			t.Errorf("Head with %q/%q succeeded", creds[0], creds[1])
		}
		if err := bad.Delete(ctx, "k"); err == nil {
			t.Errorf("Delete with %q/%q succeeded", creds[0], creds[1])
		}
	}
	if _, err := good.Head(ctx, "k"); err != nil {
		t.Errorf("object gone after refused requests: %v", err)
	}
	if _, err := good.Head(ctx, "k2"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("refused Put stored an object: %v", err)
	}
}

func TestMissingBucket(t *testing.T) {
	addr := gw.Addr(t)
	s, err := New(Config{Endpoint: addr, Region: s3test.Region, Bucket: "no-such-bucket", AccessKey: s3test.Access, SecretKey: s3test.Secret, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(t.Context()); err == nil {
		t.Error("Check passed on a missing bucket")
	}
	// A missing bucket is a configuration error, not a missing object.
	if _, _, err := s.Get(t.Context(), "k", nil); err == nil || errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Get in missing bucket: %v, want a non-NotFound error", err)
	}
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []Config{
		{Bucket: "b"},
		{Endpoint: "localhost:9000"},
		{Endpoint: "ftp://x", Bucket: "b"},
		{Endpoint: "http://x/path", Bucket: "b"},
		{Endpoint: "x", Bucket: "b", PartSize: 1 << 20},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestParseContentRange(t *testing.T) {
	s, e, n, err := parseContentRange("bytes 10-19/100")
	if err != nil || s != 10 || e != 19 || n != 100 {
		t.Errorf("got %d %d %d %v", s, e, n, err)
	}
	for _, v := range []string{"", "bytes */100", "bytes 5-4/100", "bytes 0-100/100", "items 0-1/2", "bytes a-1/2"} {
		if _, _, _, err := parseContentRange(v); err == nil {
			t.Errorf("%q accepted", v)
		}
	}
}
