package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/madbase/madbase/internal/testutil/pgtest"
)

// The gateway's root credentials and region.
const (
	Access = "madbase-test-access"
	Secret = "madbase-test-secret-0123456789"
	Region = "us-east-1"
)

// Gateway is one versitygw process; the zero value is ready to use.
type Gateway struct {
	once   sync.Once
	cmd    *exec.Cmd
	exited chan error // receives cmd.Wait's result
	addr   string
	dir    string
	err    error // why there is no gateway
	skip   bool  // err means "not installed" rather than "broken"
}

// Addr returns the running gateway's host:port, starting it on first use.
// Without versitygw the test is skipped, unless MADBASE_REQUIRE_S3 is set.
func (g *Gateway) Addr(t testing.TB) string {
	t.Helper()
	g.once.Do(g.start)
	if g.err != nil {
		if g.skip && os.Getenv("MADBASE_REQUIRE_S3") == "" {
			t.Skipf("S3 tests skipped: %v; set MADBASE_REQUIRE_S3=1 to make this a failure", g.err)
		}
		t.Fatal(g.err)
	}
	return g.addr
}

// Client returns a client of the gateway with the root credentials.
func (g *Gateway) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := Client(g.Addr(t), Access, Secret)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// NewBucket makes an empty bucket named prefix + random hex.
func (g *Gateway) NewBucket(t testing.TB, prefix string) string {
	t.Helper()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	bucket := prefix + hex.EncodeToString(rnd[:])
	if err := g.Client(t).MakeBucket(t.Context(), bucket, minio.MakeBucketOptions{Region: Region}); err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	return bucket
}

// Stop ends the process and removes its data; for TestMain.
func (g *Gateway) Stop() {
	if g.cmd != nil {
		_ = g.cmd.Process.Kill()
		<-g.exited
	}
	if g.dir != "" {
		_ = os.RemoveAll(g.dir)
	}
}

// Client returns a path-style client of the S3 server at addr.
func Client(addr, access, secret string) (*minio.Client, error) {
	return minio.New(addr, &minio.Options{
		Creds:        credentials.NewStaticV4(access, secret, ""),
		Region:       Region,
		BucketLookup: minio.BucketLookupPath,
	})
}

// Path finds the versitygw binary: MADBASE_VERSITYGW, else where
// scripts/versitygw.sh installs it (MADBASE_CACHE, default
// ~/.cache/madbase, under bin/), else PATH.
func Path() (string, error) {
	if p := os.Getenv("MADBASE_VERSITYGW"); p != "" {
		return p, nil
	}
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

// start runs versitygw with its POSIX backend on a free loopback port.
func (g *Gateway) start() {
	bin, err := Path()
	if err != nil {
		g.err, g.skip = err, true
		return
	}
	if g.dir, err = os.MkdirTemp("", "madbase-versitygw-"); err != nil {
		g.err = err
		return
	}
	for range 3 {
		port, err := pgtest.FreePort()
		if err != nil {
			g.err = err
			return
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		cmd := exec.Command(bin, "--port", addr, "--region", Region, "--quiet", "posix", g.dir)
		cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+Access, "ROOT_SECRET_ACCESS_KEY="+Secret)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			g.err = err
			return
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if err := waitReady(addr, exited); err != nil {
			_ = cmd.Process.Kill()
			<-exited
			g.err = fmt.Errorf("versitygw: %w; output:\n%s", err, out.String())
			continue
		}
		g.cmd, g.exited, g.addr, g.err = cmd, exited, addr, nil
		return
	}
}

func waitReady(addr string, exited <-chan error) error {
	c, err := Client(addr, Access, Secret)
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
