package control

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// SecretInfo describes a stored project secret without its value.
type SecretInfo struct {
	Name      string    `json:"name"`
	Digest    string    `json:"digest"`
	UpdatedAt time.Time `json:"updated_at"`
}

func secretAAD(ref, name string) string { return "secret:" + ref + ":" + name }

// SetSecrets upserts name/value pairs for a project.
func (s *Store) SetSecrets(ctx context.Context, ref string, kv map[string]string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	for name, value := range kv {
		d := sha256.Sum256([]byte(value))
		if _, err := tx.Exec(ctx, `insert into control.secrets (project_ref, name, value_enc, digest) values ($1, $2, $3, $4)
			on conflict (project_ref, name) do update set value_enc = excluded.value_enc, digest = excluded.digest, updated_at = now()`,
			ref, name, s.box.Seal(value, secretAAD(ref, name)), hex.EncodeToString(d[:])); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// ListSecrets returns names and digests, never values.
func (s *Store) ListSecrets(ctx context.Context, ref string) ([]SecretInfo, error) {
	rows, err := s.pool.Query(ctx, "select name, digest, updated_at from control.secrets where project_ref = $1 order by name", ref)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []SecretInfo{}
	for rows.Next() {
		var si SecretInfo
		if err := rows.Scan(&si.Name, &si.Digest, &si.UpdatedAt); err != nil {
			return nil, err
		}
		out = append(out, si)
	}
	return out, rows.Err()
}

// Secrets returns a project's decrypted secrets, for injecting into functions.
func (s *Store) Secrets(ctx context.Context, ref string) (map[string]string, error) {
	rows, err := s.pool.Query(ctx, "select name, value_enc from control.secrets where project_ref = $1", ref)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, enc string
		if err := rows.Scan(&name, &enc); err != nil {
			return nil, err
		}
		v, err := s.box.Open(enc, secretAAD(ref, name))
		if err != nil {
			return nil, err
		}
		out[name] = v
	}
	return out, rows.Err()
}

// DeleteSecrets removes the named secrets.
func (s *Store) DeleteSecrets(ctx context.Context, ref string, names []string) error {
	_, err := s.pool.Exec(ctx, "delete from control.secrets where project_ref = $1 and name = any($2)", ref, names)
	return err
}
