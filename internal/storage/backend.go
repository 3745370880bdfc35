package storage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/google/uuid"

	"github.com/madbase/madbase/internal/control"
	"github.com/madbase/madbase/internal/storage/blob"
	"github.com/madbase/madbase/internal/storage/file"
	"github.com/madbase/madbase/internal/storage/s3"
)

// DefaultFileSizeLimit is the global per-object limit when a project sets
// none: 50 MiB, as Supabase's default.
const DefaultFileSizeLimit = 50 << 20

// Settings is a project's "storage" settings section.
type Settings struct {
	// Backend is "file" (default) or "s3".
	Backend string `json:"backend"`
	S3      struct {
		Endpoint  string `json:"endpoint"`
		Region    string `json:"region"`
		Bucket    string `json:"bucket"`
		AccessKey string `json:"access_key"`
		SecretKey string `json:"secret_key"`
		PathStyle bool   `json:"path_style"`
		TLS       bool   `json:"tls"`
	} `json:"s3"`
	// FileSizeLimit is the global per-object limit in bytes (0: default).
	FileSizeLimit int64 `json:"file_size_limit"`
}

// backend is where one project's bytes live.
type backend struct {
	store  blob.Store
	prefix string // prepended to every blob key
	limit  int64  // global per-object limit
	raw    string // the settings it was built from
}

// blobKey is the store key of an object version. It contains no user input.
func (b *backend) blobKey(version string) string {
	return b.prefix + "objects/" + version[:2] + "/" + version
}

// backends caches one backend per project.
type backends struct {
	dataDir      string
	defaultLimit int64
	mu           sync.Mutex
	m            map[string]*backend
}

func (bs *backends) forget(ref string) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if ref == "" {
		bs.m = map[string]*backend{}
		return
	}
	delete(bs.m, ref)
}

// get returns p's backend, building it when p's settings changed.
func (bs *backends) get(ctx context.Context, p *control.Project) (*backend, error) {
	raw := string(p.Settings["storage"])
	bs.mu.Lock()
	defer bs.mu.Unlock()
	if b, ok := bs.m[p.Ref]; ok && b.raw == raw {
		return b, nil
	}
	var cfg Settings
	if err := p.Section("storage", &cfg); err != nil {
		return nil, fmt.Errorf("storage settings of %s: %w", p.Ref, err)
	}
	b := &backend{raw: raw, limit: cfg.FileSizeLimit}
	if b.limit <= 0 {
		b.limit = bs.defaultLimit
	}
	switch cfg.Backend {
	case "", "file":
		dir := filepath.Join(bs.dataDir, "storage", p.Ref)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("storage dir: %w", err)
		}
		st, err := file.New(dir)
		if err != nil {
			return nil, err
		}
		b.store = st
	case "s3":
		c := cfg.S3
		st, err := s3.New(s3.Config{Endpoint: c.Endpoint, Region: c.Region, Bucket: c.Bucket,
			AccessKey: c.AccessKey, SecretKey: c.SecretKey, PathStyle: c.PathStyle, TLS: c.TLS})
		if err != nil {
			return nil, fmt.Errorf("s3 backend of %s: %w", p.Ref, err)
		}
		b.store, b.prefix = st, p.Ref+"/"
	default:
		return nil, fmt.Errorf("storage backend %q of %s is unknown", cfg.Backend, p.Ref)
	}
	if bs.m == nil {
		bs.m = map[string]*backend{}
	}
	bs.m[p.Ref] = b
	return b, nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string { return uuid.NewString() }

// isUUID reports whether s is a UUID in canonical 36-character form (the form
// a uuid column's text cast round-trips).
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}
