package tenant

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Role settings. SET ROLE does not apply a role's defaults (ALTER ROLE …
// SET), so, as PostgREST does, every transaction applies the settings of
// the role it switches to — Supabase's statement_timeout of 3s for anon and
// 8s for authenticated takes effect this way. They are read per project
// and refreshed in the background once older than roleSettingsTTL.

const roleSettingsTTL = time.Minute

type roleSettings struct {
	at     time.Time
	byRole map[string][]any // role -> name, value, name, value, …
}

// roleSettingsSQL reads the defaults of the API roles for this database
// (database-wide ones first, so that database-specific ones win), keeping
// what a transaction may set: user-context settings and custom (dotted)
// ones.
const roleSettingsSQL = `select r.rolname, split_part(c, '=', 1), substr(c, strpos(c, '=') + 1)
from pg_db_role_setting s
join pg_roles r on r.oid = s.setrole
cross join lateral unnest(s.setconfig) c
left join pg_settings ps on ps.name = split_part(c, '=', 1)
where r.rolname = any($1)
  and s.setdatabase in (0, (select oid from pg_database where datname = current_database()))
  and (ps.context = 'user' or (ps.name is null and split_part(c, '=', 1) like '%.%'))
order by s.setdatabase`

func loadRoleSettings(ctx context.Context, pool *pgxpool.Pool) (*roleSettings, error) {
	roles := make([]string, 0, len(AllowedRoles))
	for r := range AllowedRoles {
		roles = append(roles, r)
	}
	rows, err := pool.Query(ctx, roleSettingsSQL, roles)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	rs := &roleSettings{at: time.Now(), byRole: map[string][]any{}}
	for rows.Next() {
		var role, name, value string
		if err := rows.Scan(&role, &name, &value); err != nil {
			return nil, err
		}
		rs.byRole[role] = append(rs.byRole[role], name, value)
	}
	return rs, rows.Err()
}

// settingsFor returns the role's settings as set_config pairs. The first
// call for a pool loads them; later ones refresh them in the background
// when stale. A failed load counts as none, retried after a few seconds.
func (m *Manager) settingsFor(ctx context.Context, e *poolEntry, role string) []any {
	rs := e.roles.Load()
	if rs == nil {
		rs = m.loadSettings(ctx, e)
	} else if time.Since(rs.at) > roleSettingsTTL && e.loading.CompareAndSwap(false, true) {
		go func() {
			defer e.loading.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			m.loadSettings(ctx, e)
		}()
	}
	return rs.byRole[role]
}

func (m *Manager) loadSettings(ctx context.Context, e *poolEntry) *roleSettings {
	rs, err := loadRoleSettings(ctx, e.pool)
	if err != nil {
		m.log.Warn("tenant: reading role settings", "err", err)
		// Try again in a few seconds rather than on every request.
		rs = &roleSettings{at: time.Now().Add(5*time.Second - roleSettingsTTL), byRole: map[string][]any{}}
	}
	e.roles.Store(rs)
	return rs
}

// rolesCache is the part of a pool entry holding its role settings.
type rolesCache struct {
	roles   atomic.Pointer[roleSettings]
	loading atomic.Bool
}
