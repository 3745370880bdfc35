package realtime

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	pgerr "github.com/madbase/madbase/internal/pg"
	"github.com/madbase/madbase/internal/tenant"
	"github.com/madbase/madbase/internal/token"
)

// authorizeRead runs Supabase's read check for a private channel: probe
// rows for the topic are inserted, then read back under the caller's role
// and claims, so the project's RLS policies on realtime.messages decide;
// everything is rolled back.
//
// The probes must exist before the role switch, yet every client access
// goes through tenant.Tx: the transaction therefore starts as service_role
// (which bypasses RLS) to insert them, then switches role and claims
// transaction-locally, which the connecting user may do because bootstrap
// grants it the three API roles.
func (s *Service) authorizeRead(ctx context.Context, a *tenant.Auth, sub string, presence bool) (broadcast, pres bool, err error) {
	if a.IsService() {
		return true, true, nil
	}
	role := a.Role()
	if !tenant.AllowedRoles[role] {
		return false, false, nil
	}
	svc := &tenant.Auth{Project: a.Project, Claims: token.Claims{"role": tenant.RoleService}}
	exts := []string{"broadcast"}
	if presence {
		exts = append(exts, "presence")
	}
	err = s.tenants.Tx(ctx, svc, tenant.TxOptions{Rollback: true}, func(ctx context.Context, q tenant.Querier) error {
		rows, err := q.Query(ctx, `insert into realtime.messages (topic, extension) select $1, e from unnest($2::text[]) e returning id`, sub, exts)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		c := a.Claims
		if _, err := q.Exec(ctx, `select set_config('role', $1, true), set_config('request.jwt.claims', $2, true),
			set_config('request.jwt.claim.sub', $3, true), set_config('request.jwt.claim.role', $1, true),
			set_config('realtime.topic', $4, true), set_config('request.headers', '{}', true)`,
			role, c.JSON(), c.Sub(), sub); err != nil {
			return err
		}
		rows, err = q.Query(ctx, `select distinct extension from realtime.messages where id = any($1::uuid[])`, ids)
		if err != nil {
			return err
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, e := range got {
			switch e {
			case "broadcast":
				broadcast = true
			case "presence":
				pres = true
			}
		}
		return nil
	})
	if pgerr.Code(err) == "42501" {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("realtime: read check: %w", err)
	}
	return broadcast, pres, nil
}

// authorizeWrite runs the write check: may the caller insert a message
// row for the topic and extension? Always rolled back.
func (s *Service) authorizeWrite(ctx context.Context, a *tenant.Auth, sub, extension string) (bool, error) {
	if a.IsService() {
		return true, nil
	}
	if !tenant.AllowedRoles[a.Role()] {
		return false, nil
	}
	err := s.tenants.Tx(ctx, a, tenant.TxOptions{Rollback: true, Settings: map[string]string{"realtime.topic": sub}},
		func(ctx context.Context, q tenant.Querier) error {
			_, err := q.Exec(ctx, `insert into realtime.messages (topic, extension) values ($1, $2)`, sub, extension)
			return err
		})
	if pgerr.Code(err) == "42501" {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("realtime: write check: %w", err)
	}
	return true, nil
}
