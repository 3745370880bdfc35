package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/madbase/madbase/internal/storage/blob"
	"github.com/madbase/madbase/internal/storage/blob/blobtest"
)

const (
	testAccess = "madbase-test-access"
	testSecret = "madbase-test-secret-0123456789"
	testRegion = "us-east-1"
)

// gateway is one versitygw process shared by the package's tests.
type gateway struct {
	once     sync.Once
	cmd      *exec.Cmd
	exited   chan error // receives cmd.Wait's result
	endpoint string
	dir      string
	err      error // why there is no gateway
	skip     bool  // err means "not installed" rather than "broken"
}

var gw gateway // test-only process state, stopped by TestMain

func TestMain(m *testing.M) {
	code := m.Run()
	if gw.cmd != nil {
		_ = gw.cmd.Process.Kill()
		<-gw.exited
	}
	if gw.dir != "" {
		_ = os.RemoveAll(gw.dir)
	}
	os.Exit(code)
}

// versitygwPath finds the binary that scripts/versitygw.sh installs.
func versitygwPath() (string, error) {
	cache := os.Getenv("MADBASE_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(home, ".cache", "madbase")
	}
	p := filepath.Join(cache, "bin", "versitygw")
	if _, err := os.Stat(p); err != nil {
		if lp, lerr := exec.LookPath("versitygw"); lerr == nil {
			return lp, nil
		}
		return "", fmt.Errorf("versitygw not found at %s nor on PATH (run scripts/versitygw.sh)", p)
	}
	return p, nil
}

// startGateway runs versitygw with its POSIX backend on a free loopback port.
func startGateway() {
	bin, err := versitygwPath()
	if err != nil {
		gw.err, gw.skip = err, true
		return
	}
	gw.dir, err = os.MkdirTemp("", "madbase-versitygw-")
	if err != nil {
		gw.err = err
		return
	}
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			gw.err = err
			return
		}
		addr := net.JoinHostPort("127.0.0.1", port)
		cmd := exec.Command(bin, "--port", addr, "--region", testRegion, "--quiet", "posix", gw.dir)
		cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+testAccess, "ROOT_SECRET_ACCESS_KEY="+testSecret)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			gw.err = err
			return
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if err := waitReady(addr, exited); err != nil {
			_ = cmd.Process.Kill()
			<-exited
			gw.err = fmt.Errorf("versitygw: %w; output:\n%s", err, out.String())
			continue
		}
		gw.cmd, gw.exited, gw.endpoint, gw.err = cmd, exited, addr, nil
		return
	}
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}

func waitReady(addr string, exited <-chan error) error {
	c, err := rawClient(addr, testAccess, testSecret)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited early: %v", err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err = c.ListBuckets(ctx)
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready: %v", err)
}

func rawClient(addr, access, secret string) (*minio.Client, error) {
	return minio.New(addr, &minio.Options{
		Creds:        credentials.NewStaticV4(access, secret, ""),
		Region:       testRegion,
		BucketLookup: minio.BucketLookupPath,
	})
}

// endpoint returns the running gateway, skipping the test when versitygw
// is not installed unless MADBASE_REQUIRE_S3 says it must be.
func endpoint(t *testing.T) string {
	t.Helper()
	gw.once.Do(startGateway)
	if gw.err != nil {
		if gw.skip && os.Getenv("MADBASE_REQUIRE_S3") == "" {
			t.Skipf("S3 tests skipped: %v; set MADBASE_REQUIRE_S3=1 to make this a failure", gw.err)
		}
		t.Fatal(gw.err)
	}
	return gw.endpoint
}

// newBucket creates an empty bucket and a Store on it.
func newBucket(t *testing.T) *Store {
	t.Helper()
	addr := endpoint(t)
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	bucket := "t-" + hex.EncodeToString(rnd[:])
	c, err := rawClient(addr, testAccess, testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.MakeBucket(t.Context(), bucket, minio.MakeBucketOptions{Region: testRegion}); err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	s, err := New(Config{
		Endpoint: "http://" + addr, Region: testRegion, Bucket: bucket,
		AccessKey: testAccess, SecretKey: testSecret, PathStyle: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	endpoint(t)
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
	for _, creds := range [][2]string{{testAccess, testSecret + "x"}, {"nobody", testSecret}} {
		bad, err := New(Config{
			Endpoint: gw.endpoint, Region: testRegion, Bucket: good.bucket,
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
	addr := endpoint(t)
	s, err := New(Config{Endpoint: addr, Region: testRegion, Bucket: "no-such-bucket", AccessKey: testAccess, SecretKey: testSecret, PathStyle: true})
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
