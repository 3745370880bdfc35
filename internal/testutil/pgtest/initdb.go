package pgtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// initdbArgs are initdb's flags after -D <dir>; part of the cache key.
func initdbArgs() []string {
	return []string{"-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync",
		// 1 MB instead of 16 MB of WAL to copy for every cluster.
		"--wal-segsize=1"}
}

// hbaConf trusts every local and host connection, replication included.
// initdb -A trust already does; it is written anyway so the contract does
// not rest on initdb's defaults.
const hbaConf = "local all all trust\n" +
	"host all all 127.0.0.1/32 trust\n" +
	"host all all ::1/128 trust\n" +
	"local replication all trust\n" +
	"host replication all 127.0.0.1/32 trust\n" +
	"host replication all ::1/128 trust\n"

// initdbError marks a failure of initdb itself, as opposed to the cache.
type initdbError struct{ err error }

func (e *initdbError) Error() string { return e.err.Error() }
func (e *initdbError) Unwrap() error { return e.err }

// initdb fills c.dataDir with a fresh cluster. initdb takes seconds, most of
// a test package's setup, so it runs once per machine (and PostgreSQL build)
// into a cache directory beside the clusters, and each Start copies that,
// which takes a fraction of the time. Test packages starting in parallel
// wait on a file lock for whichever of them builds the cache. Any trouble
// with the cache falls back to a private initdb.
func (c *Cluster) initdb(ctx context.Context, base string) error {
	cache, err := c.cachedInitdb(ctx, base)
	if err == nil {
		if err = copyCache(cache, c.dataDir, c.cred); err == nil {
			return nil
		}
		_ = os.RemoveAll(c.dataDir)
	}
	var ie *initdbError
	if errors.As(err, &ie) || ctx.Err() != nil {
		return err // a private initdb would fail the same way
	}
	return c.runInitdb(ctx, c.dataDir)
}

func (c *Cluster) runInitdb(ctx context.Context, dataDir string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, "initdb"), append([]string{"-D", dataDir}, initdbArgs()...)...)
	cmd.Dir = filepath.Dir(dataDir) // initdb complains when it cannot access its working directory
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return &initdbError{fmt.Errorf("pgtest: initdb: %w\n%s", err, tail(out, 2048))}
	}
	path := filepath.Join(dataDir, "pg_hba.conf")
	if err := os.WriteFile(path, []byte(hbaConf), 0o600); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return c.chown(path)
}

// cachedInitdb returns a pristine data directory to copy, building it first
// if this machine has none for this PostgreSQL build and user.
func (c *Cluster) cachedInitdb(ctx context.Context, base string) (string, error) {
	key, err := c.cacheKey()
	if err != nil {
		return "", err
	}
	// Not "pgtest-…": removeStale must leave the cache alone.
	dir := filepath.Join(base, "pgtestcache-"+key)
	if c.usableCache(dir) {
		return dir, nil
	}
	unlock, err := lockFile(ctx, dir+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if c.usableCache(dir) {
		return dir, nil // built by another package while we waited
	}
	// Build under a "pgtest-" name with an owner.pid, so that removeStale
	// cleans up after a run killed half-way.
	build, err := os.MkdirTemp(base, "pgtest-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(build)
	if err := os.WriteFile(filepath.Join(build, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return "", err
	}
	if err := c.chown(build); err != nil {
		return "", err
	}
	data := filepath.Join(build, "data")
	if err := c.runInitdb(ctx, data); err != nil {
		return "", err
	}
	files, size, err := treeSize(data)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(data, manifestName), fmt.Appendf(nil, "%d %d\n", files, size), 0o644); err != nil {
		return "", err
	}
	// The rename publishes the cache only once it is complete.
	if err := os.Rename(data, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// cacheKey changes whenever the PostgreSQL binaries, the initdb settings or
// the user the server runs as change.
func (c *Cluster) cacheKey() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "pgtest cache v2\n%s\n%d\n%q\n%q\n", c.bin, c.uid(), initdbArgs(), hbaConf)
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(c.bin, name))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d %d\n", name, fi.Size(), fi.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// usableCache accepts only a real directory owned by the server's user, so a
// stranger's look-alike in a shared /tmp is never copied.
func (c *Cluster) usableCache(dir string) bool {
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) != c.uid() {
		return false
	}
	_, err = os.Stat(filepath.Join(dir, manifestName))
	return err == nil
}

// manifestName is a file in the cache's top directory recording how many
// files and bytes the rest of it holds. It is not copied into clusters.
const manifestName = "pgtest_cache_manifest"

// copyCache copies the cached data directory to dst and checks the copy
// against the cache's manifest. A cache found incomplete (say, a /tmp
// cleaner removed old files from it) is deleted so that the next Start
// rebuilds it.
func copyCache(cache, dst string, cred *syscall.Credential) error {
	manifest, err := os.ReadFile(filepath.Join(cache, manifestName))
	if err != nil {
		return err
	}
	var wantFiles, wantSize int64
	if _, err := fmt.Sscan(string(manifest), &wantFiles, &wantSize); err != nil {
		return fmt.Errorf("cache manifest: %w", err)
	}
	files, size, err := copyTree(cache, dst, cred)
	if err != nil {
		return err
	}
	if files != wantFiles || size != wantSize {
		// Move it aside first so no one starts copying it meanwhile.
		broken := fmt.Sprintf("%s.broken-%d", cache, os.Getpid())
		if os.Rename(cache, broken) == nil {
			_ = os.RemoveAll(broken)
		}
		return fmt.Errorf("initdb cache %s is incomplete (%d files, %d bytes; want %d, %d)", cache, files, size, wantFiles, wantSize)
	}
	return nil
}

// treeSize counts the regular files under dir and their bytes.
func treeSize(dir string) (files, size int64, err error) {
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files++
		size += info.Size()
		return nil
	})
	return files, size, err
}

func (c *Cluster) uid() int {
	if c.cred != nil {
		return int(c.cred.Uid)
	}
	return os.Geteuid()
}

// lockFile takes an exclusive flock on path, waiting until ctx is done.
// Closing the file (the returned func) releases it, as does process death.
func lockFile(ctx context.Context, path string) (func(), error) {
	// Open before create: with protected_regular, O_CREAT on another user's
	// existing file in a sticky directory (/tmp, /dev/shm) fails even if
	// the file could be opened.
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o644)
	}
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// copyTree copies a data directory (plain files and directories only; the
// cache manifest left out), keeping permission bits, and gives the copy to
// cred's user if set. It returns the number of files and bytes copied.
func copyTree(src, dst string, cred *syscall.Credential) (files, size int64, err error) {
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if rel == manifestName {
			return nil
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.Mkdir(target, info.Mode().Perm()); err != nil {
				return err
			}
			// Mkdir's mode is filtered by the umask; postgres insists on
			// exactly 0700 or 0750 for the data directory.
			if err := os.Chmod(target, info.Mode().Perm()); err != nil {
				return err
			}
		case d.Type().IsRegular():
			if err := copyFile(path, target, info.Mode().Perm()); err != nil {
				return err
			}
			files++
			size += info.Size()
		default:
			return fmt.Errorf("unexpected file type in cache: %s (%s)", path, strings.TrimSpace(info.Mode().Type().String()))
		}
		if cred != nil {
			return os.Lchown(target, int(cred.Uid), int(cred.Gid))
		}
		return nil
	})
	return files, size, err
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
