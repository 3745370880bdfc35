package control

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/madbase/madbase/internal/migrate"
	"github.com/madbase/madbase/internal/pg"
	"github.com/madbase/madbase/internal/secret"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Schema is where the control plane keeps its tables.
const Schema = "control"

// NotifyChannel carries the ref of a project whose row changed.
const NotifyChannel = "madbase_project_changed"

// ErrNotFound is returned for an unknown project.
var ErrNotFound = errors.New("control: project not found")

// ErrExists is returned when creating a project whose ref is taken.
var ErrExists = errors.New("control: project already exists")

// Status of a project.
const (
	StatusActive   = "active"
	StatusDisabled = "disabled"
	StatusDeleted  = "deleted"
)

// Project is one tenant as the control plane knows it, secrets decrypted.
type Project struct {
	Ref            string
	Name           string
	Status         string
	DBURL          string
	JWTSecret      string
	AnonKey        string
	ServiceRoleKey string
	PublishableKey string
	SecretKey      string
	// OldJWTSecret keeps verifying tokens until OldJWTSecretUntil after a rotation.
	OldJWTSecret      string
	OldJWTSecretUntil time.Time
	// Settings holds sections (auth, storage, functions, realtime, rest, api_url…);
	// each surface decodes its own section.
	Settings  map[string]json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Section decodes settings section name into v; absent sections leave v as is.
func (p *Project) Section(name string, v any) error {
	raw, ok := p.Settings[name]
	if !ok || len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return json.Unmarshal(raw, v)
}

// Store reads and writes the control database.
type Store struct {
	pool *pgxpool.Pool
	box  *secret.Box
}

// Open connects to the control database.
func Open(ctx context.Context, url string, box *secret.Box) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	cfg.MaxConns = 10
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	return &Store{pool: pool, box: box}, nil
}

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// Pool is the control database pool, for surfaces that keep their own
// control tables (function artifacts, replication positions).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Box is the encryption box, for surfaces that store secrets of their own.
func (s *Store) Box() *secret.Box { return s.box }

// Ping checks the control database is reachable.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Migrate applies the control plane's migrations.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	ms, err := migrate.Load(migrations, "migrations")
	if err != nil {
		return 0, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("control: %w", err)
	}
	defer conn.Release()
	return migrate.Up(ctx, conn.Conn(), Schema, "schema_migrations", ms)
}

