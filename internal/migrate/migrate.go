package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Migration is one SQL file.
type Migration struct {
	Version string // file name without .sql, e.g. "0001_projects"
	SQL     string
	Sum     string
}

// Load reads *.sql files from dir in fsys, ordered by name.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		ms = append(ms, Migration{Version: strings.TrimSuffix(e.Name(), ".sql"), SQL: string(b), Sum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Up applies the migrations not yet recorded in schema.table and returns how
// many it applied. Running it again is a no-op.
func Up(ctx context.Context, conn *pgx.Conn, schema, table string, ms []Migration) (int, error) {
	tbl := pgx.Identifier{schema, table}.Sanitize()
	lockKey := "madbase.migrate." + schema + "." + table
	if _, err := conn.Exec(ctx, "select pg_advisory_lock(hashtext($1))", lockKey); err != nil {
		return 0, fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		// The lock is session-level; release on a fresh context so a cancelled
		// ctx cannot leave it held on a pooled connection.
		_, _ = conn.Exec(context.WithoutCancel(ctx), "select pg_advisory_unlock(hashtext($1))", lockKey)
	}()
	if _, err := conn.Exec(ctx, "create schema if not exists "+pgx.Identifier{schema}.Sanitize()+
		"; create table if not exists "+tbl+" (version text primary key, checksum text not null, applied_at timestamptz not null default now())"); err != nil {
		return 0, fmt.Errorf("migrate: bookkeeping table: %w", err)
	}
	applied := map[string]string{}
	rows, err := conn.Query(ctx, "select version, checksum from "+tbl)
	if err != nil {
		return 0, fmt.Errorf("migrate: read versions: %w", err)
	}
	for rows.Next() {
		var v, s string
		if err := rows.Scan(&v, &s); err != nil {
			return 0, err
		}
		applied[v] = s
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	n := 0
	for _, m := range ms {
		if sum, ok := applied[m.Version]; ok {
			if sum != m.Sum {
				return n, fmt.Errorf("migrate: %s was changed after it was applied (checksum %s, now %s)", m.Version, sum[:12], m.Sum[:12])
			}
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "insert into "+tbl+" (version, checksum) values ($1, $2)", m.Version, m.Sum)
			return err
		})
		if err != nil {
			return n, fmt.Errorf("migrate: %s: %w", m.Version, err)
		}
		n++
	}
	return n, nil
}
