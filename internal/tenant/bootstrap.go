package tenant

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/madbase/madbase/internal/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// BootstrapSchema is the bookkeeping schema of tenant migrations.
const BootstrapSchema = "madbase"

// BootstrapError says why a tenant database could not be prepared; Unreachable
// separates "cannot connect" (502) from "connected but refused" (400).
type BootstrapError struct {
	Unreachable bool
	Err         error
}

func (e *BootstrapError) Error() string { return e.Err.Error() }
func (e *BootstrapError) Unwrap() error { return e.Err }

// Migrations returns the tenant bootstrap migrations.
func Migrations() ([]migrate.Migration, error) { return migrate.Load(migrations, "migrations") }

// Bootstrap brings the database at url to the current tenant schema. It is
// idempotent; each migration is one transaction, so a failure leaves the
// database as it was before that file.
func Bootstrap(ctx context.Context, url string) (int, error) {
	ms, err := Migrations()
	if err != nil {
		return 0, err
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, &BootstrapError{Unreachable: isConnErr(err), Err: fmt.Errorf("cannot connect to the project database: %w", err)}
	}
	defer conn.Close(context.WithoutCancel(ctx))
	n, err := migrate.Up(ctx, conn, BootstrapSchema, "migrations", ms)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42501" {
			return n, &BootstrapError{Err: fmt.Errorf("the database user lacks a privilege bootstrap needs (CREATEROLE and, for service_role's BYPASSRLS, superuser or a pre-created role): %s", pe.Message)}
		}
		return n, &BootstrapError{Err: fmt.Errorf("bootstrap failed: %w", err)}
	}
	return n, nil
}

// isConnErr tells "nothing answered" (502) from "the server refused us" (400).
func isConnErr(err error) bool {
	var pe *pgconn.PgError
	return !errors.As(err, &pe)
}

func connect(ctx context.Context, url string) (*pgx.Conn, error) { return pgx.Connect(ctx, url) }