// KeyHash is how opaque keys are looked up.
func KeyHash(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

func aad(ref, column string) string { return "project:" + ref + ":" + column }

const projectColumns = `ref, name, status, db_url_enc, jwt_secret_enc, anon_key_enc, service_role_key_enc,
	publishable_key_enc, secret_key_enc, coalesce(old_jwt_secret_enc, ''), coalesce(old_jwt_secret_until, 'epoch'),
	settings, created_at, updated_at`

func (s *Store) scan(row pgx.Row) (*Project, error) {
	p := &Project{}
	var enc [7]string
	var settings []byte
	err := row.Scan(&p.Ref, &p.Name, &p.Status, &enc[0], &enc[1], &enc[2], &enc[3], &enc[4], &enc[5], &enc[6],
		&p.OldJWTSecretUntil, &settings, &p.CreatedAt, &p.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	cols := []struct {
		dst *string
		col string
	}{{&p.DBURL, "db_url"}, {&p.JWTSecret, "jwt_secret"}, {&p.AnonKey, "anon_key"}, {&p.ServiceRoleKey, "service_role_key"},
		{&p.PublishableKey, "publishable_key"}, {&p.SecretKey, "secret_key"}, {&p.OldJWTSecret, "old_jwt_secret"}}
	for i, c := range cols {
		if enc[i] == "" {
			continue
		}
		v, err := s.box.Open(enc[i], aad(p.Ref, c.col))
		if err != nil {
			return nil, fmt.Errorf("control: project %s %s: %w", p.Ref, c.col, err)
		}
		*c.dst = v
	}
	if err := json.Unmarshal(settings, &p.Settings); err != nil {
		return nil, fmt.Errorf("control: project %s settings: %w", p.Ref, err)
	}
	if p.Settings == nil {
		p.Settings = map[string]json.RawMessage{}
	}
	return p, nil
}

// Project returns the project with ref, including disabled and soft-deleted ones.
func (s *Store) Project(ctx context.Context, ref string) (*Project, error) {
	return s.scan(s.pool.QueryRow(ctx, "select "+projectColumns+" from control.projects where ref = $1", ref))
}

// ProjectByKey finds the project owning an opaque sb_ key.
func (s *Store) ProjectByKey(ctx context.Context, key string) (*Project, error) {
	h := KeyHash(key)
	return s.scan(s.pool.QueryRow(ctx, "select "+projectColumns+
		" from control.projects where publishable_key_hash = $1 or secret_key_hash = $1", h))
}

// Projects lists projects ordered by ref; soft-deleted ones only when asked.
func (s *Store) Projects(ctx context.Context, withDeleted bool) ([]*Project, error) {
	rows, err := s.pool.Query(ctx, "select "+projectColumns+
		" from control.projects where $1 or status <> 'deleted' order by ref", withDeleted)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Project
	for rows.Next() {
		p, err := s.scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

func (s *Store) sealAll(p *Project) []any {
	seal := func(v, col string) any {
		if v == "" {
			return nil
		}
		return s.box.Seal(v, aad(p.Ref, col))
	}
	var until any
	if !p.OldJWTSecretUntil.IsZero() && p.OldJWTSecretUntil.Unix() > 0 {
		until = p.OldJWTSecretUntil
	}
	settings, _ := json.Marshal(p.Settings)
	if p.Settings == nil {
		settings = []byte("{}")
	}
	return []any{p.Ref, p.Name, p.Status, seal(p.DBURL, "db_url"), seal(p.JWTSecret, "jwt_secret"),
		seal(p.AnonKey, "anon_key"), seal(p.ServiceRoleKey, "service_role_key"),
		seal(p.PublishableKey, "publishable_key"), seal(p.SecretKey, "secret_key"),
		KeyHash(p.PublishableKey), KeyHash(p.SecretKey), seal(p.OldJWTSecret, "old_jwt_secret"), until, settings}
}

// Create inserts a new project row.
func (s *Store) Create(ctx context.Context, p *Project) error {
	_, err := s.pool.Exec(ctx, `insert into control.projects (ref, name, status, db_url_enc, jwt_secret_enc,
		anon_key_enc, service_role_key_enc, publishable_key_enc, secret_key_enc, publishable_key_hash, secret_key_hash,
		old_jwt_secret_enc, old_jwt_secret_until, settings)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`, s.sealAll(p)...)
	if pg.Code(err) == "23505" {
		return ErrExists
	}
	if err != nil {
		return err
	}
	return s.notify(ctx, p.Ref)
}

// Update writes every mutable field of p.
func (s *Store) Update(ctx context.Context, p *Project) error {
	tag, err := s.pool.Exec(ctx, `update control.projects set name = $2, status = $3, db_url_enc = $4,
		jwt_secret_enc = $5, anon_key_enc = $6, service_role_key_enc = $7, publishable_key_enc = $8,
		secret_key_enc = $9, publishable_key_hash = $10, secret_key_hash = $11, old_jwt_secret_enc = $12,
		old_jwt_secret_until = $13, settings = $14, updated_at = now(),
		deleted_at = case when $3 = 'deleted' then coalesce(deleted_at, now()) else null end
		where ref = $1`, s.sealAll(p)...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return s.notify(ctx, p.Ref)
}

// Delete removes a project row for good (secrets cascade).
func (s *Store) Delete(ctx context.Context, ref string) error {
	tag, err := s.pool.Exec(ctx, "delete from control.projects where ref = $1", ref)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return s.notify(ctx, ref)
}

func (s *Store) notify(ctx context.Context, ref string) error {
	_, err := s.pool.Exec(ctx, "select pg_notify($1, $2)", NotifyChannel, ref)
	return err
}

// Listen calls fn with the ref of every project changed by any node, until
// ctx ends. It reconnects on connection loss, calling fn("") after each
// reconnect so callers drop caches that may have missed notifications.
func (s *Store) Listen(ctx context.Context, fn func(ref string)) error {
	for {
		err := s.listenOnce(ctx, fn)
		if ctx.Err() != nil {
			return nil
		}
		_ = err
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
		fn("")
	}
}

func (s *Store) listenOnce(ctx context.Context, fn func(ref string)) error {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A LISTENing connection must not go back to the pool.
	conn := pc.Hijack()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "listen "+pgx.Identifier{NotifyChannel}.Sanitize()); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		fn(n.Payload)
	}
}
