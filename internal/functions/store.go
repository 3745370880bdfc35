package functions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/madbase/madbase/internal/pg"
	"github.com/madbase/madbase/internal/secret"
)

// errNoFunction: no such function (or version) in the project.
var errNoFunction = errors.New("functions: no such function")

// Function is a deployed function at its active version.
type Function struct {
	Ref      string
	Name     string
	Version  int
	SHA256   string
	Size     int64
	Manifest Manifest // Env decrypted
	// CreatedAt is when the active version was deployed; UpdatedAt when the
	// function last changed (deploy or rollback).
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Version is one deployed version of a function.
type Version struct {
	Version   int       `json:"version"`
	SHA256    string    `json:"sha256"`
	Size      int64     `json:"size"`
	VerifyJWT bool      `json:"verify_jwt"`
	Limits    Limits    `json:"limits"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
}

// store keeps functions in the control database and module bytes on disk.
type store struct {
	pool *pgxpool.Pool
	box  *secret.Box
	dir  string // MADBASE_DATA_DIR/functions
}

func envAAD(ref, name string, version int) string {
	return "function:" + ref + ":" + name + ":" + strconv.Itoa(version)
}

func digest(wasm []byte) string {
	s := sha256.Sum256(wasm)
	return hex.EncodeToString(s[:])
}

// deploy records wasm (whose digest is sum) as the next version of ref/name
// and makes it active.
func (s *store) deploy(ctx context.Context, ref, name string, wasm []byte, sum string, man Manifest) (*Function, error) {
	env := man.Env
	man.Env = nil
	mj, err := json.Marshal(man)
	if err != nil {
		return nil, err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `insert into control.function_blobs (sha256, wasm, size) values ($1, $2, $3)
		on conflict (sha256) do nothing`, sum, wasm, len(wasm)); err != nil {
		return nil, fmt.Errorf("functions: store module: %w", err)
	}
	// The upsert locks the function's row, so concurrent deploys of one
	// function number their versions one after the other.
	var created time.Time
	if err := tx.QueryRow(ctx, `insert into control.functions (project_ref, name, version) values ($1, $2, 0)
		on conflict (project_ref, name) do update set updated_at = now() returning created_at`, ref, name).Scan(&created); err != nil {
		if pg.Code(err) == "23503" {
			return nil, errNoProject
		}
		return nil, err
	}
	var v int
	if err := tx.QueryRow(ctx, `select coalesce(max(version), 0) + 1 from control.function_versions
		where project_ref = $1 and name = $2`, ref, name).Scan(&v); err != nil {
		return nil, err
	}
	envEnc := ""
	if len(env) > 0 {
		ej, _ := json.Marshal(env)
		envEnc = s.box.Seal(string(ej), envAAD(ref, name, v))
	}
	var at time.Time
	if err := tx.QueryRow(ctx, `insert into control.function_versions (project_ref, name, version, sha256, size, manifest, env_enc)
		values ($1, $2, $3, $4, $5, $6, $7) returning created_at`, ref, name, v, sum, len(wasm), mj, envEnc).Scan(&at); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `update control.functions set version = $3, updated_at = now() where project_ref = $1 and name = $2`, ref, name, v); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	man.Env = env
	return &Function{Ref: ref, Name: name, Version: v, SHA256: sum, Size: int64(len(wasm)), Manifest: man, CreatedAt: at, UpdatedAt: at}, nil
}

const selectFunction = `select f.name, f.version, v.sha256, v.size, v.manifest, v.env_enc, v.created_at, f.updated_at
	from control.functions f join control.function_versions v
	on v.project_ref = f.project_ref and v.name = f.name and v.version = f.version
	where f.project_ref = $1`

func (s *store) scanFunction(ref string, row pgx.Row) (*Function, error) {
	f := &Function{Ref: ref}
	var mj []byte
	var envEnc string
	if err := row.Scan(&f.Name, &f.Version, &f.SHA256, &f.Size, &mj, &envEnc, &f.CreatedAt, &f.UpdatedAt); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, errNoFunction
		}
		return nil, err
	}
	if err := json.Unmarshal(mj, &f.Manifest); err != nil {
		return nil, fmt.Errorf("functions: manifest of %s/%s v%d: %w", ref, f.Name, f.Version, err)
	}
	if envEnc != "" {
		ej, err := s.box.Open(envEnc, envAAD(ref, f.Name, f.Version))
		if err != nil {
			return nil, fmt.Errorf("functions: env of %s/%s v%d: %w", ref, f.Name, f.Version, err)
		}
		if err := json.Unmarshal([]byte(ej), &f.Manifest.Env); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// function returns ref/name at its active version.
func (s *store) function(ctx context.Context, ref, name string) (*Function, error) {
	return s.scanFunction(ref, s.pool.QueryRow(ctx, selectFunction+" and f.name = $2", ref, name))
}

// list returns a project's functions by name.
func (s *store) list(ctx context.Context, ref string) ([]*Function, error) {
	rows, err := s.pool.Query(ctx, selectFunction+" order by f.name", ref)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Function
	for rows.Next() {
		f, err := s.scanFunction(ref, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// versions lists ref/name's versions, newest first.
func (s *store) versions(ctx context.Context, ref, name string) ([]Version, error) {
	rows, err := s.pool.Query(ctx, `select v.version, v.sha256, v.size, v.manifest, v.created_at, v.version = f.version
		from control.function_versions v join control.functions f on f.project_ref = v.project_ref and f.name = v.name
		where v.project_ref = $1 and v.name = $2 order by v.version desc`, ref, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Version{}
	for rows.Next() {
		var v Version
		var mj []byte
		if err := rows.Scan(&v.Version, &v.SHA256, &v.Size, &mj, &v.CreatedAt, &v.Active); err != nil {
			return nil, err
		}
		var m Manifest
		if err := json.Unmarshal(mj, &m); err != nil {
			return nil, err
		}
		v.VerifyJWT, v.Limits = m.verifyJWT(), m.Limits
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errNoFunction
	}
	return out, nil
}

// rollback makes version the active version of ref/name.
func (s *store) rollback(ctx context.Context, ref, name string, version int) error {
	tag, err := s.pool.Exec(ctx, `update control.functions f set version = $3, updated_at = now()
		where project_ref = $1 and name = $2 and exists (select 1 from control.function_versions v
		where v.project_ref = f.project_ref and v.name = f.name and v.version = $3)`, ref, name, version)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errNoFunction
	}
	return nil
}

// delete removes ref/name and all its versions.
func (s *store) delete(ctx context.Context, ref, name string) error {
	tag, err := s.pool.Exec(ctx, `delete from control.functions where project_ref = $1 and name = $2`, ref, name)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errNoFunction
	}
	return nil
}

// collect deletes the blobs no version refers to any more, and their files.
func (s *store) collect(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, `delete from control.function_blobs b
		where not exists (select 1 from control.function_versions v where v.sha256 = b.sha256) returning sha256`)
	if err != nil {
		// A deploy reusing a blob may commit in between (foreign key
		// violation): the blob is referenced again, so nothing is lost.
		if pg.Code(err) == "23503" {
			return nil
		}
		return err
	}
	defer rows.Close()
	var gone []string
	for rows.Next() {
		var sum string
		if err := rows.Scan(&sum); err != nil {
			return err
		}
		gone = append(gone, sum)
	}
	if err := rows.Err(); err != nil {
		if pg.Code(err) == "23503" {
			return nil
		}
		return err
	}
	for _, sum := range gone {
		_ = os.Remove(s.path(sum))
	}
	return nil
}

func (s *store) path(sum string) string { return filepath.Join(s.dir, sum+".wasm") }

// save writes a module's bytes to the node's content-addressed file.
func (s *store) save(sum string, wasm []byte) error {
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.dir, sum+".*.tmp")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(wasm)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	// Rename is atomic: readers see the whole file or none.
	return os.Rename(tmp.Name(), s.path(sum))
}

// load returns a module's bytes: from the node's file, else from the control
// database (deployed through another node, or the file was lost), caching
// them in the file.
func (s *store) load(ctx context.Context, sum string) ([]byte, error) {
	if b, err := os.ReadFile(s.path(sum)); err == nil && digest(b) == sum {
		return b, nil
	}
	var b []byte
	if err := s.pool.QueryRow(ctx, `select wasm from control.function_blobs where sha256 = $1`, sum).Scan(&b); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("functions: module %s is gone", sum)
		}
		return nil, err
	}
	_ = s.save(sum, b)
	return b, nil
}
